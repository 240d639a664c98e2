// Package providerhttp holds the request plumbing shared by the provider
// clients: one place that turns HTTP answers into convo.ChannelError.
package providerhttp

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/convohq/convo"
)

// Do sends req and decodes a 2xx JSON answer into v. Transport errors, 5xx
// and 429 become temporary *convo.ChannelError, other answers refusals.
func Do(client *http.Client, req *http.Request, v any) (int, error) {
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, &convo.ChannelError{Temporary: true, Detail: err.Error()}
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 != 2 {
		return res.StatusCode, &convo.ChannelError{HTTPStatus: res.StatusCode, Detail: strings.TrimSpace(string(body)),
			Temporary: res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests}
	}
	if len(body) > 0 && v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return res.StatusCode, &convo.ChannelError{HTTPStatus: res.StatusCode, Detail: "unreadable answer: " + err.Error()}
		}
	}
	return res.StatusCode, nil
}
