package whatsapp

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/providerhttp"
)

// maxTemplatePages bounds the pages of templates read in one listing (100
// each): a business has a few dozen, and Meta caps them in the hundreds.
const maxTemplatePages = 10

// ListTemplates reads the APPROVED message templates of the account's
// WhatsApp Business Account, following Meta's pages.
func (c *Client) ListTemplates(ctx context.Context, a *convo.Account) ([]convo.MessageTemplate, error) {
	q := url.Values{"status": {"APPROVED"}, "limit": {"100"}, "fields": {"id,name,language,status,category,components"}}
	next := c.url("/"+url.PathEscape(a.ProviderData.BusinessAccountID)+"/message_templates") + "?" + q.Encode()
	out := []convo.MessageTemplate{}
	for page := 0; next != "" && page < maxTemplatePages; page++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+a.Token)
		var answer struct {
			Data   []convo.MessageTemplate `json:"data"`
			Paging struct {
				Next string `json:"next"`
			} `json:"paging"`
		}
		if _, err := providerhttp.Do(c.HTTP, req, &answer); err != nil {
			return nil, err
		}
		for _, t := range answer.Data {
			// The filter is Meta's; a template that is not approved cannot be sent.
			if t.Status == "APPROVED" {
				if t.Components == nil {
					t.Components = []map[string]any{}
				}
				out = append(out, t)
			}
		}
		// Only Meta's own next page is followed, never another host.
		next = answer.Paging.Next
		if !strings.HasPrefix(next, strings.TrimRight(c.BaseURL, "/")+"/") {
			next = ""
		}
	}
	return out, nil
}

var _ convo.TemplateLister = (*Client)(nil)

// templateBody is the body of a template send, or nil when the message
// is not a template.
func templateBody(m *convo.Message) map[string]any {
	if m.Data == nil || m.Data["type"] != "template" {
		return nil
	}
	return map[string]any{"type": "template", "template": m.Data["template"]}
}
