package twilio_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/twilio"
	twilioclient "github.com/twilio/twilio-go/client"
)

// Twilio's published example (also twilio-go's test vector).
const (
	docToken = "12345"
	docURL   = "https://mycompany.com/myapp.php?foo=1&bar=2"
	docSig   = "vOEb5UThFn24KEfnOFLQY2AE5FY="
)

var docParams = url.Values{
	"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"}, "Caller": {"+14158675309"},
	"From": {"+14158675309"}, "ReasonConferenceEnded": {"test"}, "Reason": {"Participant"},
}

const (
	accountSID = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	number     = "+14155550100"
	peer       = "+14155550199"
	hookURL    = "https://hooks.example.com/v1.0/conversation/accounts/0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"
)

// inbound is an MMS webhook form as Twilio posts it.
func inbound() url.Values {
	return url.Values{
		"ToCountry": {"US"}, "ToState": {"CA"}, "SmsMessageSid": {"MM09d1b1d8e3d4c0c9f5f8a6e2b7c4d3e1"}, "NumMedia": {"3"},
		"ToCity": {"SAN FRANCISCO"}, "FromZip": {"94105"}, "SmsSid": {"MM09d1b1d8e3d4c0c9f5f8a6e2b7c4d3e1"}, "FromState": {"CA"},
		"SmsStatus": {"received"}, "FromCity": {"SAN FRANCISCO"}, "Body": {"Look at these — 3 files & a café"}, "FromCountry": {"US"},
		"To": {number}, "ToZip": {"94105"}, "NumSegments": {"1"}, "MessageSid": {"MM09d1b1d8e3d4c0c9f5f8a6e2b7c4d3e1"},
		"AccountSid": {accountSID}, "From": {peer}, "ApiVersion": {"2010-04-01"},
		"MediaContentType0": {"image/jpeg"}, "MediaUrl0": {"https://api.twilio.com/2010-04-01/Accounts/" + accountSID + "/Messages/MM0/Media/ME0"},
		"MediaContentType1": {"video/mp4"}, "MediaUrl1": {"https://api.twilio.com/2010-04-01/Accounts/" + accountSID + "/Messages/MM0/Media/ME1"},
		"MediaContentType2": {"application/pdf"}, "MediaUrl2": {"https://api.twilio.com/2010-04-01/Accounts/" + accountSID + "/Messages/MM0/Media/ME2"},
	}
}

func single(form url.Values) map[string]string {
	m := map[string]string{}
	for k := range form {
		m[k] = form.Get(k)
	}
	return m
}

func TestSignatureMatchesTwilio(t *testing.T) {
	if got := twilio.Signature(docToken, docURL, docParams); got != docSig {
		t.Errorf("Signature of Twilio's example = %s, want %s", got, docSig)
	}
	// Twilio's own validator accepts what convo computes, and the reverse.
	v := twilioclient.NewRequestValidator("auth-token")
	for _, form := range []url.Values{inbound(), {}, {"Body": {""}, "MessageSid": {"SM1"}}, {"B": {"x"}, "a": {"y"}, "Ab": {"z"}}} {
		sig := twilio.Signature("auth-token", hookURL, form)
		if !v.Validate(hookURL, single(form), sig) {
			t.Errorf("twilio-go rejects convo's signature of %v", form)
		}
		if !twilio.ValidSignature("auth-token", hookURL, form, sig) {
			t.Errorf("convo rejects its own signature of %v", form)
		}
	}
}

func TestValidSignature(t *testing.T) {
	form := inbound()
	sig := twilio.Signature("auth-token", hookURL, form)
	changed := func(k, v string) url.Values {
		c := inbound()
		c.Set(k, v)
		return c
	}
	for _, c := range []struct {
		name, token, url string
		form             url.Values
		header           string
		want             bool
	}{
		{"valid", "auth-token", hookURL, form, sig, true},
		{"wrong auth token", "other-token", hookURL, form, sig, false},
		{"no auth token configured", "", hookURL, form, twilio.Signature("", hookURL, form), false},
		{"missing header", "auth-token", hookURL, form, "", false},
		{"malformed header", "auth-token", hookURL, form, "%%%", false},
		{"another host", "auth-token", strings.Replace(hookURL, "hooks.example.com", "evil.example.com", 1), form, sig, false},
		{"another path", "auth-token", hookURL + "/status", form, sig, false},
		{"a query added", "auth-token", hookURL + "?message_id=1", form, sig, false},
		{"http instead of https", "auth-token", strings.Replace(hookURL, "https:", "http:", 1), form, sig, false},
		{"a field changed", "auth-token", hookURL, changed("Body", "Look at these"), sig, false},
		{"a field added", "auth-token", hookURL, changed("Extra", "1"), sig, false},
		{"signed without the URL", "auth-token", hookURL, form, twilio.Signature("auth-token", "", form), false},
	} {
		if got := twilio.ValidSignature(c.token, c.url, c.form, c.header); got != c.want {
			t.Errorf("%s: ValidSignature = %t, want %t", c.name, got, c.want)
		}
	}
}

// Twilio has signed callbacks with and without the URL's port; its own
// validators accept both, and so must convo.
func TestValidSignaturePorts(t *testing.T) {
	form := inbound()
	v := twilioclient.NewRequestValidator("auth-token")
	for _, c := range []struct {
		name, configured, signed string
		want                     bool
	}{
		{"https, signed with :443", "https://hooks.example.com/hook", "https://hooks.example.com:443/hook", true},
		{"https :443 configured, signed without", "https://hooks.example.com:443/hook", "https://hooks.example.com/hook", true},
		{"http, signed with :80", "http://hooks.example.com/hook?a=1", "http://hooks.example.com:80/hook?a=1", true},
		{"non-standard port, signed without it", "https://hooks.example.com:8443/hook", "https://hooks.example.com/hook", true},
		{"non-standard port, signed with it", "https://hooks.example.com:8443/hook", "https://hooks.example.com:8443/hook", true},
		{"IPv6 host with port", "http://[::1]:8080/hook", "http://[::1]/hook", true},
		{"another port", "https://hooks.example.com:8443/hook", "https://hooks.example.com:9443/hook", false},
		{"another host", "https://hooks.example.com/hook", "https://other.example.com:443/hook", false},
	} {
		sig := twilio.Signature("auth-token", c.signed, form)
		if got := twilio.ValidSignature("auth-token", c.configured, form, sig); got != c.want {
			t.Errorf("%s: ValidSignature = %t, want %t", c.name, got, c.want)
		}
		// twilio-go mangles IPv6 hosts when it removes a port; it is no oracle there.
		if oracle := v.Validate(c.configured, single(form), sig); oracle != c.want && !strings.Contains(c.configured, "[") {
			t.Errorf("%s: twilio-go says %t; the table is wrong", c.name, oracle)
		}
	}
}

func TestParseMessage(t *testing.T) {
	parse := func(form url.Values) *convo.Inbound {
		t.Helper()
		in, err := twilio.ParseMessage(form)
		if err != nil {
			t.Fatalf("ParseMessage(%v): %v", form, err)
		}
		return in
	}
	in := parse(inbound())
	if len(in.Messages) != 1 || len(in.Statuses) != 0 {
		t.Fatalf("parsed %+v, want one message", in)
	}
	m := in.Messages[0]
	media := func(i string) string {
		return "https://api.twilio.com/2010-04-01/Accounts/" + accountSID + "/Messages/MM0/Media/ME" + i
	}
	want := convo.InboundMessage{
		InboundPeer: convo.InboundPeer{DialogID: peer, Peer: convo.Address{Type: "tel", Target: peer}},
		ProviderID:  "MM09d1b1d8e3d4c0c9f5f8a6e2b7c4d3e1",
		Text:        "Look at these — 3 files & a café",
		Medias:      []convo.InboundMedia{{Type: "image", URL: media("0")}, {Type: "video", URL: media("1")}, {Type: "file", URL: media("2")}},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("message %+v\nwant    %+v", m, want)
	}

	for _, from := range []string{" +1 (415) 555-0199 ", "+1.415.555.0199", "+１４１５５５５０１９９", "+1 415 555 019٩"} {
		sms := url.Values{"MessageSid": {"SM1"}, "From": {from}, "To": {number}, "Body": {"hi"}, "NumMedia": {"0"}, "MediaUrl0": {"https://x"}}
		if got := parse(sms).Messages[0]; got.DialogID != peer || len(got.Medias) != 0 || got.Text != "hi" {
			t.Errorf("plain SMS from %q: %+v: want the sender %s and no medias", from, got, peer)
		}
	}
	if got := parse(url.Values{"From": {peer}, "Body": {"no sid"}}); len(got.Messages) != 0 {
		t.Errorf("a form without MessageSid gave %+v", got.Messages)
	}
	// A sender that is no phone number is refused, never cut down to its digits.
	for _, from := range []string{"+1555777000x", "whatsapp:+14155550199", "+1555 777​0000", ""} {
		if got, err := twilio.ParseMessage(url.Values{"MessageSid": {"SM2"}, "From": {from}, "Body": {"hi"}}); err == nil {
			t.Errorf("From %q was read as %+v, want it refused", from, got.Messages)
		}
	}
}

func TestParseStatus(t *testing.T) {
	type want struct{ status, provider string }
	for status, w := range map[string]want{
		"accepted": {convo.MessageProgressing, convo.ProviderAccepted}, "queued": {convo.MessageProgressing, convo.ProviderAccepted},
		"sending": {convo.MessageProgressing, convo.ProviderAccepted}, "scheduled": {convo.MessageProgressing, convo.ProviderAccepted},
		"sent": {convo.MessageDone, convo.ProviderSent}, "delivered": {convo.MessageDone, convo.ProviderDelivered}, "read": {convo.MessageDone, convo.ProviderRead},
		"failed": {convo.MessageFailed, convo.ProviderFailed}, "undelivered": {convo.MessageFailed, convo.ProviderFailed}, "canceled": {convo.MessageFailed, convo.ProviderFailed},
		"receiving": {}, "": {},
	} {
		in := twilio.ParseStatus(url.Values{"MessageSid": {"SM1"}, "MessageStatus": {status}, "ErrorCode": {"30003"}})
		switch {
		case w.status == "" && len(in.Statuses) != 0:
			t.Errorf("%s: %+v, want no report", status, in.Statuses)
		case w.status != "" && (len(in.Statuses) != 1 || in.Statuses[0].Status != w.status || in.Statuses[0].ProviderStatus != w.provider || in.Statuses[0].ProviderID != "SM1"):
			t.Errorf("%s: %+v, want %s / %s", status, in.Statuses, w.status, w.provider)
		case w.status == convo.MessageFailed && (in.Statuses[0].Error == nil || in.Statuses[0].Error.Code != "30003" ||
			!strings.Contains(in.Statuses[0].Error.Message, "unreachable destination handset")):
			t.Errorf("%s: error %+v, want Twilio's code 30003 with its meaning", status, in.Statuses[0].Error)
		case w.status != convo.MessageFailed && len(in.Statuses) == 1 && in.Statuses[0].Error != nil:
			t.Errorf("%s: error %+v on a status that is no failure", status, in.Statuses[0].Error)
		}
	}
}

func hook(kind, fullURL string, body, signature string) convo.HookRequest {
	return convo.HookRequest{Kind: kind, URL: fullURL, Body: []byte(body), Header: func(name string) string {
		if http.CanonicalHeaderKey(name) == "X-Twilio-Signature" {
			return signature
		}
		return ""
	}}
}

func TestReadHook(t *testing.T) {
	c := &twilio.Client{}
	a := &convo.Account{Type: convo.AccountSMS, Token: "auth-token", ProviderData: convo.ProviderData{AccountSID: accountSID, Number: number}}
	form := inbound()
	sig := twilio.Signature("auth-token", hookURL, form)
	if in, err := c.ReadHook(a, hook(convo.HookMessage, hookURL, form.Encode(), sig)); err != nil || len(in.Messages) != 1 {
		t.Fatalf("ReadHook = %+v, %v", in, err)
	}
	if _, err := c.ReadHook(a, hook(convo.HookMessage, hookURL, form.Encode(), "")); convo.ErrorStatus(err) != convo.EUnauthorized {
		t.Errorf("unsigned: %v, want %s", err, convo.EUnauthorized)
	}
	if _, err := c.ReadHook(a, hook(convo.HookMessage, hookURL, "%zz", sig)); convo.ErrorStatus(err) != convo.EInvalid {
		t.Errorf("malformed form: %v, want %s", err, convo.EInvalid)
	}
	other := inbound()
	other.Set("To", "+14155550111")
	if _, err := c.ReadHook(a, hook(convo.HookMessage, hookURL, other.Encode(), twilio.Signature("auth-token", hookURL, other))); convo.ErrorStatus(err) != convo.EForbidden {
		t.Errorf("message to another number: %v, want %s", err, convo.EForbidden)
	}
	statusURL := hookURL + "/status?message_id=0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5c"
	st := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}, "To": {peer}, "From": {number}, "AccountSid": {accountSID}}
	in, err := c.ReadHook(a, hook(convo.HookStatus, statusURL, st.Encode(), twilio.Signature("auth-token", statusURL, st)))
	if err != nil || len(in.Statuses) != 1 || in.Statuses[0].Status != convo.MessageDone {
		t.Errorf("status callback: %+v, %v", in, err)
	}
	if _, ok := c.VerifySubscription(a, nil); ok {
		t.Error("Twilio has no subscription handshake")
	}
}

func TestSend(t *testing.T) {
	var mu sync.Mutex
	var forms []url.Values
	code, status := 201, "queued"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if r.Method != "POST" || r.URL.Path != "/2010-04-01/Accounts/"+accountSID+"/Messages.json" || !ok || user != accountSID || pass != "auth-token" ||
			r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("request %s %s %v", r.Method, r.URL.Path, r.Header)
		}
		r.ParseForm()
		mu.Lock()
		forms = append(forms, r.PostForm)
		c, s := code, status
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(c)
		if c == 201 {
			io.WriteString(w, `{"account_sid":"`+accountSID+`","api_version":"2010-04-01","body":"hi","num_media":"1","sid":"SM1234567890abcdef1234567890abcdef","status":"`+s+`","to":"`+peer+`","from":"`+number+`"}`)
		} else {
			io.WriteString(w, `{"code":21211,"message":"Invalid 'To' Phone Number","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`)
		}
	}))
	defer srv.Close()
	c := &twilio.Client{BaseURL: srv.URL}
	d := convo.SendRequest{
		Account:        &convo.Account{Token: "auth-token", ProviderData: convo.ProviderData{AccountSID: accountSID, Number: number}},
		Conversation:   &convo.Conversation{DialogID: peer, Self: convo.Address{Type: "tel", Target: number}},
		Message:        &convo.Message{Text: "hi", Medias: []convo.Media{{Type: "image", Filename: "https://example.com/a.jpg"}, {Type: "file", Filename: "https://example.com/b.pdf"}}},
		StatusCallback: hookURL + "/status?message_id=1",
	}
	res, err := c.Send(context.Background(), d)
	if err != nil || res.ProviderID != "SM1234567890abcdef1234567890abcdef" || res.Status != convo.MessageProgressing {
		t.Fatalf("Send = %+v, %v; want the sid, progressing until the status callback", res, err)
	}
	mu.Lock()
	got := forms[0]
	mu.Unlock()
	want := url.Values{"From": {number}, "To": {peer}, "Body": {"hi"}, "MediaUrl": {"https://example.com/a.jpg", "https://example.com/b.pdf"}, "StatusCallback": {d.StatusCallback}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("form %v\nwant %v", got, want)
	}
	for _, s := range []struct{ status, want string }{{"sent", convo.MessageDone}, {"failed", convo.MessageFailed}, {"accepted", convo.MessageProgressing}} {
		mu.Lock()
		status = s.status
		mu.Unlock()
		if res, err := c.Send(context.Background(), d); err != nil || res.Status != s.want {
			t.Errorf("answer %s: %+v, %v; want %s", s.status, res, err, s.want)
		}
	}
	var ce *convo.ChannelError
	for _, s := range []struct {
		code      int
		temporary bool
	}{{400, false}, {401, false}, {429, true}, {500, true}} {
		mu.Lock()
		code = s.code
		mu.Unlock()
		if _, err := c.Send(context.Background(), d); !errors.As(err, &ce) || ce.Temporary != s.temporary {
			t.Errorf("answer %d: %#v, want a ChannelError with temporary %t", s.code, err, s.temporary)
		}
	}
}

// BenchmarkValidSignature is the check every inbound SMS/MMS and status
// callback pays: the signature over the public URL and a full MMS form.
func BenchmarkValidSignature(b *testing.B) {
	form := inbound()
	sig := twilio.Signature("auth-token", hookURL, form)
	b.ReportAllocs()
	for b.Loop() {
		if !twilio.ValidSignature("auth-token", hookURL, form, sig) {
			b.Fatal("invalid")
		}
	}
}
