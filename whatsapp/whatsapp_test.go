package whatsapp_test

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
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/whatsapp"
)

const (
	phoneNumberID = "106540352242922"
	display       = "15550783881"
	waID          = "16505551234"
)

// vector was computed with openssl: the app secret, a body and its header.
var vector = struct{ secret, body, header string }{
	"app-secret-0001",
	`{"object":"whatsapp_business_account","entry":[]}`,
	"sha256=de164c67d2a341e9940d711749e8aa32f8710f66967d78c87f75800e2feaa4aa",
}

func TestVerify(t *testing.T) {
	q := func(mode, token string) url.Values {
		return url.Values{"hub.mode": {mode}, "hub.verify_token": {token}, "hub.challenge": {"1158201444"}}
	}
	if got, ok := whatsapp.Verify("meatyhamhock", q("subscribe", "meatyhamhock")); !ok || got != "1158201444" {
		t.Errorf("Verify = %q, %t; want the challenge", got, ok)
	}
	for name, c := range map[string]struct {
		secret string
		q      url.Values
	}{
		"wrong token":         {"meatyhamhock", q("subscribe", "meatyhamhocks")},
		"missing token":       {"meatyhamhock", q("subscribe", "")},
		"other mode":          {"meatyhamhock", q("unsubscribe", "meatyhamhock")},
		"missing mode":        {"meatyhamhock", q("", "meatyhamhock")},
		"no token configured": {"", q("subscribe", "")},
	} {
		if got, ok := whatsapp.Verify(c.secret, c.q); ok || got != "" {
			t.Errorf("%s: Verify = %q, %t; want refused", name, got, ok)
		}
	}
}

func TestValidSignature(t *testing.T) {
	hexSig := strings.TrimPrefix(vector.header, "sha256=")
	raw, _ := hex.DecodeString(hexSig)
	for _, c := range []struct {
		name                 string
		secret, body, header string
		want                 bool
	}{
		{"valid", vector.secret, vector.body, vector.header, true},
		{"upper-case hex", vector.secret, vector.body, "sha256=" + strings.ToUpper(hexSig), true},
		{"wrong secret", "app-secret-0002", vector.body, vector.header, false},
		{"body changed", vector.secret, vector.body + " ", vector.header, false},
		{"no sha256= prefix", vector.secret, vector.body, hexSig, false},
		{"sha1= prefix", vector.secret, vector.body, "sha1=" + hexSig, false},
		{"malformed hex", vector.secret, vector.body, "sha256=zz" + hexSig[2:], false},
		{"base64 instead of hex", vector.secret, vector.body, "sha256=" + base64.StdEncoding.EncodeToString(raw), false},
		{"truncated", vector.secret, vector.body, vector.header[:len(vector.header)-2], false},
		{"missing", vector.secret, vector.body, "", false},
		{"no app secret configured", "", vector.body, "sha256=" + hex.EncodeToString(hmac.New(sha256.New, nil).Sum(nil)), false},
	} {
		if got := whatsapp.ValidSignature(c.secret, []byte(c.body), c.header); got != c.want {
			t.Errorf("%s: ValidSignature = %t, want %t", c.name, got, c.want)
		}
	}
}

// notification wraps change values into a webhook body for phoneNumberID.
func notification(values ...string) []byte {
	changes := make([]string, len(values))
	for i, v := range values {
		changes[i] = `{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"` + display +
			`","phone_number_id":"` + phoneNumberID + `"},` + v + `}}`
	}
	return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[` + strings.Join(changes, ",") + `]}]}`)
}

func inbound(message string) string {
	return `"contacts":[{"profile":{"name":"Kerry Fisher"},"wa_id":"` + waID + `"}],"messages":[` + message + `]`
}

func TestParseMessages(t *testing.T) {
	const base = "https://graph.facebook.com"
	media := func(id string) string { return base + "/" + whatsapp.DefaultAPIVersion + "/" + id }
	body := notification(
		inbound(`{"from":"`+waID+`","id":"wamid.1","timestamp":"1603059201","type":"text","text":{"body":"Hello this is an answer"}}`),
		inbound(`{"from":"`+waID+`","id":"wamid.2","timestamp":"1603059201","type":"image","image":{"caption":"This is a caption","mime_type":"image/jpeg","sha256":"81d3bd8a","id":"2754859441498128"}}`),
		inbound(`{"from":"`+waID+`","id":"wamid.3","timestamp":"1603059201","type":"document","document":{"filename":"invoice.pdf","mime_type":"application/pdf","sha256":"a1","id":"3754859441498128"}}`),
		inbound(`{"from":"`+waID+`","id":"wamid.4","timestamp":"1603059201","type":"audio","audio":{"mime_type":"audio/ogg; codecs=opus","sha256":"a2","id":"4754859441498128","voice":true}}`),
		inbound(`{"from":"`+waID+`","id":"wamid.5","timestamp":"1603059201","type":"video","video":{"mime_type":"video/mp4","sha256":"a3","id":"5754859441498128"}}`),
		inbound(`{"from":"`+waID+`","id":"wamid.6","timestamp":"1603059201","type":"sticker","sticker":{"mime_type":"image/webp","sha256":"a4","id":"6754859441498128","animated":false}}`),
		inbound(`{"from":"`+waID+`","id":"wamid.7","timestamp":"1603059201","type":"location","location":{"latitude":37.483307,"longitude":122.148981,"name":"Main Street Beach","address":"Main Street Beach, Santa Cruz, CA"}}`),
		inbound(`{"from":"`+waID+`","id":"wamid.8","timestamp":"1603059201","type":"button","button":{"text":"No","payload":"No-Button-Payload"}}`),
	)
	in, err := whatsapp.Parse(body, phoneNumberID, base)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		text   string
		medias []convo.InboundMedia
	}{
		{"Hello this is an answer", nil},
		{"This is a caption", []convo.InboundMedia{{Type: "image", URL: media("2754859441498128")}}},
		{"invoice.pdf", []convo.InboundMedia{{Type: "file", URL: media("3754859441498128")}}},
		{"", []convo.InboundMedia{{Type: "audio", URL: media("4754859441498128")}}},
		{"", []convo.InboundMedia{{Type: "video", URL: media("5754859441498128")}}},
		{"", []convo.InboundMedia{{Type: "sticker", URL: media("6754859441498128")}}},
		{"Main Street Beach Main Street Beach, Santa Cruz, CA", []convo.InboundMedia{{Type: "location", URL: "geo:37.483307,122.148981"}}},
		{"No", nil},
	}
	if len(in.Messages) != len(want) {
		t.Fatalf("%d messages, want %d", len(in.Messages), len(want))
	}
	peer := convo.InboundPeer{DialogID: waID, Peer: convo.Address{Type: "whatsapp", Target: waID, TargetName: "Kerry Fisher"}, SelfTarget: "+" + display}
	for i, w := range want {
		m := in.Messages[i]
		if m.ProviderID != "wamid."+string(rune('1'+i)) || m.Text != w.text || !reflect.DeepEqual(m.Medias, w.medias) || m.InboundPeer != peer {
			t.Errorf("message %d: %+v, want text %q medias %v from %+v", i, m, w.text, w.medias, peer)
		}
	}
}

func TestParseStatuses(t *testing.T) {
	status := func(id, s, extra string) string {
		return `{"id":"` + id + `","status":"` + s + `","timestamp":"1603086313","recipient_id":"` + waID + `"` + extra + `}`
	}
	const ours = "0d1e7f3c-5b8a-4f4e-9a51-1a2b3c4d5e6f"
	body := notification(`"statuses":[` + strings.Join([]string{
		status("wamid.s", "sent", `,"biz_opaque_callback_data":"`+ours+`","conversation":{"id":"c1","origin":{"type":"service"}},"pricing":{"billable":true,"pricing_model":"CBP","category":"service"}`),
		status("wamid.d", "delivered", ""),
		status("wamid.r", "read", ""),
		status("wamid.f", "failed", `,"errors":[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message","error_data":{"details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}]`),
		status("wamid.x", "deleted", ""),
	}, ",") + `]`)
	in, err := whatsapp.Parse(body, phoneNumberID, "")
	if err != nil {
		t.Fatal(err)
	}
	type want struct{ status, provider string }
	wants := map[string]want{"wamid.s": {convo.MessageDone, convo.ProviderSent}, "wamid.d": {convo.MessageDone, convo.ProviderDelivered},
		"wamid.r": {convo.MessageDone, convo.ProviderRead}, "wamid.f": {convo.MessageFailed, convo.ProviderFailed}}
	if len(in.Statuses) != len(wants) || len(in.Messages) != 0 {
		t.Fatalf("statuses %+v, want %v (an unknown status is skipped)", in.Statuses, wants)
	}
	for _, s := range in.Statuses {
		if w := wants[s.ProviderID]; w.status != s.Status || w.provider != s.ProviderStatus || !s.At.Equal(time.Unix(1603086313, 0)) {
			t.Errorf("status %+v, want %v at Meta's timestamp", s, w)
		}
		if (s.ProviderID == "wamid.s") != (s.MessageID == ours) {
			t.Errorf("status %+v: the message id is biz_opaque_callback_data's", s)
		}
		if s.Status == convo.MessageFailed && (s.Error == nil || s.Error.Code != "131047" || !strings.Contains(s.Error.Message, "more than 24 hours")) {
			t.Errorf("failed status error %+v, want Meta's code and details", s.Error)
		}
	}
}

func TestParseOtherPhoneNumber(t *testing.T) {
	body := notification(inbound(`{"from":"` + waID + `","id":"wamid.1","timestamp":"1","type":"text","text":{"body":"hi"}}`))
	if _, err := whatsapp.Parse(body, "999"+phoneNumberID, ""); !errors.Is(err, whatsapp.ErrWrongPhoneNumber) {
		t.Errorf("error %v, want ErrWrongPhoneNumber", err)
	}
	c := &whatsapp.Client{}
	a := &convo.Account{Type: convo.AccountWhatsApp, ProviderData: convo.ProviderData{PhoneNumberID: "999" + phoneNumberID, AppSecret: "s"}}
	if _, err := c.ReadHook(a, hook(body, sign("s", body))); convo.ErrorStatus(err) != convo.EForbidden {
		t.Errorf("ReadHook for another number: %v, want %s", err, convo.EForbidden)
	}
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func hook(body []byte, signature string) convo.HookRequest {
	return convo.HookRequest{Kind: convo.HookMessage, Body: body, Header: func(name string) string {
		if http.CanonicalHeaderKey(name) == "X-Hub-Signature-256" {
			return signature
		}
		return ""
	}}
}

func TestReadHook(t *testing.T) {
	c := &whatsapp.Client{BaseURL: whatsapp.DefaultBaseURL}
	a := &convo.Account{Type: convo.AccountWhatsApp, Secret: "verify-token", Token: "access-token",
		ProviderData: convo.ProviderData{PhoneNumberID: phoneNumberID, AppSecret: "app-secret"}}
	body := notification(inbound(`{"from":"` + waID + `","id":"wamid.1","timestamp":"1","type":"text","text":{"body":"hi"}}`))
	if in, err := c.ReadHook(a, hook(body, sign("app-secret", body))); err != nil || len(in.Messages) != 1 {
		t.Fatalf("ReadHook = %+v, %v", in, err)
	}
	for name, sig := range map[string]string{
		"missing":                "",
		"signed with the token":  sign("access-token", body),
		"signed with the verify": sign("verify-token", body),
	} {
		if _, err := c.ReadHook(a, hook(body, sig)); convo.ErrorStatus(err) != convo.EUnauthorized {
			t.Errorf("%s: error %v, want %s", name, err, convo.EUnauthorized)
		}
	}
	bad := []byte(`{"entry":{}}`)
	if _, err := c.ReadHook(a, hook(bad, sign("app-secret", bad))); convo.ErrorStatus(err) != convo.EInvalid {
		t.Errorf("signed unreadable body: %v, want %s", err, convo.EInvalid)
	}
	status := hook(body, sign("app-secret", body))
	status.Kind = convo.HookStatus
	if _, err := c.ReadHook(a, status); convo.ErrorStatus(err) != convo.ENotFound {
		t.Errorf("status hook: %v, want %s", err, convo.ENotFound)
	}
	if got, ok := c.VerifySubscription(a, url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"verify-token"}, "hub.challenge": {"7"}}); !ok || got != "7" {
		t.Errorf("VerifySubscription = %q, %t", got, ok)
	}
}

func TestSend(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	code := 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/"+whatsapp.DefaultAPIVersion+"/"+phoneNumberID+"/messages" || r.Header.Get("Authorization") != "Bearer access-token" ||
			!strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("request %s %s %v", r.Method, r.URL.Path, r.Header)
		}
		var b map[string]any
		json.NewDecoder(r.Body).Decode(&b)
		mu.Lock()
		bodies = append(bodies, b)
		n, c := len(bodies), code
		mu.Unlock()
		w.WriteHeader(c)
		if c == 200 {
			io.WriteString(w, `{"messaging_product":"whatsapp","contacts":[{"input":"`+waID+`","wa_id":"`+waID+`"}],"messages":[{"id":"wamid.out`+string(rune('0'+n))+`"}]}`)
		} else {
			io.WriteString(w, `{"error":{"message":"(#131030) Recipient phone number not in allowed list","type":"OAuthException","code":131030,"fbtrace_id":"A"}}`)
		}
	}))
	defer srv.Close()
	c := &whatsapp.Client{BaseURL: srv.URL}
	d := convo.SendRequest{
		Account:      &convo.Account{Token: "access-token", ProviderData: convo.ProviderData{PhoneNumberID: phoneNumberID}},
		Conversation: &convo.Conversation{DialogID: waID},
		Message:      &convo.Message{ID: "0d1e7f3c-5b8a-4f4e-9a51-1a2b3c4d5e6f", Text: "hello", Medias: []convo.Media{{Type: "image", Filename: "https://example.com/a.jpg"}, {Type: "file", Filename: "https://example.com/a.pdf"}}},
	}
	res, err := c.Send(context.Background(), d)
	if err != nil || res.Status != convo.MessageDone || res.ProviderStatus != convo.ProviderAccepted || res.ProviderID != "wamid.out1" {
		t.Fatalf("Send = %+v, %v; want done (accepted) with the first wamid", res, err)
	}
	mu.Lock()
	got := bodies
	mu.Unlock()
	want := []map[string]any{
		{"messaging_product": "whatsapp", "recipient_type": "individual", "to": waID, "biz_opaque_callback_data": "0d1e7f3c-5b8a-4f4e-9a51-1a2b3c4d5e6f", "type": "text", "text": map[string]any{"body": "hello"}},
		{"messaging_product": "whatsapp", "recipient_type": "individual", "to": waID, "biz_opaque_callback_data": "0d1e7f3c-5b8a-4f4e-9a51-1a2b3c4d5e6f", "type": "image", "image": map[string]any{"link": "https://example.com/a.jpg"}},
		{"messaging_product": "whatsapp", "recipient_type": "individual", "to": waID, "biz_opaque_callback_data": "0d1e7f3c-5b8a-4f4e-9a51-1a2b3c4d5e6f", "type": "document", "document": map[string]any{"link": "https://example.com/a.pdf"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bodies %v\nwant   %v", got, want)
	}
	mu.Lock()
	code = 400
	mu.Unlock()
	var ce *convo.ChannelError
	if _, err := c.Send(context.Background(), d); !errors.As(err, &ce) || ce.Temporary || ce.HTTPStatus != 400 ||
		ce.Code != "131030" || ce.Message != "(#131030) Recipient phone number not in allowed list" {
		t.Errorf("refusal: %#v, want a permanent ChannelError with Meta's code and message", err)
	}
	mu.Lock()
	code = 503
	mu.Unlock()
	if _, err := c.Send(context.Background(), d); !errors.As(err, &ce) || !ce.Temporary {
		t.Errorf("outage: %#v, want a temporary ChannelError", err)
	}
}

// BenchmarkReadHook is the hot path of every WhatsApp webhook: the
// signature check and the parse of a one-message notification.
func BenchmarkReadHook(b *testing.B) {
	c := &whatsapp.Client{BaseURL: whatsapp.DefaultBaseURL}
	a := &convo.Account{Type: convo.AccountWhatsApp, ProviderData: convo.ProviderData{PhoneNumberID: phoneNumberID, AppSecret: "app-secret"}}
	body := notification(inbound(`{"from":"` + waID + `","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1692251666","type":"text","text":{"body":"Hello, I would like to book a table for two tonight."}}`))
	h := hook(body, sign("app-secret", body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if in, err := c.ReadHook(a, h); err != nil || len(in.Messages) != 1 {
			b.Fatal(in, err)
		}
	}
}
