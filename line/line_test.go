package line_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/line"
)

const (
	user  = "U4af4980629b2f2a6d1c0b7d9a5e4c3b1"
	group = "Ca56f94637cc4347f90a25382909b24b9"
	room  = "Rb1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6"
)

// vector was computed with openssl: the channel secret, a body and its signature.
var vector = struct{ secret, body, signature string }{
	"8c570fa6dd201bb328f1c1eac23a96d8",
	`{"destination":"U0123456789abcdef0123456789abcdef","events":[]}`,
	"j2zwSWvscnRkmVay2eMQI+B6oSOp3bA8F1CD3kPwJNo=",
}

func TestValidSignature(t *testing.T) {
	mac := hmac.New(sha256.New, []byte(vector.secret))
	mac.Write([]byte(vector.body))
	for _, c := range []struct {
		name              string
		secret, body, sig string
		want              bool
	}{
		{"valid", vector.secret, vector.body, vector.signature, true},
		{"wrong secret", vector.secret + "x", vector.body, vector.signature, false},
		{"body changed", vector.secret, strings.Replace(vector.body, "[]", "[ ]", 1), vector.signature, false},
		{"malformed (not base64)", vector.secret, vector.body, "!!" + vector.signature[2:], false},
		{"hex instead of base64", vector.secret, vector.body, hex.EncodeToString(mac.Sum(nil)), false},
		{"truncated", vector.secret, vector.body, vector.signature[:len(vector.signature)-4], false},
		{"missing", vector.secret, vector.body, "", false},
		{"no channel secret configured", "", vector.body, base64.StdEncoding.EncodeToString(hmac.New(sha256.New, nil).Sum(nil)), false},
	} {
		if got := line.ValidSignature(c.secret, []byte(c.body), c.sig); got != c.want {
			t.Errorf("%s: ValidSignature = %t, want %t", c.name, got, c.want)
		}
	}
}

func messageEvent(source, message string) string {
	return `{"type":"message","mode":"active","timestamp":1692251666727,"source":` + source +
		`,"webhookEventId":"01H810YECXQQZ37VAXPF6H9E6T","deliveryContext":{"isRedelivery":false},"replyToken":"38ef843bde154d9b91c21320ffd17a0f","message":` + message + `}`
}

func webhook(events ...string) []byte {
	return []byte(`{"destination":"xxxxxxxxxx","events":[` + strings.Join(events, ",") + `]}`)
}

var userSource = `{"type":"user","userId":"` + user + `"}`

func TestParseMessageTypes(t *testing.T) {
	const data = "https://api-data.line.me"
	body := webhook(
		messageEvent(userSource, `{"id":"444573844083572737","type":"text","quoteToken":"q","text":"Hello, world! (love)"}`),
		messageEvent(userSource, `{"id":"354718705033693859","type":"image","quoteToken":"q","contentProvider":{"type":"line"},"imageSet":{"id":"E005D41A","index":1,"total":2}}`),
		messageEvent(userSource, `{"id":"354718705033693860","type":"image","contentProvider":{"type":"external","originalContentUrl":"https://example.com/original.jpg","previewImageUrl":"https://example.com/preview.jpg"}}`),
		messageEvent(userSource, `{"id":"325708","type":"video","duration":60000,"contentProvider":{"type":"line"}}`),
		messageEvent(userSource, `{"id":"325709","type":"audio","duration":60000,"contentProvider":{"type":"line"}}`),
		messageEvent(userSource, `{"id":"325710","type":"file","fileName":"file.txt","fileSize":2138}`),
		messageEvent(userSource, `{"id":"325711","type":"location","title":"my location","address":"1-3 Kioicho, Chiyoda-ku, Tokyo","latitude":35.67966,"longitude":139.73669}`),
		messageEvent(userSource, `{"id":"325712","type":"sticker","packageId":"1","stickerId":"1","stickerResourceType":"STATIC","keywords":["Happy"]}`),
		messageEvent(userSource, `{"id":"325713","type":"postcard"}`),
	)
	in, err := line.Parse(body, data)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		id, text string
		medias   []convo.InboundMedia
	}
	want := []got{
		{"444573844083572737", "Hello, world! (love)", nil},
		{"354718705033693859", "", []convo.InboundMedia{{Type: "image", URL: data + "/v2/bot/message/354718705033693859/content"}}},
		{"354718705033693860", "", []convo.InboundMedia{{Type: "image", URL: "https://example.com/original.jpg"}}},
		{"325708", "", []convo.InboundMedia{{Type: "video", URL: data + "/v2/bot/message/325708/content"}}},
		{"325709", "", []convo.InboundMedia{{Type: "audio", URL: data + "/v2/bot/message/325709/content"}}},
		{"325710", "file.txt", []convo.InboundMedia{{Type: "file", URL: data + "/v2/bot/message/325710/content"}}},
		{"325711", "my location 1-3 Kioicho, Chiyoda-ku, Tokyo", []convo.InboundMedia{{Type: "location", URL: "geo:35.67966,139.73669"}}},
		{"325712", "", []convo.InboundMedia{{Type: "sticker", URL: "https://stickershop.line-scdn.net/stickershop/v1/sticker/1/android/sticker.png"}}},
		{"325713", "[postcard]", nil},
	}
	if len(in.Messages) != len(want) || len(in.Follows) != 0 || len(in.Statuses) != 0 {
		t.Fatalf("parsed %d messages, %d follows, %d statuses; want %d messages", len(in.Messages), len(in.Follows), len(in.Statuses), len(want))
	}
	for i, w := range want {
		m := in.Messages[i]
		if m.ProviderID != w.id || m.Text != w.text || !reflect.DeepEqual(m.Medias, w.medias) {
			t.Errorf("message %d: %+v, want id %s text %q medias %v", i, m, w.id, w.text, w.medias)
		}
		if m.DialogID != user || m.Peer != (convo.Address{Type: "line", Target: user}) {
			t.Errorf("message %d: dialog %q peer %+v, want the user", i, m.DialogID, m.Peer)
		}
	}
}

func TestParseSources(t *testing.T) {
	body := webhook(
		`{"type":"follow","mode":"active","timestamp":1,"source":`+userSource+`,"webhookEventId":"a","deliveryContext":{"isRedelivery":false},"replyToken":"r","follow":{"isUnblocked":false}}`,
		`{"type":"unfollow","mode":"active","timestamp":2,"source":`+userSource+`,"webhookEventId":"b","deliveryContext":{"isRedelivery":false}}`,
		messageEvent(`{"type":"group","groupId":"`+group+`","userId":"`+user+`"}`, `{"id":"1","type":"text","text":"in a group"}`),
		messageEvent(`{"type":"room","roomId":"`+room+`","userId":"`+user+`"}`, `{"id":"2","type":"text","text":"in a room"}`),
		messageEvent(`{"type":"user"}`, `{"id":"3","type":"text","text":"from nobody"}`),
		messageEvent(userSource, `{"type":"text","text":"no id"}`),
		`{"type":"join","mode":"active","timestamp":3,"source":{"type":"group","groupId":"`+group+`"},"webhookEventId":"c","deliveryContext":{"isRedelivery":false},"replyToken":"r"}`,
	)
	in, err := line.Parse(body, "")
	if err != nil {
		t.Fatal(err)
	}
	// Each keeps its event's reply token, for a free answer.
	wantFollows := []convo.InboundPeer{
		{DialogID: user, Peer: convo.Address{Type: "line", Target: user}, ReplyToken: "r"},
		{DialogID: group, Peer: convo.Address{Type: "line", Target: group}, ReplyToken: "r"},
	}
	if !reflect.DeepEqual(in.Follows, wantFollows) {
		t.Errorf("follows %+v, want %+v", in.Follows, wantFollows)
	}
	if len(in.Messages) != 2 {
		t.Fatalf("%d messages, want the group's and the room's: %+v", len(in.Messages), in.Messages)
	}
	if m := in.Messages[0]; m.DialogID != group || m.Peer.Target != group || m.Text != "in a group" {
		t.Errorf("group message %+v, want dialog %s", m, group)
	}
	if m := in.Messages[1]; m.DialogID != room || m.Peer.Target != room || m.Text != "in a room" {
		t.Errorf("room message %+v, want dialog %s", m, room)
	}
	if _, err := line.Parse([]byte(`{"events":[`), ""); err == nil {
		t.Error("Parse accepted a truncated body")
	}
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func hook(kind string, body []byte, signature string) convo.HookRequest {
	return convo.HookRequest{Kind: kind, Body: body, Header: func(name string) string {
		if http.CanonicalHeaderKey(name) == "X-Line-Signature" {
			return signature
		}
		return ""
	}}
}

func TestReadHook(t *testing.T) {
	c := &line.Client{BaseURL: "http://line.test"}
	a := &convo.Account{Type: convo.AccountLine, Secret: "channel-secret", Token: "channel-token"}
	body := webhook(messageEvent(userSource, `{"id":"9","type":"image","contentProvider":{"type":"line"}}`))
	in, err := c.ReadHook(a, hook(convo.HookMessage, body, sign(a.Secret, body)))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Messages) != 1 || in.Messages[0].Medias[0].URL != "http://line.test/v2/bot/message/9/content" {
		t.Errorf("parsed %+v; without a data host the content URL is on the base URL", in.Messages)
	}
	for name, h := range map[string]convo.HookRequest{
		"no signature":         hook(convo.HookMessage, body, ""),
		"signed with token":    hook(convo.HookMessage, body, sign(a.Token, body)),
		"signature other body": hook(convo.HookMessage, body, sign(a.Secret, webhook())),
	} {
		if _, err := c.ReadHook(a, h); convo.ErrorStatus(err) != convo.EUnauthorized {
			t.Errorf("%s: error %v, want %s", name, err, convo.EUnauthorized)
		}
	}
	bad := []byte(`{"events": 1}`)
	if _, err := c.ReadHook(a, hook(convo.HookMessage, bad, sign(a.Secret, bad))); convo.ErrorStatus(err) != convo.EInvalid {
		t.Errorf("signed unreadable body: error %v, want %s", err, convo.EInvalid)
	}
	if _, err := c.ReadHook(a, hook(convo.HookStatus, body, sign(a.Secret, body))); convo.ErrorStatus(err) != convo.ENotFound {
		t.Errorf("status hook: error %v, want %s", err, convo.ENotFound)
	}
	if _, ok := c.VerifySubscription(a, nil); ok {
		t.Error("LINE has no subscription handshake")
	}
}

func TestSend(t *testing.T) {
	var mu sync.Mutex
	var got []*http.Request
	var bodies []string
	answer := func(int) (int, string) {
		return 200, `{"sentMessages":[{"id":"461230966842064897","quoteToken":"IStG5h1Tz"}]}`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, string(b))
		code, body := answer(len(got))
		mu.Unlock()
		w.WriteHeader(code)
		io.WriteString(w, body)
	}))
	defer srv.Close()
	c := &line.Client{BaseURL: srv.URL + "/"}
	d := convo.SendRequest{
		Account:      &convo.Account{Type: convo.AccountLine, Token: "channel-token"},
		Conversation: &convo.Conversation{DialogID: user},
		Message: &convo.Message{ID: "0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b", Text: "hi",
			Medias: []convo.Media{{Type: "image", Filename: "https://example.com/a.jpg"}, {Type: "file", Filename: "https://example.com/a.pdf"}}},
	}
	res, err := c.Send(context.Background(), d)
	if err != nil || res.Status != convo.MessageDone || res.ProviderID != "461230966842064897" {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	mu.Lock()
	r, sent := got[0], bodies[0]
	mu.Unlock()
	if r.Method != "POST" || r.URL.Path != "/v2/bot/message/push" || r.Header.Get("Authorization") != "Bearer channel-token" ||
		r.Header.Get("X-Line-Retry-Key") != d.Message.ID || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("request %s %s %v", r.Method, r.URL.Path, r.Header)
	}
	var body struct {
		To       string           `json:"to"`
		Messages []map[string]any `json:"messages"`
	}
	if err := json.Unmarshal([]byte(sent), &body); err != nil {
		t.Fatal(err)
	}
	wantMsgs := []map[string]any{
		{"type": "text", "text": "hi"},
		{"type": "image", "originalContentUrl": "https://example.com/a.jpg", "previewImageUrl": "https://example.com/a.jpg"},
		{"type": "text", "text": "https://example.com/a.pdf"},
	}
	if body.To != user || !reflect.DeepEqual(body.Messages, wantMsgs) {
		t.Errorf("body %s", sent)
	}

	for _, c2 := range []struct {
		code      int
		body      string
		wantErr   bool
		temporary bool
	}{
		{409, `{"message":"The retry key is already accepted","sentMessages":[{"id":"1","quoteToken":"q"}]}`, false, false},
		{400, `{"message":"The request body has 1 error(s)"}`, true, false},
		{401, `{"message":"Authentication failed."}`, true, false},
		// The month's quota is used up: no retry this month will help.
		{429, `{"message":"You have reached your monthly limit."}`, true, false},
		{429, `{"message":"The API rate limit has been exceeded. Try again later."}`, true, true},
		{500, `{"message":"An error occurred in the server."}`, true, true},
	} {
		mu.Lock()
		answer = func(int) (int, string) { return c2.code, c2.body }
		mu.Unlock()
		res, err := c.Send(context.Background(), d)
		var ce *convo.ChannelError
		switch {
		case !c2.wantErr && (err != nil || res.Status != convo.MessageDone):
			t.Errorf("answer %d: Send = %+v, %v; want done (LINE already accepted this retry key)", c2.code, res, err)
		case c2.wantErr && (!errors.As(err, &ce) || ce.Temporary != c2.temporary || ce.HTTPStatus != c2.code):
			t.Errorf("answer %d: error %#v, want a ChannelError with temporary %t", c2.code, err, c2.temporary)
		}
	}

	mu.Lock()
	n := len(got)
	mu.Unlock()
	d.Message.Medias = make([]convo.Media, 5)
	if _, err := c.Send(context.Background(), d); err == nil {
		t.Error("Send pushed more than LINE's 5 messages")
	} else if ce := (*convo.ChannelError)(nil); !errors.As(err, &ce) || ce.Temporary {
		t.Errorf("too many messages: error %v, want a refusal", err)
	}
	mu.Lock()
	after := len(got)
	mu.Unlock()
	if after != n {
		t.Error("a push of more than 5 messages reached LINE")
	}

	srv.Close()
	d.Message.Medias = nil
	if _, err := c.Send(context.Background(), d); !isTemporary(err) {
		t.Errorf("LINE unreachable: error %v, want a temporary ChannelError", err)
	}
}

func isTemporary(err error) bool {
	var ce *convo.ChannelError
	return errors.As(err, &ce) && ce.Temporary
}

func TestDisplayName(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer channel-token" {
			w.WriteHeader(401)
			return
		}
		switch r.URL.Path {
		case "/v2/bot/profile/" + user:
			io.WriteString(w, `{"displayName":"LINE taro","userId":"`+user+`","language":"en","pictureUrl":"https://profile.line-scdn.net/ch/v2/p/x","statusMessage":"Hello, LINE!"}`)
		case "/v2/bot/group/" + group + "/summary":
			io.WriteString(w, `{"groupId":"`+group+`","groupName":"Group name","pictureUrl":"https://profile.line-scdn.net/abcdefghijklmn"}`)
		default:
			t.Errorf("unexpected request %s", r.URL.Path)
			w.WriteHeader(404)
		}
	}))
	defer srv.Close()
	c := &line.Client{BaseURL: srv.URL}
	a := &convo.Account{Token: "channel-token"}
	for id, want := range map[string]string{user: "LINE taro", group: "Group name", room: ""} {
		if got, err := c.DisplayName(context.Background(), a, id); err != nil || got != want {
			t.Errorf("DisplayName(%s) = %q, %v; want %q", id, got, err, want)
		}
	}
}

// BenchmarkReadHook is the hot path of every LINE webhook: the signature
// check and the parse of a one-message body.
func BenchmarkReadHook(b *testing.B) {
	c := &line.Client{BaseURL: line.DefaultBaseURL, DataURL: line.DefaultDataURL}
	a := &convo.Account{Type: convo.AccountLine, Secret: "8c570fa6dd201bb328f1c1eac23a96d8"}
	body := webhook(messageEvent(userSource, `{"id":"444573844083572737","type":"text","quoteToken":"q3Plxr4AgKd","text":"Hello, world! I would like to book a table for two tonight."}`))
	h := hook(convo.HookMessage, body, sign(a.Secret, body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if in, err := c.ReadHook(a, h); err != nil || len(in.Messages) != 1 {
			b.Fatal(in, err)
		}
	}
}
