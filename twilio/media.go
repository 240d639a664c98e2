package twilio

import (
	"context"
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/providerhttp"
)

// FetchesMedia reports whether u is a MediaUrl on the Messages API's host.
func (c *Client) FetchesMedia(u string) bool { return providerhttp.HasPrefix(u, c.BaseURL) }

// FetchMedia downloads a MediaUrl with the account's SID and auth token,
// which Twilio requires when the account enforces HTTP auth on media (and
// ignores otherwise). Twilio answers with a redirect to its CDN; Go's
// client drops the credentials on the way to another host.
func (c *Client) FetchMedia(ctx context.Context, a *convo.Account, u string) (convo.FetchedMedia, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return convo.FetchedMedia{}, &convo.ChannelError{Detail: err.Error()}
	}
	req.SetBasicAuth(a.ProviderData.AccountSID, a.Token)
	return providerhttp.Fetch(c.HTTP, req)
}

var _ convo.MediaFetcher = (*Client)(nil)
