package whatsapp

import (
	"context"
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/providerhttp"
)

// FetchesMedia reports whether u is a media id's URL on the Graph API, as
// Parse writes them.
func (c *Client) FetchesMedia(u string) bool { return providerhttp.HasPrefix(u, c.BaseURL) }

// FetchMedia asks the Graph API for the medium's download URL (GET
// /{media-id}), then downloads it; both need the account's bearer token.
func (c *Client) FetchMedia(ctx context.Context, a *convo.Account, u string) (convo.FetchedMedia, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return convo.FetchedMedia{}, &convo.ChannelError{Detail: err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	var info struct {
		URL      string `json:"url"`
		MimeType string `json:"mime_type"`
		FileSize int64  `json:"file_size"`
	}
	if _, err := providerhttp.Do(c.HTTP, req, &info); err != nil {
		return convo.FetchedMedia{}, err
	}
	if info.URL == "" {
		return convo.FetchedMedia{}, &convo.ChannelError{Detail: "the media answer has no url"}
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, info.URL, nil)
	if err != nil {
		return convo.FetchedMedia{}, &convo.ChannelError{Detail: err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	m, err := providerhttp.Fetch(c.HTTP, req)
	if err != nil {
		return m, err
	}
	if info.MimeType != "" {
		m.ContentType = info.MimeType
	}
	if m.Size < 0 && info.FileSize > 0 {
		m.Size = info.FileSize
	}
	return m, nil
}

var _ convo.MediaFetcher = (*Client)(nil)
