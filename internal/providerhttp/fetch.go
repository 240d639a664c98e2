package providerhttp

import (
	"io"
	"net/http"
	"strings"

	"github.com/convohq/convo"
)

// Fetch sends req and returns a 2xx answer's body to stream, with its
// content type and announced size; failures are *convo.ChannelError as
// for Do. The caller closes the body.
func Fetch(client *http.Client, req *http.Request) (convo.FetchedMedia, error) {
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return convo.FetchedMedia{}, &convo.ChannelError{Temporary: true, Detail: err.Error()}
	}
	if res.StatusCode/100 != 2 {
		defer res.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		return convo.FetchedMedia{}, &convo.ChannelError{HTTPStatus: res.StatusCode, Detail: strings.TrimSpace(string(body)),
			Temporary: res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests}
	}
	return convo.FetchedMedia{Body: res.Body, ContentType: res.Header.Get("Content-Type"), Size: res.ContentLength}, nil
}

// HasPrefix reports whether u lies under base (a scheme and host, maybe a
// path), so that credentials go only to the provider's own host.
func HasPrefix(u, base string) bool {
	base = strings.TrimRight(base, "/")
	return base != "" && strings.HasPrefix(u, base+"/")
}
