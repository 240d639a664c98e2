package line

import (
	"cmp"
	"context"
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/providerhttp"
)

// FetchesMedia reports whether u is a message's content on LINE's content
// API; content an external provider hosts is kept as its URL.
func (c *Client) FetchesMedia(u string) bool {
	return providerhttp.HasPrefix(u, cmp.Or(c.DataURL, c.BaseURL))
}

// FetchMedia downloads a message's content with the channel access token.
func (c *Client) FetchMedia(ctx context.Context, a *convo.Account, u string) (convo.FetchedMedia, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return convo.FetchedMedia{}, &convo.ChannelError{Detail: err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	return providerhttp.Fetch(c.HTTP, req)
}

var _ convo.MediaFetcher = (*Client)(nil)
