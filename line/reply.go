package line

import (
	"bytes"
	"context"
	"errors"
	json "github.com/go-json-experiment/json/v1"
	"net/http"
	"strings"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/providerhttp"
)

// ReplyTokenValidity is how long after its event convo still tries a reply
// token. LINE: "Reply tokens can only be used once … must be used within
// one minute of receiving the webhook; use after that is not guaranteed"
// (https://developers.line.biz/en/reference/messaging-api/#send-reply-message).
// A few seconds are kept back for the time the request takes.
const ReplyTokenValidity = time.Minute - 5*time.Second

// AudioDurationUnknown is the duration (ms) sent for an audio whose length
// convo does not know: LINE requires one ("duration: length of audio file
// (milliseconds)", https://developers.line.biz/en/reference/messaging-api/#audio-message)
// and only shows it on the bubble until the audio is played.
const AudioDurationUnknown = 60000

type lineMessage struct {
	Type               string `json:"type"`
	Text               string `json:"text,omitempty"`
	OriginalContentURL string `json:"originalContentUrl,omitempty"`
	PreviewImageURL    string `json:"previewImageUrl,omitempty"`
	Duration           int64  `json:"duration,omitempty"`
}

// messagesOf renders a message as LINE message objects: its text, then
// each medium: images, videos and audio as themselves, other files (LINE
// takes none from bots) as a link.
func (c *Client) messagesOf(m *convo.Message) ([]lineMessage, error) {
	var msgs []lineMessage
	if m.Text != "" {
		msgs = append(msgs, lineMessage{Type: "text", Text: m.Text})
	}
	for _, md := range m.Medias {
		switch {
		case md.Type == convo.MediaImage:
			msgs = append(msgs, lineMessage{Type: "image", OriginalContentURL: md.Filename, PreviewImageURL: md.Filename})
		case md.Type == convo.MediaVideo && c.VideoPreviewURL != "":
			msgs = append(msgs, lineMessage{Type: "video", OriginalContentURL: md.Filename, PreviewImageURL: c.VideoPreviewURL})
		case md.Type == convo.MediaAudio:
			msgs = append(msgs, lineMessage{Type: "audio", OriginalContentURL: md.Filename, Duration: AudioDurationUnknown})
		default:
			msgs = append(msgs, lineMessage{Type: "text", Text: md.Filename})
		}
	}
	if len(msgs) > 5 {
		return nil, &convo.ChannelError{Detail: "LINE sends at most 5 messages at once"}
	}
	return msgs, nil
}

// Send answers with the conversation's reply token while it is fresh, and
// pushes otherwise, or when LINE no longer takes the token. A reply is
// free; a push counts against the monthly quota. The message id is the
// push's retry key, so LINE drops a repeated push of the same message.
func (c *Client) Send(ctx context.Context, d convo.SendRequest) (convo.SendResult, error) {
	msgs, err := c.messagesOf(d.Message)
	if err != nil {
		return convo.SendResult{}, err
	}
	if d.ReplyToken != nil {
		token, err := d.ReplyToken(ctx, ReplyTokenValidity)
		if err != nil {
			return convo.SendResult{}, err
		}
		if token != "" {
			res, err := c.reply(ctx, d.Account, token, msgs)
			if !invalidReplyToken(err) {
				return res, err
			}
		}
	}
	return c.push(ctx, d, msgs)
}

type sentAnswer struct {
	SentMessages []struct {
		ID string `json:"id"`
	} `json:"sentMessages"`
}

func (a sentAnswer) result(method string) convo.SendResult {
	// LINE reports nothing after its answer: accepted is all it will say.
	res := convo.SendResult{Status: convo.MessageDone, ProviderStatus: convo.ProviderAccepted, LineSendMethod: method}
	if len(a.SentMessages) > 0 {
		res.ProviderID = a.SentMessages[0].ID
	}
	return res
}

// reply sends with a reply token. The reply API takes no retry key: a
// reply whose answer is lost is not repeated but pushed (the token is spent).
func (c *Client) reply(ctx context.Context, a *convo.Account, token string, msgs []lineMessage) (convo.SendResult, error) {
	var answer sentAnswer
	_, err := c.post(ctx, a, "/v2/bot/message/reply", "", map[string]any{"replyToken": token, "messages": msgs}, &answer)
	if err != nil {
		return convo.SendResult{}, err
	}
	return answer.result(convo.LineReply), nil
}

func (c *Client) push(ctx context.Context, d convo.SendRequest, msgs []lineMessage) (convo.SendResult, error) {
	var answer sentAnswer
	status, err := c.post(ctx, d.Account, "/v2/bot/message/push", d.Message.ID, map[string]any{"to": d.Conversation.DialogID, "messages": msgs}, &answer)
	// 409 means LINE already accepted a push with this retry key.
	if err != nil && status != http.StatusConflict {
		return convo.SendResult{}, err
	}
	return answer.result(convo.LinePush), nil
}

// post sends a JSON body with the channel token; a retry key when set.
func (c *Client) post(ctx context.Context, a *convo.Account, path, retryKey string, body any, answer any) (int, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	req.Header.Set("Content-Type", "application/json")
	if retryKey != "" {
		req.Header.Set("X-Line-Retry-Key", retryKey)
	}
	status, err := providerhttp.Do(c.HTTP, req, answer)
	return status, monthlyLimit(err)
}

// monthlyLimit makes LINE's 429 for a used-up monthly quota a refusal:
// unlike the rate limit's 429, no retry this month will help. Its code and
// message stay LINE's ("429", "You have reached your monthly limit.").
func monthlyLimit(err error) error {
	var ce *convo.ChannelError
	if errors.As(err, &ce) && ce.HTTPStatus == http.StatusTooManyRequests && strings.Contains(strings.ToLower(ce.Message), "monthly limit") {
		ce.Temporary = false
	}
	return err
}

// invalidReplyToken reports whether LINE refused a reply for its token
// (used, expired or unknown): 400 "Invalid reply token".
func invalidReplyToken(err error) bool {
	var ce *convo.ChannelError
	return errors.As(err, &ce) && ce.HTTPStatus == http.StatusBadRequest && strings.Contains(strings.ToLower(ce.Message), "invalid reply token")
}
