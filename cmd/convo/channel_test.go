package main

// End-to-end tests of the channels: signed provider webhooks in, messages
// out through fake providers (internal/fakeprovider), on every backend.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
	twilioclient "github.com/twilio/twilio-go/client"
)

// ---------------------------------------------------------------- environment

// channelEnv is a convo server whose provider clients talk to fakes.
type channelEnv struct {
	ts   *testServer
	line *fakeprovider.Line
	wa   *fakeprovider.WhatsApp
	tw   *fakeprovider.Twilio
}

// newChannelEnv starts the fakes, then a server using them; by default a
// send waits 2s for the provider and an outage is retried after 10ms and 20ms.
func newChannelEnv(t testing.TB, b testdb.Backend, opts ...serverOption) *channelEnv {
	t.Helper()
	e := &channelEnv{line: fakeprovider.NewLine(t), wa: fakeprovider.NewWhatsApp(t), tw: fakeprovider.NewTwilio(t)}
	opts = append([]serverOption{withProviders(e.line, e.wa, e.tw), withSending(2*time.Second, 10*time.Millisecond, 20*time.Millisecond)}, opts...)
	e.ts = startServer(t, b, opts...)
	return e
}

// admin is the first customer's access key, reporting to t.
func (e *channelEnv) admin(t testing.TB) *api { return e.as(t, e.ts.AdminKey) }

func (e *channelEnv) as(t testing.TB, cred string) *api {
	return &api{t: t, base: e.ts.URL(), cred: cred}
}

// testAccount is a conversation account and the secrets its provider holds.
type testAccount struct {
	ID, Type string
	// Hook is the hook URL convo shows, where the provider posts.
	Hook string
	// Secret is the LINE channel secret or the WhatsApp verify token.
	Secret, Token string
	// WhatsApp.
	AppSecret, PhoneNumberID, DisplayNumber string
	// SMS.
	SID, Number string
}

// fakeKey names the account at its fake provider (see fakeprovider.Line.SetModeFor).
func (acc *testAccount) fakeKey() string {
	switch acc.Type {
	case convo.AccountLine:
		return acc.Token
	case convo.AccountWhatsApp:
		return acc.PhoneNumberID
	}
	return acc.SID
}

// newAccount creates an account of typ through a and registers its
// credentials with the fake provider.
func (e *channelEnv) newAccount(a *api, typ string) *testAccount {
	a.t.Helper()
	acc := &testAccount{Type: typ, Token: typ + "-token-" + randomHexString(8)}
	body := map[string]any{"type": typ, "name": typ + " account", "detail": "test", "token": acc.Token}
	switch typ {
	case convo.AccountLine:
		acc.Secret = randomHexString(16)
		body["secret"] = acc.Secret
		e.line.AddChannel(acc.Token)
	case convo.AccountWhatsApp:
		acc.Secret = "verify-" + randomHexString(8)
		acc.AppSecret = randomHexString(16)
		acc.PhoneNumberID = strconv.FormatInt(106540352242900+testIDs.Add(1), 10)
		acc.DisplayNumber = uniquePhone()
		body["secret"] = acc.Secret
		body["provider_data"] = map[string]any{"phone_number_id": acc.PhoneNumberID,
			"display_phone_number": "+1 555 " + acc.DisplayNumber[5:], "app_secret": acc.AppSecret}
		e.wa.AddNumber(acc.PhoneNumberID, acc.Token)
	case convo.AccountSMS:
		acc.SID = "AC" + randomHexString(16)
		acc.Number = uniquePhone()
		body["provider_data"] = map[string]any{"account_sid": acc.SID, "number": acc.Number}
		e.tw.AddNumber(acc.SID, acc.Token, acc.Number)
	}
	got := a.ok("POST", "/v1.0/conversation_accounts", body)
	acc.ID = str(a.t, got, "id")
	acc.Hook = str(a.t, got, "hook_url")
	if want := e.ts.Config.PublicURL + "/v1.0/conversation/accounts/" + acc.ID; acc.Hook != want {
		a.t.Fatalf("hook_url is %q, want %q", acc.Hook, want)
	}
	return acc
}

// ---------------------------------------------------------------- signing, as the providers do

// lineSignature is X-Line-Signature: base64(HMAC-SHA256(channel secret, body)).
func lineSignature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// metaSignature is X-Hub-Signature-256: "sha256=" + hex(HMAC-SHA256(app secret, body)).
func metaSignature(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// twilioSignature is X-Twilio-Signature as Twilio documents it: base64 of
// HMAC-SHA1(auth token, URL + each POST field name and value, sorted by
// name). Twilio's own validator must accept it, so the test's signing
// cannot share a mistake with convo's.
func twilioSignature(t testing.TB, authToken, fullURL string, form url.Values) string {
	t.Helper()
	sig := twilioSign(authToken, fullURL, form)
	params := map[string]string{}
	for k := range form {
		params[k] = form.Get(k)
	}
	v := twilioclient.NewRequestValidator(authToken)
	if !v.Validate(fullURL, params, sig) {
		t.Fatalf("twilio-go does not accept the test's signature of %s", fullURL)
	}
	return sig
}

// ---------------------------------------------------------------- posting to hooks

// hookPost sends one provider request; it is safe from any goroutine.
func hookPost(target, contentType string, body []byte, header http.Header) (*response, error) {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "fake-provider")
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return &response{Status: res.StatusCode, Header: res.Header, Body: b}, err
}

func mustHookPost(t testing.TB, target, contentType string, body []byte, header http.Header) *response {
	t.Helper()
	r, err := hookPost(target, contentType, body, header)
	if err != nil {
		t.Fatalf("POST %s: %v", target, err)
	}
	return r
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// postLine posts a webhook body to a LINE account's hook, signed as LINE does.
func (e *channelEnv) postLine(t testing.TB, acc *testAccount, body []byte) *response {
	t.Helper()
	return mustHookPost(t, acc.Hook, "application/json; charset=utf-8", body, header("X-Line-Signature", lineSignature(acc.Secret, body)))
}

// postWhatsApp posts a webhook body to a WhatsApp account's hook, signed as Meta does.
func (e *channelEnv) postWhatsApp(t testing.TB, acc *testAccount, body []byte) *response {
	t.Helper()
	return mustHookPost(t, acc.Hook, "application/json", body, header("X-Hub-Signature-256", metaSignature(acc.AppSecret, body)))
}

// postTwilio posts a form to target (an SMS account's hook or a status
// callback URL), signed over that exact URL as Twilio does.
func (e *channelEnv) postTwilio(t testing.TB, acc *testAccount, target string, form url.Values) *response {
	t.Helper()
	return mustHookPost(t, target, "application/x-www-form-urlencoded", []byte(form.Encode()),
		header("X-Twilio-Signature", twilioSignature(t, acc.Token, target, form)))
}
