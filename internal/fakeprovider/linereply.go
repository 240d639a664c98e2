package fakeprovider

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// LINE's reply API, message quota and the message objects both send.

// LineReplyTokenLife is how long the fake takes a reply token: LINE
// documents one minute.
const LineReplyTokenLife = time.Minute

// LineReply is a reply the fake accepted.
type LineReply struct {
	Token      string
	ReplyToken string
	// To is the chat the reply token came from.
	To       string
	Messages []LinePushMessage
}

type replyToken struct {
	to     string
	issued time.Time
	used   bool
}

// lineQuota is the fake's monthly quota state, per channel token.
type lineQuota struct {
	replyTokens map[string]*replyToken
	replies     []LineReply
	// tried counts well-formed reply requests per chat, refused ones too.
	tried       map[string]int
	limits      map[string]int64 // channel token -> monthly limit
	usage       map[string]int64 // messages pushed this month
	rateLimited map[string]int   // pushes still to answer with the rate limit
}

// ReplyToken issues a reply token for an event from chat to (a userId,
// groupId or roomId), as LINE puts in a webhook event.
func (f *Line) ReplyToken(to string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.replyTokens == nil {
		f.replyTokens = map[string]*replyToken{}
	}
	tok := randomHex(16)
	f.replyTokens[tok] = &replyToken{to: to, issued: time.Now()}
	return tok
}

// AgeReplyToken makes a token d older, as if its event came d earlier.
func (f *Line) AgeReplyToken(token string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rt := f.replyTokens[token]; rt != nil {
		rt.issued = rt.issued.Add(-d)
	}
}

// SetQuota gives a channel a monthly limit of messages (LINE's "limited").
func (f *Line) SetQuota(token string, limit int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.limits == nil {
		f.limits = map[string]int64{}
	}
	f.limits[token] = limit
}

// RateLimit answers the channel's next n pushes with LINE's rate-limit 429.
func (f *Line) RateLimit(token string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rateLimited == nil {
		f.rateLimited = map[string]int{}
	}
	f.rateLimited[token] = n
}

// ReplyAttempts is how many well-formed replies were asked for with tokens
// of chat to, whether LINE took the token or not.
func (f *Line) ReplyAttempts(to string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tried[to]
}

// Replies are the replies the fake accepted.
func (f *Line) Replies() []LineReply {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]LineReply(nil), f.replies...)
}

// checkLineMessages checks message objects as LINE does; "" when valid.
func checkLineMessages(msgs []LinePushMessage) string {
	if len(msgs) < 1 || len(msgs) > 5 {
		return fmt.Sprintf("%d messages, want 1 to 5", len(msgs))
	}
	for i, m := range msgs {
		switch m.Type {
		case "text":
			if m.Text == "" || len([]rune(m.Text)) > 5000 {
				return fmt.Sprintf("messages[%d].text must be 1 to 5000 characters", i)
			}
		case "image", "video":
			// Both need the content and a preview image, over HTTPS.
			if !isHTTPSURL(m.OriginalContentURL) || !isHTTPSURL(m.PreviewImageURL) {
				return fmt.Sprintf("messages[%d]: %s needs HTTPS originalContentUrl and previewImageUrl", i, m.Type)
			}
		case "audio":
			if !isHTTPSURL(m.OriginalContentURL) || m.Duration <= 0 {
				return fmt.Sprintf("messages[%d]: audio needs an HTTPS originalContentUrl and a duration in milliseconds", i)
			}
		default:
			return fmt.Sprintf("messages[%d].type %q is not supported here", i, m.Type)
		}
		if m.Type != "audio" && m.Duration != 0 {
			return fmt.Sprintf("messages[%d]: duration is a property of audio messages only", i)
		}
	}
	return ""
}

// overQuota answers a push LINE refuses for the quota: the rate limit
// (retry later) or the month's limit (no use retrying); false otherwise,
// with the messages counted as used.
func (f *Line) overQuota(w http.ResponseWriter, token string, n int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rateLimited[token] > 0 {
		f.rateLimited[token]--
		writeJSON(w, http.StatusTooManyRequests, `{"message":"The API rate limit has been exceeded. Try again later."}`)
		return true
	}
	if limit, ok := f.limits[token]; ok && f.usage[token]+int64(n) > limit {
		writeJSON(w, http.StatusTooManyRequests, `{"message":"You have reached your monthly limit."}`)
		return true
	}
	if f.usage == nil {
		f.usage = map[string]int64{}
	}
	f.usage[token] += int64(n)
	return false
}

func (f *Line) reply(w http.ResponseWriter, r *http.Request) {
	token, bad, ok := f.sendRequest(w, r, "reply")
	if !ok {
		return
	}
	// The retry key is for push, multicast, narrowcast and broadcast only.
	if k := r.Header.Get("X-Line-Retry-Key"); k != "" {
		bad("X-Line-Retry-Key %q on a reply", k)
		return
	}
	var body struct {
		ReplyToken           string            `json:"replyToken"`
		Messages             []LinePushMessage `json:"messages"`
		NotificationDisabled bool              `json:"notificationDisabled"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		bad("body: %v", err)
		return
	}
	if strings.TrimSpace(body.ReplyToken) == "" {
		bad("replyToken is required")
		return
	}
	if msg := checkLineMessages(body.Messages); msg != "" {
		bad("%s", msg)
		return
	}
	f.mu.Lock()
	rt := f.replyTokens[body.ReplyToken]
	if rt != nil {
		if f.tried == nil {
			f.tried = map[string]int{}
		}
		f.tried[rt.to]++
	}
	valid := rt != nil && !rt.used && time.Since(rt.issued) < LineReplyTokenLife
	if valid {
		rt.used = true
	}
	f.mu.Unlock()
	if !valid {
		// Not convo's mistake: a token may expire or be unknown; LINE says so.
		writeJSON(w, http.StatusBadRequest, `{"message":"Invalid reply token"}`)
		return
	}
	switch f.beginSend(r, token) {
	case Refuse:
		writeJSON(w, http.StatusBadRequest, `{"message":"Failed to send messages"}`)
		return
	case Broken:
		writeJSON(w, http.StatusInternalServerError, `{"message":"An error occurred in the server. Please try again later."}`)
		return
	}
	first := 540000000000000000 + ids.Add(int64(len(body.Messages)))
	f.mu.Lock()
	f.replies = append(f.replies, LineReply{Token: token, ReplyToken: body.ReplyToken, To: rt.to, Messages: body.Messages})
	f.mu.Unlock()
	sent := make([]string, len(body.Messages))
	for i := range sent {
		sent[i] = fmt.Sprintf(`{"id":"%d","quoteToken":"%s"}`, first+int64(i), randomHex(8))
	}
	w.Header().Set("X-Line-Request-Id", randomHex(16))
	writeJSON(w, http.StatusOK, `{"sentMessages":[`+strings.Join(sent, ",")+`]}`)
}

// quota answers GET /v2/bot/message/quota: {"type":"limited","value":N}
// or {"type":"none"}.
func (f *Line) quota(w http.ResponseWriter, r *http.Request) {
	token, ok := f.authorized(w, r)
	if !ok {
		return
	}
	f.mu.Lock()
	limit, limited := f.limits[token]
	f.mu.Unlock()
	if !limited {
		writeJSON(w, http.StatusOK, `{"type":"none"}`)
		return
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"type":"limited","value":%d}`, limit))
}

// consumption answers GET /v2/bot/message/quota/consumption: the messages
// pushed this month (replies are free and not counted).
func (f *Line) consumption(w http.ResponseWriter, r *http.Request) {
	token, ok := f.authorized(w, r)
	if !ok {
		return
	}
	f.mu.Lock()
	used := f.usage[token]
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"totalUsage":%d}`, used))
}
