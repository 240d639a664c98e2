package line

import (
	"context"
	"net/http"
	"strings"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/providerhttp"
)

// Quota reads the channel's monthly message quota and what this month's
// pushes used of it: GET /v2/bot/message/quota ({"type", "value"}) and
// GET /v2/bot/message/quota/consumption ({"totalUsage"}).
func (c *Client) Quota(ctx context.Context, a *convo.Account) (*convo.Quota, error) {
	var quota struct {
		Type  string `json:"type"`
		Value *int64 `json:"value"`
	}
	if err := c.get(ctx, a, "/v2/bot/message/quota", &quota); err != nil {
		return nil, err
	}
	var used struct {
		TotalUsage int64 `json:"totalUsage"`
	}
	if err := c.get(ctx, a, "/v2/bot/message/quota/consumption", &used); err != nil {
		return nil, err
	}
	q := &convo.Quota{Type: quota.Type, Value: quota.Value, TotalUsage: used.TotalUsage}
	if q.Type != "limited" {
		q.Type, q.Value = "none", nil
	}
	return q, nil
}

func (c *Client) get(ctx context.Context, a *convo.Account, path string, answer any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.BaseURL, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	_, err = providerhttp.Do(c.HTTP, req, answer)
	return err
}

var _ convo.QuotaReader = (*Client)(nil)
