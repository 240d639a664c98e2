// Package providerhttp holds the request plumbing shared by the provider
// clients: one place that turns HTTP answers into convo.ChannelError.
package providerhttp

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
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
		ce := &convo.ChannelError{HTTPStatus: res.StatusCode, Detail: strings.TrimSpace(string(body)),
			Temporary: res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests}
		ce.Code, ce.Message = errorOf(res.StatusCode, body)
		return res.StatusCode, ce
	}
	if len(body) > 0 && v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return res.StatusCode, &convo.ChannelError{HTTPStatus: res.StatusCode, Detail: "unreadable answer: " + err.Error()}
		}
	}
	return res.StatusCode, nil
}

// errorOf reads a provider's error answer: Meta's {"error": {"code",
// "message", "error_data": {"details"}}}, Twilio's {"code", "message"} and
// LINE's {"message"}, whose code is the HTTP status. Both are "" when the
// body is none of these.
func errorOf(status int, body []byte) (code, message string) {
	var e struct {
		Error *struct {
			Code      json.Number `json:"code"`
			Message   string      `json:"message"`
			ErrorData struct {
				Details string `json:"details"`
			} `json:"error_data"`
		} `json:"error"`
		Code    json.Number `json:"code"`
		Message string      `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	switch {
	case e.Error != nil:
		message = e.Error.Message
		if e.Error.ErrorData.Details != "" {
			message += ": " + e.Error.ErrorData.Details
		}
		return e.Error.Code.String(), message
	case e.Code != "":
		return e.Code.String(), e.Message
	case e.Message != "":
		return strconv.Itoa(status), e.Message
	}
	return "", ""
}
