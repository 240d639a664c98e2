package main

// End-to-end tests of the channels: signed provider webhooks in, messages
// out through fake providers (internal/fakeprovider), on every backend.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
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
func newChannelEnv(t *testing.T, b testdb.Backend, opts ...serverOption) *channelEnv {
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

// ---------------------------------------------------------------- provider payloads

// lineID returns a LINE userId (kind 'U'), groupId ('C') or roomId ('R').
func lineID(kind byte) string { return string(kind) + randomHexString(16) }

func lineMessageID() string { return strconv.FormatInt(480000000000000000+testIDs.Add(1), 10) }

func lineUser(userID string) map[string]any { return map[string]any{"type": "user", "userId": userID} }

func lineWebhook(events ...map[string]any) []byte {
	if events == nil {
		events = []map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{"destination": "Ubot" + randomHexString(14), "events": events})
	return b
}

func lineEvent(typ string, source map[string]any) map[string]any {
	return map[string]any{
		"type": typ, "mode": "active", "timestamp": time.Now().UnixMilli(), "source": source,
		"webhookEventId": "01H" + strings.ToUpper(randomHexString(12)), "replyToken": randomHexString(16),
		"deliveryContext": map[string]any{"isRedelivery": false},
	}
}

// lineMessage is a message event; message gets an id when it has none.
func lineMessage(source, message map[string]any) map[string]any {
	if message["id"] == nil {
		message["id"] = lineMessageID()
	}
	ev := lineEvent("message", source)
	ev["message"] = message
	return ev
}

func lineText(text string) map[string]any {
	return map[string]any{"type": "text", "text": text, "quoteToken": randomHexString(8)}
}

// lineRedelivery is LINE's redelivery of ev: same event and message, flagged.
func lineRedelivery(ev map[string]any) map[string]any {
	c := map[string]any{}
	for k, v := range ev {
		c[k] = v
	}
	delete(c, "replyToken")
	c["deliveryContext"] = map[string]any{"isRedelivery": true}
	return c
}

// waID returns a fresh WhatsApp id (a phone number's digits).
func waID() string { return uniquePhone()[1:] }

func waMessageID() string { return "wamid.HBgL" + strings.ToUpper(randomHexString(20)) + "AA==" }

// waWebhook wraps a change value into a notification for acc's number.
func waWebhook(acc *testAccount, value map[string]any) []byte {
	value["messaging_product"] = "whatsapp"
	value["metadata"] = map[string]any{"display_phone_number": acc.DisplayNumber[1:], "phone_number_id": acc.PhoneNumberID}
	b, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{"id": "102290129340398", "changes": []any{
			map[string]any{"field": "messages", "value": value},
		}}},
	})
	return b
}

// waInbound is the change value of one message from a user.
func waInbound(from, name string, message map[string]any) map[string]any {
	if message["id"] == nil {
		message["id"] = waMessageID()
	}
	message["from"] = from
	message["timestamp"] = strconv.FormatInt(time.Now().Unix(), 10)
	return map[string]any{
		"contacts": []any{map[string]any{"profile": map[string]any{"name": name}, "wa_id": from}},
		"messages": []any{message},
	}
}

func waText(text string) map[string]any {
	return map[string]any{"type": "text", "text": map[string]any{"body": text}}
}

// waStatus is the change value of a status report on a sent message.
func waStatus(wamid, status, recipient string) map[string]any {
	s := map[string]any{"id": wamid, "status": status, "timestamp": strconv.FormatInt(time.Now().Unix(), 10), "recipient_id": recipient}
	if status == "failed" {
		s["errors"] = []any{map[string]any{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable"}}
	} else {
		s["conversation"] = map[string]any{"id": randomHexString(16), "origin": map[string]any{"type": "service"}}
		s["pricing"] = map[string]any{"billable": true, "pricing_model": "CBP", "category": "service"}
	}
	return map[string]any{"statuses": []any{s}}
}

// smsForm is Twilio's incoming-message webhook form; medias are
// (content type, URL) pairs.
func smsForm(acc *testAccount, from, body string, medias ...[2]string) url.Values {
	sid := "SM" + randomHexString(16)
	if len(medias) > 0 {
		sid = "MM" + randomHexString(16)
	}
	v := url.Values{
		"ToCountry": {"US"}, "ToState": {"CA"}, "SmsMessageSid": {sid}, "NumMedia": {strconv.Itoa(len(medias))},
		"ToCity": {"SAN FRANCISCO"}, "FromZip": {"94105"}, "SmsSid": {sid}, "FromState": {"CA"}, "SmsStatus": {"received"},
		"FromCity": {"SAN FRANCISCO"}, "Body": {body}, "FromCountry": {"US"}, "To": {acc.Number}, "ToZip": {"94105"},
		"NumSegments": {"1"}, "MessageSid": {sid}, "AccountSid": {acc.SID}, "From": {from}, "ApiVersion": {"2010-04-01"},
	}
	for i, m := range medias {
		v.Set("MediaContentType"+strconv.Itoa(i), m[0])
		v.Set("MediaUrl"+strconv.Itoa(i), m[1])
	}
	return v
}

// smsStatusForm is Twilio's status callback form for a sent message.
func smsStatusForm(acc *testAccount, sid, to, status string) url.Values {
	v := url.Values{"SmsSid": {sid}, "SmsStatus": {status}, "MessageStatus": {status}, "To": {to}, "MessageSid": {sid},
		"AccountSid": {acc.SID}, "From": {acc.Number}, "ApiVersion": {"2010-04-01"}}
	if status == "failed" || status == "undelivered" {
		v.Set("ErrorCode", "30003")
	}
	return v
}

// ---------------------------------------------------------------- reading convo's state

// convsOf lists the live conversations of an account.
func convsOf(a *api, accountID string) []map[string]any {
	a.t.Helper()
	return rows(a.t, a.ok("GET", "/v1.0/conversations"+q("account_id", accountID), nil))
}

// convWith returns the one live conversation of an account with a dialog.
func convWith(a *api, accountID, dialogID string) map[string]any {
	a.t.Helper()
	list := rows(a.t, a.ok("GET", "/v1.0/conversations"+q("account_id", accountID, "dialog_id", dialogID), nil))
	if len(list) != 1 {
		a.t.Fatalf("%d conversations with dialog %s on account %s, want 1: %v", len(list), dialogID, accountID, list)
	}
	return list[0]
}

// msgsOf lists a conversation's messages, newest first.
func msgsOf(a *api, convID string) []map[string]any {
	a.t.Helper()
	return rows(a.t, a.ok("GET", "/v1.0/conversations/"+convID+"/messages", nil))
}

// msgOf returns one message of a conversation by id.
func msgOf(a *api, convID, msgID string) map[string]any {
	a.t.Helper()
	for _, m := range msgsOf(a, convID) {
		if m["id"] == msgID {
			return m
		}
	}
	a.t.Fatalf("message %s is not in conversation %s", msgID, convID)
	return nil
}

// waitStatus waits until a message has status want.
func waitStatus(a *api, convID, msgID, want string) {
	a.t.Helper()
	eventually(a.t, 10*time.Second, func() error {
		got := msgOf(a, convID, msgID)["status"]
		if got != want && got != "progressing" {
			// Status only moves forward: done or failed is final here.
			a.t.Fatalf("message %s is %v, want %s", msgID, got, want)
		}
		if got != want {
			return fmt.Errorf("message %s is %v, want %s", msgID, got, want)
		}
		return nil
	})
}

// send posts a message on a conversation and returns the answer.
func send(a *api, convID string, body map[string]any) map[string]any {
	a.t.Helper()
	return a.ok("POST", "/v1.0/conversations/"+convID+"/messages", body)
}

func wantStatus(t testing.TB, r *response, code int) {
	t.Helper()
	if r.Status != code {
		t.Fatalf("status %d, want %d\n%s", r.Status, code, r.Body)
	}
}

// wantRefused checks an error answer: HTTP code, envelope status and reason,
// and the request id of the header.
func wantRefused(t testing.TB, r *response, code int, status, reason string) {
	t.Helper()
	if r.Status != code {
		t.Fatalf("status %d, want %d\n%s", r.Status, code, r.Body)
	}
	var env struct {
		Error struct {
			Status    string `json:"status"`
			Reason    string `json:"reason"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &env); err != nil {
		t.Fatalf("error answer is not the JSON envelope: %v\n%s", err, r.Body)
	}
	e := env.Error
	if e.Status != status || (reason != "" && e.Reason != reason) || e.Message == "" {
		t.Errorf("error %+v, want status %s reason %s", e, status, reason)
	}
	if id := r.Header.Get("X-Request-Id"); id == "" || id != e.RequestID {
		t.Errorf("request_id %q, X-Request-Id %q: want the same, non-empty", e.RequestID, id)
	}
}

// checkAddress compares an address object with all five of its keys.
func checkAddress(t testing.TB, what string, got any, typ, target, targetName string) {
	t.Helper()
	want := map[string]any{"type": typ, "target": target, "target_name": targetName, "name": "", "detail": ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s is %v, want %v", what, got, want)
	}
}

// checkConversation checks the fields of a conversation of an account.
func checkConversation(t testing.TB, c map[string]any, acc *testAccount, customerID, typ, dialogID, name, detail string) {
	t.Helper()
	want := map[string]any{"customer_id": customerID, "account_id": acc.ID, "type": typ, "dialog_id": dialogID,
		"name": name, "detail": detail, "owner_type": "", "owner_id": convo.NilID, "tm_delete": neverTime}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("conversation %s is %v, want %v", k, c[k], v)
		}
	}
}

type wantMedia struct{ Type, Filename string }

// checkMessage checks a message's direction, status, type, text and medias,
// and that source and destination are the conversation's peer and self in
// the direction's order (type and target).
func checkMessage(t testing.TB, m, conv map[string]any, direction, status, text string, medias ...wantMedia) {
	t.Helper()
	want := map[string]any{"conversation_id": conv["id"], "customer_id": conv["customer_id"], "direction": direction,
		"status": status, "reference_type": conv["type"], "text": text}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("message %s is %v, want %v", k, m[k], v)
		}
	}
	from, to := "peer", "self"
	if direction == convo.DirectionOutgoing {
		from, to = to, from
	}
	for key, party := range map[string]string{"source": from, "destination": to} {
		got, _ := m[key].(map[string]any)
		wantAddr, _ := conv[party].(map[string]any)
		if got == nil || got["type"] != wantAddr["type"] || got["target"] != wantAddr["target"] {
			t.Errorf("message %s is %v, want the conversation's %s %v", key, m[key], party, conv[party])
		}
	}
	got, ok := m["medias"].([]any)
	if !ok {
		t.Errorf("medias is %T (%v), want an array", m["medias"], m["medias"])
		return
	}
	var gotMedias []wantMedia
	for _, raw := range got {
		md, _ := raw.(map[string]any)
		gotMedias = append(gotMedias, wantMedia{fmt.Sprint(md["type"]), fmt.Sprint(md["filename"])})
		if id, _ := md["id"].(string); !uuidPattern.MatchString(id) || md["customer_id"] != conv["customer_id"] {
			t.Errorf("media %v: want a UUID id and the conversation's customer_id", md)
		}
	}
	if len(gotMedias) != len(medias) || (len(medias) > 0 && !reflect.DeepEqual(gotMedias, medias)) {
		t.Errorf("medias are %v, want %v", gotMedias, medias)
	}
}

// ---------------------------------------------------------------- LINE

func TestLineInbound(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		acc := e.newAccount(e.admin(t), convo.AccountLine)
		alice, bob := lineID('U'), lineID('U')
		e.line.AddProfile(alice, "Alice")
		e.line.AddProfile(bob, "Bob")

		t.Run("the console's verify request stores nothing", func(t *testing.T) {
			wantStatus(t, e.postLine(t, acc, lineWebhook()), http.StatusOK)
			if n := len(convsOf(e.admin(t), acc.ID)); n != 0 {
				t.Errorf("%d conversations after a webhook without events", n)
			}
		})

		var aliceConv string
		t.Run("follow creates the conversation without a message and learns the name", func(t *testing.T) {
			a := e.admin(t)
			wantStatus(t, e.postLine(t, acc, lineWebhook(lineEvent("follow", lineUser(alice)))), http.StatusOK)
			c := convWith(a, acc.ID, alice)
			aliceConv = str(t, c, "id")
			checkAddress(t, "self", c["self"], "line", "", "Me")
			if n := len(msgsOf(a, aliceConv)); n != 0 {
				t.Errorf("follow stored %d messages", n)
			}
			// The display name comes from LINE's profile API after the hook is answered.
			eventually(t, 5*time.Second, func() error {
				c = a.ok("GET", "/v1.0/conversations/"+aliceConv, nil)
				if c["name"] != "LINE · Alice" {
					return fmt.Errorf("name is %v, want the auto-title with the display name", c["name"])
				}
				return nil
			})
			checkConversation(t, c, acc, e.ts.CustomerID, "line", alice, "LINE · Alice", "LINE conversation")
			checkAddress(t, "peer", c["peer"], "line", alice, "Alice")
		})

		t.Run("a message reuses the conversation", func(t *testing.T) {
			if aliceConv == "" {
				t.Skip("needs the follow subtest")
			}
			a := e.admin(t)
			wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(alice), lineText("hello there")))), http.StatusOK)
			wantStatus(t, e.postLine(t, acc, lineWebhook(lineEvent("follow", lineUser(alice)))), http.StatusOK)
			convs := convsOf(a, acc.ID)
			if len(convs) != 1 || convs[0]["id"] != aliceConv {
				t.Fatalf("conversations %v, want only %s", convs, aliceConv)
			}
			msgs := msgsOf(a, aliceConv)
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want 1", len(msgs))
			}
			checkMessage(t, msgs[0], convs[0], "incoming", "done", "hello there")
			checkAddress(t, "source", msgs[0]["source"], "line", alice, "Alice")
			checkAddress(t, "destination", msgs[0]["destination"], "line", "", "Me")
		})

		t.Run("every message type, without a prior follow", func(t *testing.T) {
			a := e.admin(t)
			mid := map[string]string{}
			for _, k := range []string{"image", "external", "video", "audio", "file", "location", "sticker"} {
				mid[k] = lineMessageID()
			}
			src := lineUser(bob)
			body := lineWebhook(
				lineMessage(src, lineText("first words")),
				lineMessage(src, map[string]any{"id": mid["image"], "type": "image", "quoteToken": "q1", "contentProvider": map[string]any{"type": "line"}}),
				lineMessage(src, map[string]any{"id": mid["external"], "type": "image", "quoteToken": "q2",
					"contentProvider": map[string]any{"type": "external", "originalContentUrl": "https://cdn.example.com/photo.jpg", "previewImageUrl": "https://cdn.example.com/photo-s.jpg"}}),
				lineMessage(src, map[string]any{"id": mid["video"], "type": "video", "duration": 8000, "contentProvider": map[string]any{"type": "line"}}),
				lineMessage(src, map[string]any{"id": mid["audio"], "type": "audio", "duration": 6000, "contentProvider": map[string]any{"type": "line"}}),
				lineMessage(src, map[string]any{"id": mid["file"], "type": "file", "fileName": "report.pdf", "fileSize": 2138}),
				lineMessage(src, map[string]any{"id": mid["location"], "type": "location", "title": "Office", "address": "1-3 Kioicho, Tokyo", "latitude": 35.687574, "longitude": 139.72922}),
				lineMessage(src, map[string]any{"id": mid["sticker"], "type": "sticker", "packageId": "446", "stickerId": "1988", "stickerResourceType": "STATIC"}),
			)
			wantStatus(t, e.postLine(t, acc, body), http.StatusOK)
			conv := convWith(a, acc.ID, bob)
			content := func(id string) string { return e.line.URL() + "/v2/bot/message/" + id + "/content" }
			want := map[string]struct {
				text  string
				media wantMedia
			}{
				"first words":                       {"first words", wantMedia{}},
				content(mid["image"]):               {"", wantMedia{"image", content(mid["image"])}},
				"https://cdn.example.com/photo.jpg": {"", wantMedia{"image", "https://cdn.example.com/photo.jpg"}},
				content(mid["video"]):               {"", wantMedia{"video", content(mid["video"])}},
				content(mid["audio"]):               {"", wantMedia{"audio", content(mid["audio"])}},
				content(mid["file"]):                {"report.pdf", wantMedia{"file", content(mid["file"])}},
				"geo:35.687574,139.72922":           {"Office 1-3 Kioicho, Tokyo", wantMedia{"location", "geo:35.687574,139.72922"}},
			}
			msgs := msgsOf(a, str(t, conv, "id"))
			if len(msgs) != 8 {
				t.Fatalf("%d messages, want 8", len(msgs))
			}
			for _, m := range msgs {
				medias, _ := m["medias"].([]any)
				key := fmt.Sprint(m["text"])
				if len(medias) == 1 {
					key = fmt.Sprint(medias[0].(map[string]any)["filename"])
					if medias[0].(map[string]any)["type"] == "sticker" {
						if !strings.Contains(key, "1988") {
							t.Errorf("sticker filename %q does not name sticker 1988", key)
						}
						checkMessage(t, m, conv, "incoming", "done", "", wantMedia{"sticker", key})
						continue
					}
				}
				w, ok := want[key]
				if !ok {
					t.Errorf("unexpected message %v", m)
					continue
				}
				delete(want, key)
				if w.media.Type == "" {
					checkMessage(t, m, conv, "incoming", "done", w.text)
				} else {
					checkMessage(t, m, conv, "incoming", "done", w.text, w.media)
				}
			}
			for k := range want {
				t.Errorf("no message for %s", k)
			}
			eventually(t, 5*time.Second, func() error {
				if c := a.ok("GET", "/v1.0/conversations/"+str(t, conv, "id"), nil); c["name"] != "LINE · Bob" {
					return fmt.Errorf("name is %v, want LINE · Bob", c["name"])
				}
				return nil
			})
		})

		t.Run("group and room sources use their id as the dialog", func(t *testing.T) {
			a := e.admin(t)
			group, room := lineID('C'), lineID('R')
			e.line.AddGroup(group, "Support team")
			body := lineWebhook(
				lineMessage(map[string]any{"type": "group", "groupId": group, "userId": alice}, lineText("in the group")),
				lineMessage(map[string]any{"type": "room", "roomId": room, "userId": bob}, lineText("in the room")),
			)
			wantStatus(t, e.postLine(t, acc, body), http.StatusOK)
			g, r := convWith(a, acc.ID, group), convWith(a, acc.ID, room)
			checkConversation(t, r, acc, e.ts.CustomerID, "line", room, "LINE · "+room, "LINE conversation")
			checkAddress(t, "room peer", r["peer"], "line", room, "")
			checkMessage(t, msgsOf(a, str(t, g, "id"))[0], g, "incoming", "done", "in the group")
			checkMessage(t, msgsOf(a, str(t, r, "id"))[0], r, "incoming", "done", "in the room")
			eventually(t, 5*time.Second, func() error {
				if g = a.ok("GET", "/v1.0/conversations/"+str(t, g, "id"), nil); g["name"] != "LINE · Support team" {
					return fmt.Errorf("group conversation name is %v", g["name"])
				}
				return nil
			})
			checkAddress(t, "group peer", g["peer"], "line", group, "Support team")
			if n := len(msgsOf(a, aliceConv)); n != 1 {
				t.Errorf("alice's own conversation has %d messages, want 1", n)
			}
		})

		t.Run("an outbound thread takes the user's messages", func(t *testing.T) {
			a := e.admin(t)
			carol := lineID('U')
			c := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "line", "target": carol}})
			checkConversation(t, c, acc, e.ts.CustomerID, "line", carol, "LINE · "+carol, "LINE conversation")
			wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(carol), lineText("hi back")))), http.StatusOK)
			if got := convWith(a, acc.ID, carol); got["id"] != c["id"] {
				t.Errorf("the reply landed in conversation %v, want %v", got["id"], c["id"])
			}
		})

		t.Run("after a delete the next message starts a new conversation", func(t *testing.T) {
			if aliceConv == "" {
				t.Skip("needs the follow subtest")
			}
			a := e.admin(t)
			a.ok("DELETE", "/v1.0/conversations/"+aliceConv, nil)
			wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(alice), lineText("back again")))), http.StatusOK)
			c := convWith(a, acc.ID, alice)
			if c["id"] == aliceConv {
				t.Fatalf("the message went to the deleted conversation")
			}
			if msgs := msgsOf(a, str(t, c, "id")); len(msgs) != 1 || msgs[0]["text"] != "back again" {
				t.Errorf("new conversation messages %v", msgs)
			}
			if n := len(msgsOf(a, aliceConv)); n != 1 {
				t.Errorf("the deleted conversation has %d messages, want its 1", n)
			}
		})
	})
}

// The display name arrives after the hook is answered; it fills the peer
// and an automatic title, but never replaces a title a user chose.
func TestLineDisplayNameKeepsUserTitle(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountLine)
		dave, erin := lineID('U'), lineID('U')
		e.line.AddProfile(dave, "Dave")
		e.line.AddProfile(erin, "Erin")
		release := e.line.HoldProfiles()
		t.Cleanup(release)

		// The hook answers while the profile lookups are held.
		wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(dave), lineText("one")), lineMessage(lineUser(erin), lineText("two")))), http.StatusOK)
		d, er := convWith(a, acc.ID, dave), convWith(a, acc.ID, erin)
		if d["name"] != "LINE · "+dave || obj(t, d, "peer")["target_name"] != "" {
			t.Errorf("before the lookup: name %v, peer %v", d["name"], d["peer"])
		}
		a.ok("PUT", "/v1.0/conversations/"+str(t, d, "id"), map[string]any{"name": "VIP customer"})
		release()
		eventually(t, 5*time.Second, func() error {
			d = a.ok("GET", "/v1.0/conversations/"+str(t, d, "id"), nil)
			er = a.ok("GET", "/v1.0/conversations/"+str(t, er, "id"), nil)
			if obj(t, d, "peer")["target_name"] != "Dave" || er["name"] != "LINE · Erin" {
				return fmt.Errorf("after the lookup: %v / %v", d["peer"], er["name"])
			}
			return nil
		})
		if d["name"] != "VIP customer" || d["detail"] != "LINE conversation" {
			t.Errorf("the lookup changed the user's title: name %v, detail %v", d["name"], d["detail"])
		}
		checkAddress(t, "peer", er["peer"], "line", erin, "Erin")
	})
}

// A display name that arrives after its conversation was deleted leaves
// the deleted conversation as it was; the peer's next conversation gets it.
func TestLineDisplayNameSkipsDeletedConversation(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountLine)
		frank := lineID('U')
		e.line.AddProfile(frank, "Frank")
		release := e.line.HoldProfiles()
		t.Cleanup(release)

		wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(frank), lineText("one")))), http.StatusOK)
		first := str(t, convWith(a, acc.ID, frank), "id")
		a.ok("DELETE", "/v1.0/conversations/"+first, nil)
		release()
		eventually(t, 5*time.Second, func() error {
			if n := e.line.ProfileLookups(); n != 1 {
				return fmt.Errorf("%d profile lookups, want 1", n)
			}
			return nil
		})

		// The next message starts a new conversation, whose own lookup is
		// stored after the first one's.
		wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(frank), lineText("two")))), http.StatusOK)
		second := str(t, convWith(a, acc.ID, frank), "id")
		eventually(t, 5*time.Second, func() error {
			c := a.ok("GET", "/v1.0/conversations/"+second, nil)
			if obj(t, c, "peer")["target_name"] != "Frank" || c["name"] != "LINE · Frank" {
				return fmt.Errorf("the new conversation: name %v, peer %v", c["name"], c["peer"])
			}
			return nil
		})
		old := a.ok("GET", "/v1.0/conversations/"+first, nil)
		if obj(t, old, "peer")["target_name"] != "" || old["name"] != "LINE · "+frank {
			t.Errorf("the deleted conversation was renamed: name %v, peer %v", old["name"], old["peer"])
		}
	})
}

// ---------------------------------------------------------------- WhatsApp

func TestWhatsAppInbound(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		acc := e.newAccount(e.admin(t), convo.AccountWhatsApp)

		t.Run("verification handshake", func(t *testing.T) {
			get := func(target string) *response {
				res, err := http.Get(target)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				body, _ := io.ReadAll(res.Body)
				return &response{Status: res.StatusCode, Header: res.Header, Body: body}
			}
			query := func(mode, token, challenge string) string {
				return "?" + url.Values{"hub.mode": {mode}, "hub.verify_token": {token}, "hub.challenge": {challenge}}.Encode()
			}
			r := get(acc.Hook + query("subscribe", acc.Secret, "1158201444"))
			wantStatus(t, r, http.StatusOK)
			if string(r.Body) != "1158201444" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("answer %q (%s), want the challenge alone as text/plain", r.Body, r.Header.Get("Content-Type"))
			}
			for name, target := range map[string]string{
				"wrong verify token":  acc.Hook + query("subscribe", acc.Secret+"x", "1158201444"),
				"no verify token":     acc.Hook + query("subscribe", "", "1158201444"),
				"other mode":          acc.Hook + query("unsubscribe", acc.Secret, "1158201444"),
				"app secret as token": acc.Hook + query("subscribe", acc.AppSecret, "1158201444"),
			} {
				r := get(target)
				wantRefused(t, r, http.StatusForbidden, convo.EForbidden, "")
				if strings.Contains(string(r.Body), "1158201444") {
					t.Errorf("%s: the challenge was echoed", name)
				}
			}
			line := e.newAccount(e.admin(t), convo.AccountLine)
			wantRefused(t, get(line.Hook+query("subscribe", line.Secret, "42")), http.StatusForbidden, convo.EForbidden, "")
			wantRefused(t, get(e.ts.URL()+"/v1.0/conversation/accounts/"+convo.NewID()+query("subscribe", acc.Secret, "42")), http.StatusNotFound, convo.ENotFound, "")
		})

		user := waID()
		var conv map[string]any
		t.Run("a text message creates the conversation", func(t *testing.T) {
			a := e.admin(t)
			wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Dave", waText("Hi, is the shop open?")))), http.StatusOK)
			conv = convWith(a, acc.ID, user)
			checkConversation(t, conv, acc, e.ts.CustomerID, "whatsapp", user, "WhatsApp · Dave ("+user+")", "WhatsApp conversation")
			checkAddress(t, "self", conv["self"], "whatsapp", acc.DisplayNumber, "")
			checkAddress(t, "peer", conv["peer"], "whatsapp", user, "Dave")
			msgs := msgsOf(a, str(t, conv, "id"))
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want 1", len(msgs))
			}
			checkMessage(t, msgs[0], conv, "incoming", "done", "Hi, is the shop open?")
		})

		t.Run("media and location messages reuse it", func(t *testing.T) {
			a := e.admin(t)
			media := func(id string) string { return e.wa.URL() + "/v19.0/" + id }
			cases := []struct {
				msg   map[string]any
				text  string
				media wantMedia
			}{
				{map[string]any{"type": "image", "image": map[string]any{"id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "abc", "caption": "the receipt"}},
					"the receipt", wantMedia{"image", media("1479537139650973")}},
				{map[string]any{"type": "document", "document": map[string]any{"id": "2479537139650973", "mime_type": "application/pdf", "sha256": "abc", "filename": "invoice.pdf"}},
					"invoice.pdf", wantMedia{"file", media("2479537139650973")}},
				{map[string]any{"type": "audio", "audio": map[string]any{"id": "3479537139650973", "mime_type": "audio/ogg; codecs=opus", "voice": true}},
					"", wantMedia{"audio", media("3479537139650973")}},
				{map[string]any{"type": "video", "video": map[string]any{"id": "4479537139650973", "mime_type": "video/mp4"}},
					"", wantMedia{"video", media("4479537139650973")}},
				{map[string]any{"type": "sticker", "sticker": map[string]any{"id": "5479537139650973", "mime_type": "image/webp", "animated": false}},
					"", wantMedia{"sticker", media("5479537139650973")}},
				{map[string]any{"type": "location", "location": map[string]any{"latitude": 37.7749, "longitude": -122.4194, "name": "Shop", "address": "1 Market St"}},
					"Shop 1 Market St", wantMedia{"location", "geo:37.7749,-122.4194"}},
			}
			for _, c := range cases {
				wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Dave", c.msg))), http.StatusOK)
				if got := convsOf(a, acc.ID); len(got) != 1 {
					t.Fatalf("%d conversations, want 1", len(got))
				}
				checkMessage(t, msgsOf(a, str(t, conv, "id"))[0], conv, "incoming", "done", c.text, c.media)
			}
		})

		t.Run("a payload for another phone_number_id is refused", func(t *testing.T) {
			a := e.admin(t)
			other := *acc
			other.PhoneNumberID = "999" + acc.PhoneNumberID
			stranger := waID()
			r := e.postWhatsApp(t, acc, waWebhook(&other, waInbound(stranger, "Eve", waText("wrong number"))))
			wantRefused(t, r, http.StatusForbidden, convo.EForbidden, "")
			if n := len(rows(t, a.ok("GET", "/v1.0/conversations"+q("dialog_id", stranger), nil))); n != 0 {
				t.Errorf("%d conversations stored from a payload for another number", n)
			}
		})
	})
}

// ---------------------------------------------------------------- SMS

func TestSMSInbound(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountSMS)
		peer := uniquePhone()
		media0 := "https://api.twilio.com/2010-04-01/Accounts/" + acc.SID + "/Messages/MM1/Media/ME" + randomHexString(16)
		media1 := "https://api.twilio.com/2010-04-01/Accounts/" + acc.SID + "/Messages/MM1/Media/ME" + randomHexString(16)
		media2 := "https://api.twilio.com/2010-04-01/Accounts/" + acc.SID + "/Messages/MM1/Media/ME" + randomHexString(16)

		// An MMS: Body and every MediaUrlN/MediaContentTypeN.
		form := smsForm(acc, peer, "photos attached", [2]string{"image/jpeg", media0}, [2]string{"video/mp4", media1}, [2]string{"application/pdf", media2})
		wantStatus(t, e.postTwilio(t, acc, acc.Hook, form), http.StatusOK)
		conv := convWith(a, acc.ID, peer)
		checkConversation(t, conv, acc, e.ts.CustomerID, "message", peer, "SMS · "+peer, "SMS conversation")
		checkAddress(t, "self", conv["self"], "tel", acc.Number, "")
		checkAddress(t, "peer", conv["peer"], "tel", peer, "")
		msgs := msgsOf(a, str(t, conv, "id"))
		if len(msgs) != 1 {
			t.Fatalf("%d messages, want 1", len(msgs))
		}
		checkMessage(t, msgs[0], conv, "incoming", "done", "photos attached",
			wantMedia{"image", media0}, wantMedia{"video", media1}, wantMedia{"file", media2})

		// A plain SMS from the same number reuses the conversation.
		wantStatus(t, e.postTwilio(t, acc, acc.Hook, smsForm(acc, peer, "and one more thing")), http.StatusOK)
		if got := convsOf(a, acc.ID); len(got) != 1 {
			t.Fatalf("%d conversations, want 1", len(got))
		}
		msgs = msgsOf(a, str(t, conv, "id"))
		if len(msgs) != 2 {
			t.Fatalf("%d messages, want 2", len(msgs))
		}
		checkMessage(t, msgs[0], conv, "incoming", "done", "and one more thing")

		// A message for another number than the account's is not this account's.
		other := *acc
		other.Number = uniquePhone()
		stranger := uniquePhone()
		wantRefused(t, e.postTwilio(t, acc, acc.Hook, smsForm(&other, stranger, "not yours")), http.StatusForbidden, convo.EForbidden, "")
		if n := len(rows(t, a.ok("GET", "/v1.0/conversations"+q("dialog_id", stranger), nil))); n != 0 {
			t.Errorf("%d conversations stored from a message to another number", n)
		}
	})
}

// Behind a proxy the provider calls the public URL, not the listener:
// Twilio's signature covers the public URL, with or without its port.
func TestTwilioSignatureCoversThePublicURL(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		const public = "https://hooks.example.com:8443"
		e := newChannelEnv(t, b, func(m *Main) { m.Config.PublicURL = public })
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountSMS)
		local := func(u string) string { return e.ts.URL() + strings.TrimPrefix(u, public) }
		post := func(target, signedURL string, form url.Values) *response {
			t.Helper()
			return mustHookPost(t, target, "application/x-www-form-urlencoded", []byte(form.Encode()),
				header("X-Twilio-Signature", twilioSignature(t, acc.Token, signedURL, form)))
		}
		peer := uniquePhone()
		wantRefused(t, post(local(acc.Hook), local(acc.Hook), smsForm(acc, peer, "signed over the listener")), 401, convo.EUnauthorized, "")
		wantStatus(t, post(local(acc.Hook), acc.Hook, smsForm(acc, peer, "signed over the public URL")), http.StatusOK)
		withoutPort := strings.Replace(acc.Hook, ":8443", "", 1)
		wantStatus(t, post(local(acc.Hook), withoutPort, smsForm(acc, peer, "signed without the port")), http.StatusOK)
		conv := convWith(a, acc.ID, peer)
		if n := len(msgsOf(a, str(t, conv, "id"))); n != 2 {
			t.Errorf("%d messages, want the 2 signed over the public URL", n)
		}

		msg := str(t, send(a, str(t, conv, "id"), map[string]any{"text": "reply"}), "id")
		var s fakeprovider.TwilioSend
		eventually(t, 5*time.Second, func() error {
			sends := e.tw.Sent()
			if len(sends) != 1 {
				return fmt.Errorf("Twilio received %d messages", len(sends))
			}
			s = sends[0]
			return nil
		})
		if !strings.HasPrefix(s.StatusCallback, public+"/") {
			t.Fatalf("StatusCallback %q is not under the public URL", s.StatusCallback)
		}
		wantStatus(t, post(local(s.StatusCallback), s.StatusCallback, smsStatusForm(acc, s.SID, peer, "delivered")), http.StatusOK)
		if got := msgOf(a, str(t, conv, "id"), msg)["status"]; got != "done" {
			t.Errorf("after the delivered callback the message is %v, want done", got)
		}
	})
}

// ---------------------------------------------------------------- hooks that must be refused

func TestHookRejections(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		line, wa, sms := e.newAccount(a, convo.AccountLine), e.newAccount(a, convo.AccountWhatsApp), e.newAccount(a, convo.AccountSMS)
		lineBody := lineWebhook(lineMessage(lineUser(lineID('U')), lineText("x")))
		waBody := waWebhook(wa, waInbound(waID(), "Eve", waText("x")))
		form := smsForm(sms, uniquePhone(), "x")
		formBody := []byte(form.Encode())
		const jsonType, formType = "application/json", "application/x-www-form-urlencoded"
		lineSig := func(secret string, body []byte) http.Header {
			return header("X-Line-Signature", lineSignature(secret, body))
		}
		metaSig := func(v string) http.Header { return header("X-Hub-Signature-256", v) }
		twSig := func(v string) http.Header { return header("X-Twilio-Signature", v) }
		unknown := e.ts.URL() + "/v1.0/conversation/accounts/" + convo.NewID()
		tampered := url.Values{}
		for k, v := range form {
			tampered[k] = v
		}
		tampered.Set("Body", "changed on the way")

		cases := []struct {
			name, target, ctype string
			body                []byte
			header              http.Header
			code                int
			status              string
		}{
			{"unknown account", unknown, jsonType, lineBody, lineSig(line.Secret, lineBody), 404, convo.ENotFound},
			{"malformed account id", e.ts.URL() + "/v1.0/conversation/accounts/not-an-id", jsonType, lineBody, lineSig(line.Secret, lineBody), 404, convo.ENotFound},
			{"LINE request to a WhatsApp account", wa.Hook, jsonType, lineBody, lineSig(line.Secret, lineBody), 401, convo.EUnauthorized},
			{"LINE-style signature with the WhatsApp app secret", wa.Hook, jsonType, waBody, lineSig(wa.AppSecret, waBody), 401, convo.EUnauthorized},
			{"WhatsApp request to an SMS account", sms.Hook, jsonType, waBody, metaSig(metaSignature(wa.AppSecret, waBody)), 401, convo.EUnauthorized},
			{"Twilio request to a LINE account", line.Hook, formType, formBody, twSig(twilioSignature(t, sms.Token, line.Hook, form)), 401, convo.EUnauthorized},
			{"status callback path of a LINE account", line.Hook + "/status", jsonType, lineBody, lineSig(line.Secret, lineBody), 404, convo.ENotFound},
			{"WhatsApp without signature", wa.Hook, jsonType, waBody, nil, 401, convo.EUnauthorized},
			{"WhatsApp with a malformed signature", wa.Hook, jsonType, waBody, metaSig("sha256=not-hex"), 401, convo.EUnauthorized},
			{"WhatsApp signature without its sha256= prefix", wa.Hook, jsonType, waBody, metaSig(strings.TrimPrefix(metaSignature(wa.AppSecret, waBody), "sha256=")), 401, convo.EUnauthorized},
			{"WhatsApp signed with the verify token", wa.Hook, jsonType, waBody, metaSig(metaSignature(wa.Secret, waBody)), 401, convo.EUnauthorized},
			{"WhatsApp signature of another body", wa.Hook, jsonType, waBody, metaSig(metaSignature(wa.AppSecret, lineBody)), 401, convo.EUnauthorized},
			{"Twilio without signature", sms.Hook, formType, formBody, nil, 401, convo.EUnauthorized},
			{"Twilio with a malformed signature", sms.Hook, formType, formBody, twSig("%%%"), 401, convo.EUnauthorized},
			{"Twilio signed with another auth token", sms.Hook, formType, formBody, twSig(twilioSignature(t, "another-token", sms.Hook, form)), 401, convo.EUnauthorized},
			{"Twilio signed over another URL", sms.Hook, formType, formBody, twSig(twilioSignature(t, sms.Token, "https://attacker.example"+strings.TrimPrefix(sms.Hook, e.ts.URL()), form)), 401, convo.EUnauthorized},
			{"Twilio form changed after signing", sms.Hook, formType, []byte(tampered.Encode()), twSig(twilioSignature(t, sms.Token, sms.Hook, form)), 401, convo.EUnauthorized},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				wantRefused(t, mustHookPost(t, c.target, c.ctype, c.body, c.header), c.code, c.status, "")
			})
		}
		for _, acc := range []*testAccount{line, wa, sms} {
			if n := len(convsOf(a, acc.ID)); n != 0 {
				t.Errorf("%s account: %d conversations stored from refused requests", acc.Type, n)
			}
		}

		t.Run("deleted account", func(t *testing.T) {
			a := e.admin(t)
			gone := e.newAccount(a, convo.AccountLine)
			a.ok("DELETE", "/v1.0/conversation_accounts/"+gone.ID, nil)
			wantRefused(t, e.postLine(t, gone, lineWebhook(lineMessage(lineUser(lineID('U')), lineText("anyone?")))), 404, convo.ENotFound, "ACCOUNT_NOT_FOUND")
			if n := len(convsOf(a, gone.ID)); n != 0 {
				t.Errorf("%d conversations stored for a deleted account", n)
			}
		})

		t.Run("bodies over 1 MiB", func(t *testing.T) {
			a := e.admin(t)
			big := strings.Repeat("x", 1<<20+1)
			lineBig := lineWebhook(lineMessage(lineUser(lineID('U')), lineText(big)))
			waBig := waWebhook(wa, waInbound(waID(), "Eve", waText(big)))
			smsBig := smsForm(sms, uniquePhone(), big)
			for _, r := range []*response{
				e.postLine(t, line, lineBig), e.postWhatsApp(t, wa, waBig), e.postTwilio(t, sms, sms.Hook, smsBig),
			} {
				wantRefused(t, r, http.StatusRequestEntityTooLarge, convo.EInvalid, "")
			}
			for _, acc := range []*testAccount{line, wa, sms} {
				if n := len(convsOf(a, acc.ID)); n != 0 {
					t.Errorf("%s account: %d conversations stored from an oversized body", acc.Type, n)
				}
			}
		})
	})
}

// ---------------------------------------------------------------- sending

func TestOutboundEachChannel(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		photo := "https://cdn.example.com/photo.jpg"

		t.Run("LINE", func(t *testing.T) {
			a := e.admin(t)
			acc := e.newAccount(a, convo.AccountLine)
			user := lineID('U')
			c := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "line", "target": user}})
			checkConversation(t, c, acc, e.ts.CustomerID, "line", user, "LINE · "+user, "LINE conversation")
			checkAddress(t, "self", c["self"], "line", "", "Me")
			checkAddress(t, "peer", c["peer"], "line", user, "")
			again := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"target": user}})
			if again["id"] != c["id"] {
				t.Errorf("a second POST started conversation %v, want the live %v", again["id"], c["id"])
			}
			m := send(a, str(t, c, "id"), map[string]any{"text": "hello from LINE", "medias": []any{map[string]any{"type": "image", "filename": photo}}})
			checkMessage(t, m, c, "outgoing", m["status"].(string), "hello from LINE", wantMedia{"image", photo})
			waitStatus(a, str(t, c, "id"), str(t, m, "id"), "done")
			pushes := e.line.Sent()
			if len(pushes) != 1 {
				t.Fatalf("LINE received %d pushes, want 1", len(pushes))
			}
			p := pushes[0]
			want := []fakeprovider.LinePushMessage{{Type: "text", Text: "hello from LINE"}, {Type: "image", OriginalContentURL: photo, PreviewImageURL: photo}}
			if p.Token != acc.Token || p.To != user || !reflect.DeepEqual(p.Messages, want) {
				t.Errorf("push %+v, want token %s to %s with %+v", p, acc.Token, user, want)
			}
		})

		t.Run("WhatsApp", func(t *testing.T) {
			a := e.admin(t)
			acc := e.newAccount(a, convo.AccountWhatsApp)
			user := waID()
			c := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "whatsapp", "target": "+" + user[:1] + " " + user[1:4] + " " + user[4:]}})
			checkConversation(t, c, acc, e.ts.CustomerID, "whatsapp", user, "WhatsApp · "+user, "WhatsApp conversation")
			checkAddress(t, "self", c["self"], "whatsapp", acc.DisplayNumber, "")
			checkAddress(t, "peer", c["peer"], "whatsapp", user, "")
			m := send(a, str(t, c, "id"), map[string]any{"text": "hello from WhatsApp", "medias": []any{map[string]any{"type": "image", "filename": photo}}})
			checkMessage(t, m, c, "outgoing", m["status"].(string), "hello from WhatsApp", wantMedia{"image", photo})
			waitStatus(a, str(t, c, "id"), str(t, m, "id"), "done")
			sends := e.wa.Sent()
			if len(sends) != 2 {
				t.Fatalf("WhatsApp received %d messages, want the text and the image", len(sends))
			}
			for i, s := range sends {
				if s.PhoneNumberID != acc.PhoneNumberID || s.Token != acc.Token || strings.TrimPrefix(s.To, "+") != user {
					t.Errorf("send %d: %+v, want number %s, token %s, to %s", i, s, acc.PhoneNumberID, acc.Token, user)
				}
			}
			if sends[0].Type != "text" || sends[0].Text != "hello from WhatsApp" || sends[1].Type != "image" || sends[1].Link != photo {
				t.Errorf("sends %+v, want the text then the image link", sends)
			}
		})

		t.Run("SMS", func(t *testing.T) {
			a := e.admin(t)
			acc := e.newAccount(a, convo.AccountSMS)
			peer := uniquePhone()
			c := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": peer}})
			checkConversation(t, c, acc, e.ts.CustomerID, "message", peer, "SMS · "+peer, "SMS conversation")
			checkAddress(t, "self", c["self"], "tel", acc.Number, "")
			checkAddress(t, "peer", c["peer"], "tel", peer, "")
			m := send(a, str(t, c, "id"), map[string]any{"text": "hello from SMS", "medias": []any{map[string]any{"type": "image", "filename": photo}}})
			checkMessage(t, m, c, "outgoing", "progressing", "hello from SMS", wantMedia{"image", photo})
			var s fakeprovider.TwilioSend
			eventually(t, 5*time.Second, func() error {
				if sends := e.tw.Sent(); len(sends) != 1 {
					return fmt.Errorf("Twilio received %d messages, want 1", len(sends))
				} else {
					s = sends[0]
				}
				return nil
			})
			if s.AccountSID != acc.SID || s.From != acc.Number || s.To != peer || s.Body != "hello from SMS" || !reflect.DeepEqual(s.MediaURLs, []string{photo}) {
				t.Errorf("Twilio received %+v", s)
			}
			if !strings.HasPrefix(s.StatusCallback, e.ts.Config.PublicURL+"/") {
				t.Fatalf("StatusCallback %q is not under the public URL %s", s.StatusCallback, e.ts.Config.PublicURL)
			}
			// Twilio's "queued" is not delivery: the message waits for the status callback.
			if got := msgOf(a, str(t, c, "id"), str(t, m, "id"))["status"]; got != "progressing" {
				t.Errorf("after Twilio queued it the message is %v, want progressing", got)
			}
			wantStatus(t, e.postTwilio(t, acc, s.StatusCallback, smsStatusForm(acc, s.SID, peer, "sent")), http.StatusOK)
			if got := msgOf(a, str(t, c, "id"), str(t, m, "id"))["status"]; got != "done" {
				t.Errorf("after Twilio reported sent the message is %v, want done", got)
			}
		})
	})
}

// startThread starts a conversation on acc with a fresh peer and returns its id.
func startThread(a *api, acc *testAccount) string {
	a.t.Helper()
	var peer string
	switch acc.Type {
	case convo.AccountLine:
		peer = lineID('U')
	case convo.AccountWhatsApp:
		peer = waID()
	default:
		peer = uniquePhone()
	}
	return str(a.t, a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"target": peer}}), "id")
}

func TestOutboundFailures(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		calls := func(acc *testAccount) int {
			switch acc.Type {
			case convo.AccountLine:
				return e.line.Calls(acc.fakeKey())
			case convo.AccountWhatsApp:
				return e.wa.Calls(acc.fakeKey())
			}
			return e.tw.Calls(acc.fakeKey())
		}
		types := []string{convo.AccountLine, convo.AccountWhatsApp, convo.AccountSMS}

		t.Run("a refusal ends failed without retries", func(t *testing.T) {
			a := e.admin(t)
			for _, typ := range types {
				acc := e.newAccount(a, typ)
				e.line.SetModeFor(acc.fakeKey(), fakeprovider.Refuse)
				e.wa.SetModeFor(acc.fakeKey(), fakeprovider.Refuse)
				e.tw.SetModeFor(acc.fakeKey(), fakeprovider.Refuse)
				conv := startThread(a, acc)
				m := send(a, conv, map[string]any{"text": "refused"})
				waitStatus(a, conv, str(t, m, "id"), "failed")
				if n := calls(acc); n != 1 {
					t.Errorf("%s: the provider was asked %d times, want once", typ, n)
				}
			}
		})

		t.Run("sending on a deleted account is refused", func(t *testing.T) {
			a := e.admin(t)
			for _, typ := range types {
				acc := e.newAccount(a, typ)
				conv := startThread(a, acc)
				a.ok("DELETE", "/v1.0/conversation_accounts/"+acc.ID, nil)
				wantRefused(t, a.do("POST", "/v1.0/conversations/"+conv+"/messages", map[string]any{"text": "too late"}), http.StatusConflict, convo.EPrecondition, "")
				if n := len(msgsOf(a, conv)); n != 0 || calls(acc) != 0 {
					t.Errorf("%s: %d messages stored, %d provider calls; want none", typ, n, calls(acc))
				}
			}
		})

		t.Run("an outage ends failed after the retries, never lost", func(t *testing.T) {
			a := e.admin(t)
			type sent struct {
				acc        *testAccount
				conv, msg  string
				wantStatus string
				wantCalls  int
			}
			var all []sent
			start := func(acc *testAccount, wantStatus string, wantCalls int) {
				conv := startThread(a, acc)
				r := a.do("POST", "/v1.0/conversations/"+conv+"/messages", map[string]any{"text": "during the outage"})
				if r.Status != http.StatusOK {
					t.Fatalf("%s: send answered %d during an outage, want 200 with the stored message\n%s", acc.Type, r.Status, r.Body)
				}
				m := r.JSON(t)
				// Stored before the provider is called: it is listed at once.
				if got := msgOf(a, conv, str(t, m, "id")); got["direction"] != "outgoing" {
					t.Errorf("%s: stored message %v", acc.Type, got)
				}
				all = append(all, sent{acc, conv, str(t, m, "id"), wantStatus, wantCalls})
			}
			lineDown, lineLost, smsDown := e.newAccount(a, convo.AccountLine), e.newAccount(a, convo.AccountLine), e.newAccount(a, convo.AccountSMS)
			waGone := e.newAccount(a, convo.AccountWhatsApp)
			waConv := startThread(a, waGone)
			e.line.SetModeFor(lineDown.fakeKey(), fakeprovider.Broken)
			e.tw.SetModeFor(smsDown.fakeKey(), fakeprovider.Broken)
			// LINE accepts the push but the answer is lost: the retry carries the
			// same X-Line-Retry-Key, LINE answers 409, and the user gets it once.
			e.line.SetModeFor(lineLost.fakeKey(), fakeprovider.LoseAnswer)
			e.wa.Close()
			start(lineDown, "failed", 3)
			start(smsDown, "failed", 3)
			start(lineLost, "done", 0)
			r := a.do("POST", "/v1.0/conversations/"+waConv+"/messages", map[string]any{"text": "during the outage"})
			wantStatus(t, r, http.StatusOK)
			all = append(all, sent{waGone, waConv, str(t, r.JSON(t), "id"), "failed", 0})
			e.line.SetModeFor(lineLost.fakeKey(), fakeprovider.Accept)
			for _, s := range all {
				waitStatus(a, s.conv, s.msg, s.wantStatus)
				if s.wantCalls > 0 && calls(s.acc) != s.wantCalls {
					t.Errorf("%s: the provider was asked %d times, want %d (first try and one per retry delay)", s.acc.Type, calls(s.acc), s.wantCalls)
				}
			}
			var delivered int
			for _, p := range e.line.Sent() {
				if p.Token == lineLost.Token {
					delivered++
				}
			}
			if delivered != 1 || calls(lineLost) < 2 {
				t.Errorf("after a lost answer LINE delivered %d pushes in %d requests, want 1 in at least 2", delivered, calls(lineLost))
			}
		})
	})
}

// The answer to a send does not wait for a slow provider beyond SendWait.
func TestSlowProviderDoesNotHoldTheAnswer(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b, withSending(100*time.Millisecond, 10*time.Millisecond))
		a := e.admin(t)
		line, wa := e.newAccount(a, convo.AccountLine), e.newAccount(a, convo.AccountWhatsApp)
		e.line.SetDelay(800 * time.Millisecond)
		e.wa.SetDelay(800 * time.Millisecond)
		var msgs [][2]string
		for _, acc := range []*testAccount{line, wa} {
			conv := startThread(a, acc)
			m := send(a, conv, map[string]any{"text": "take your time"})
			if m["status"] != "progressing" {
				t.Errorf("%s: the answer is %v, want progressing while the provider is still working", acc.Type, m["status"])
			}
			msgs = append(msgs, [2]string{conv, str(t, m, "id")})
		}
		for _, m := range msgs {
			waitStatus(a, m[0], m[1], "done")
		}
		if len(e.line.Sent()) != 1 || len(e.wa.Sent()) != 1 {
			t.Errorf("providers received %d LINE pushes and %d WhatsApp messages, want 1 each", len(e.line.Sent()), len(e.wa.Sent()))
		}
	})
}

// ---------------------------------------------------------------- status reports

func TestStatusReportsMoveForward(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)

		t.Run("SMS", func(t *testing.T) {
			a := e.admin(t)
			acc := e.newAccount(a, convo.AccountSMS)
			conv := startThread(a, acc)
			peer := str(t, obj(t, a.ok("GET", "/v1.0/conversations/"+conv, nil), "peer"), "target")
			msg := str(t, send(a, conv, map[string]any{"text": "status please"}), "id")
			var s fakeprovider.TwilioSend
			eventually(t, 5*time.Second, func() error {
				sends := e.tw.Sent()
				if len(sends) != 1 {
					return fmt.Errorf("Twilio received %d messages", len(sends))
				}
				s = sends[0]
				return nil
			})
			// A forged report changes nothing.
			forged := smsStatusForm(acc, s.SID, peer, "failed")
			wantRefused(t, mustHookPost(t, s.StatusCallback, "application/x-www-form-urlencoded", []byte(forged.Encode()),
				header("X-Twilio-Signature", twilioSignature(t, "not-the-token", s.StatusCallback, forged))), 401, convo.EUnauthorized, "")
			for _, step := range []struct{ report, want string }{
				{"queued", "progressing"}, {"sent", "done"}, {"queued", "done"}, {"delivered", "done"},
				{"undelivered", "failed"}, {"delivered", "failed"}, {"sent", "failed"},
			} {
				wantStatus(t, e.postTwilio(t, acc, s.StatusCallback, smsStatusForm(acc, s.SID, peer, step.report)), http.StatusOK)
				if got := msgOf(a, conv, msg)["status"]; got != step.want {
					t.Fatalf("after %q the message is %v, want %s", step.report, got, step.want)
				}
			}
		})

		t.Run("WhatsApp", func(t *testing.T) {
			a := e.admin(t)
			acc := e.newAccount(a, convo.AccountWhatsApp)
			user := waID()
			wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Fay", waText("hi")))), http.StatusOK)
			c := convWith(a, acc.ID, user)
			conv := str(t, c, "id")
			msg := str(t, send(a, conv, map[string]any{"text": "status please"}), "id")
			waitStatus(a, conv, msg, "done")
			wamid := e.wa.Sent()[0].WAMID
			for _, step := range []struct{ report, want string }{
				{"sent", "done"}, {"delivered", "done"}, {"read", "done"}, {"failed", "failed"}, {"delivered", "failed"}, {"read", "failed"},
			} {
				wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waStatus(wamid, step.report, user))), http.StatusOK)
				if got := msgOf(a, conv, msg)["status"]; got != step.want {
					t.Fatalf("after %q the message is %v, want %s", step.report, got, step.want)
				}
			}
			// Reports name outgoing messages only; unknown ids are acknowledged and ignored.
			inWAMID := waMessageID()
			wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Fay", map[string]any{"id": inWAMID, "type": "text", "text": map[string]any{"body": "second"}}))), http.StatusOK)
			wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waStatus(inWAMID, "failed", user))), http.StatusOK)
			wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waStatus(waMessageID(), "failed", user))), http.StatusOK)
			for _, m := range msgsOf(a, conv) {
				if m["direction"] == "incoming" && m["status"] != "done" {
					t.Errorf("a status report changed incoming message %v to %v", m["text"], m["status"])
				}
			}
		})
	})
}

// ---------------------------------------------------------------- regressions of VoIPbin's defects (PRODUCT.md §9)

// VoIPbin matches inbound traffic to conversations across tenants.
func TestRegressionInboundNeverCrossesTenants(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		_, keyB := e.ts.superAdmin(t).newCustomer()
		bAPI := e.as(t, keyB)
		types := []string{convo.AccountSMS, convo.AccountLine, convo.AccountWhatsApp}
		accA, accB := map[string]*testAccount{}, map[string]*testAccount{}
		for _, typ := range types {
			accA[typ], accB[typ] = e.newAccount(a, typ), e.newAccount(bAPI, typ)
		}
		phone, lineUserID, wa := uniquePhone(), lineID('U'), waID()
		sharedLineMsgID := lineMessageID()
		// deliver sends one message from the shared peer to acc's hook.
		deliver := func(acc *testAccount, text, lineMsgID string) {
			t.Helper()
			var r *response
			switch acc.Type {
			case convo.AccountSMS:
				r = e.postTwilio(t, acc, acc.Hook, smsForm(acc, phone, text))
			case convo.AccountLine:
				r = e.postLine(t, acc, lineWebhook(lineMessage(lineUser(lineUserID), map[string]any{"id": lineMsgID, "type": "text", "text": text})))
			case convo.AccountWhatsApp:
				r = e.postWhatsApp(t, acc, waWebhook(acc, waInbound(wa, "Gus", waText(text))))
			}
			wantStatus(t, r, http.StatusOK)
		}
		dialog := map[string]string{convo.AccountSMS: phone, convo.AccountLine: lineUserID, convo.AccountWhatsApp: wa}

		// B knows the peer first, on every channel, and has replied on WhatsApp and SMS.
		convB := map[string]string{}
		replyB := map[string]string{}
		for _, typ := range types {
			deliver(accB[typ], "to B", sharedLineMsgID)
			convB[typ] = str(t, convWith(bAPI, accB[typ].ID, dialog[typ]), "id")
			if typ != convo.AccountLine {
				replyB[typ] = str(t, send(bAPI, convB[typ], map[string]any{"text": "B answers"}), "id")
			}
		}
		waitStatus(bAPI, convB[convo.AccountWhatsApp], replyB[convo.AccountWhatsApp], "done")
		// Twilio reports B's SMS delivered, so that B's messages are final.
		var smsB fakeprovider.TwilioSend
		eventually(t, 5*time.Second, func() error {
			for _, s := range e.tw.Sent() {
				if s.AccountSID == accB[convo.AccountSMS].SID {
					smsB = s
					return nil
				}
			}
			return fmt.Errorf("B's SMS did not reach Twilio")
		})
		wantStatus(t, e.postTwilio(t, accB[convo.AccountSMS], smsB.StatusCallback, smsStatusForm(accB[convo.AccountSMS], smsB.SID, phone, "delivered")), http.StatusOK)
		waitStatus(bAPI, convB[convo.AccountSMS], replyB[convo.AccountSMS], "done")
		snapshotB := func() map[string]any {
			out := map[string]any{}
			for _, typ := range types {
				out[typ] = []any{bAPI.ok("GET", "/v1.0/conversations/"+convB[typ], nil), msgsOf(bAPI, convB[typ])}
			}
			out["list"] = bAPI.ok("GET", "/v1.0/conversations", nil)["result"]
			return out
		}
		before := snapshotB()

		// The same peer writes to A, with the same LINE message id as B's.
		for _, typ := range types {
			deliver(accA[typ], "to A", sharedLineMsgID)
			c := convWith(a, accA[typ].ID, dialog[typ])
			if c["customer_id"] != e.ts.CustomerID || c["id"] == convB[typ] {
				t.Errorf("%s: A's message landed in %v (customer %v)", typ, c["id"], c["customer_id"])
			}
			if msgs := msgsOf(a, str(t, c, "id")); len(msgs) != 1 || msgs[0]["text"] != "to A" {
				t.Errorf("%s: A's conversation holds %v, want only A's message", typ, msgs)
			}
		}
		// Status reports through A's hooks naming B's messages change nothing.
		acA := accA[convo.AccountSMS]
		wantStatus(t, e.postTwilio(t, acA, acA.Hook+"/status?message_id="+replyB[convo.AccountSMS], smsStatusForm(acA, smsB.SID, phone, "failed")), http.StatusOK)
		var wamidB string
		for _, s := range e.wa.Sent() {
			if s.PhoneNumberID == accB[convo.AccountWhatsApp].PhoneNumberID {
				wamidB = s.WAMID
			}
		}
		waA := accA[convo.AccountWhatsApp]
		wantStatus(t, e.postWhatsApp(t, waA, waWebhook(waA, waStatus(wamidB, "failed", wa))), http.StatusOK)
		// A request signed with B's secrets on A's hook is refused.
		body := lineWebhook(lineMessage(lineUser(lineUserID), lineText("signed by B")))
		wantRefused(t, mustHookPost(t, accA[convo.AccountLine].Hook, "application/json", body, header("X-Line-Signature", lineSignature(accB[convo.AccountLine].Secret, body))), 401, convo.EUnauthorized, "")

		if after := snapshotB(); !reflect.DeepEqual(before, after) {
			t.Errorf("traffic to customer A changed customer B's data:\nbefore %v\nafter  %v", before, after)
		}
		if list := rows(t, a.ok("GET", "/v1.0/conversations", nil)); len(list) != 3 {
			t.Errorf("customer A sees %d conversations, want its 3", len(list))
		}
	})
}

// VoIPbin never checks LINE signatures.
func TestRegressionLineSignatureChecked(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		acc, other := e.newAccount(a, convo.AccountLine), e.newAccount(a, convo.AccountLine)
		body := lineWebhook(lineMessage(lineUser(lineID('U')), lineText("trust me")))
		mac := hmac.New(sha256.New, []byte(acc.Secret))
		mac.Write(body)
		for name, h := range map[string]http.Header{
			"missing":                       nil,
			"empty":                         header("X-Line-Signature", ""),
			"not base64":                    header("X-Line-Signature", "!!not-base64!!"),
			"hex instead of base64":         header("X-Line-Signature", hex.EncodeToString(mac.Sum(nil))),
			"signed with another channel":   header("X-Line-Signature", lineSignature(other.Secret, body)),
			"signature of another body":     header("X-Line-Signature", lineSignature(acc.Secret, lineWebhook())),
			"signed with the channel token": header("X-Line-Signature", lineSignature(acc.Token, body)),
			"signature in the wrong header": header("X-Signature", lineSignature(acc.Secret, body)),
			"truncated signature":           header("X-Line-Signature", lineSignature(acc.Secret, body)[:20]),
		} {
			t.Run(name, func(t *testing.T) {
				wantRefused(t, mustHookPost(t, acc.Hook, "application/json", body, h), http.StatusUnauthorized, convo.EUnauthorized, "")
			})
		}
		if n := len(convsOf(a, acc.ID)); n != 0 {
			t.Fatalf("%d conversations stored from unsigned or forged webhooks", n)
		}
		// The genuine request is accepted.
		wantStatus(t, e.postLine(t, acc, body), http.StatusOK)
		if n := len(convsOf(a, acc.ID)); n != 1 {
			t.Errorf("%d conversations after the signed webhook, want 1", n)
		}
	})
}

// VoIPbin creates LINE conversations without an account, so replies fail.
func TestRegressionLineConversationHasAccount(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		first, second := e.newAccount(a, convo.AccountLine), e.newAccount(a, convo.AccountLine)
		user := lineID('U')
		wantStatus(t, e.postLine(t, first, lineWebhook(lineEvent("follow", lineUser(user)))), http.StatusOK)
		wantStatus(t, e.postLine(t, second, lineWebhook(lineMessage(lineUser(user), lineText("question")))), http.StatusOK)
		c1, c2 := convWith(a, first.ID, user), convWith(a, second.ID, user)
		if c1["account_id"] != first.ID || c2["account_id"] != second.ID || c1["id"] == c2["id"] {
			t.Fatalf("conversations %v / %v, want one per account, each with its account_id", c1, c2)
		}
		for _, c := range []struct {
			conv map[string]any
			acc  *testAccount
		}{{c2, second}, {c1, first}} {
			m := send(a, str(t, c.conv, "id"), map[string]any{"text": "answer via " + c.acc.ID})
			waitStatus(a, str(t, c.conv, "id"), str(t, m, "id"), "done")
		}
		pushes := e.line.Sent()
		if len(pushes) != 2 {
			t.Fatalf("LINE received %d pushes, want 2", len(pushes))
		}
		for _, p := range pushes {
			want := map[string]string{first.Token: "answer via " + first.ID, second.Token: "answer via " + second.ID}[p.Token]
			if p.To != user || len(p.Messages) != 1 || p.Messages[0].Text != want || want == "" {
				t.Errorf("push %+v went out with the wrong channel token or text", p)
			}
		}
	})
}

// VoIPbin stores provider retries twice.
func TestRegressionProviderRetryStoredOnce(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		type delivery struct {
			target, ctype string
			body          []byte
			header        http.Header
		}
		// first and retry are a message and the provider's redelivery of it;
		// dialog is the peer's dialog id.
		cases := map[string]func(acc *testAccount) (first, retry delivery, dialog string){
			convo.AccountLine: func(acc *testAccount) (delivery, delivery, string) {
				user := lineID('U')
				ev := lineMessage(lineUser(user), lineText("once"))
				b1, b2 := lineWebhook(ev), lineWebhook(lineRedelivery(ev))
				return delivery{acc.Hook, "application/json", b1, header("X-Line-Signature", lineSignature(acc.Secret, b1))},
					delivery{acc.Hook, "application/json", b2, header("X-Line-Signature", lineSignature(acc.Secret, b2))}, user
			},
			convo.AccountWhatsApp: func(acc *testAccount) (delivery, delivery, string) {
				user := waID()
				body := waWebhook(acc, waInbound(user, "Hal", waText("once")))
				d := delivery{acc.Hook, "application/json", body, header("X-Hub-Signature-256", metaSignature(acc.AppSecret, body))}
				return d, d, user
			},
			convo.AccountSMS: func(acc *testAccount) (delivery, delivery, string) {
				peer := uniquePhone()
				form := smsForm(acc, peer, "once")
				d := delivery{acc.Hook, "application/x-www-form-urlencoded", []byte(form.Encode()), header("X-Twilio-Signature", twilioSignature(t, acc.Token, acc.Hook, form))}
				return d, d, peer
			},
		}
		for typ, build := range cases {
			t.Run(typ, func(t *testing.T) {
				a := a.in(t)
				acc := e.newAccount(a, typ)
				storedOnce := func(dialog string) {
					t.Helper()
					c := convWith(a, acc.ID, dialog)
					if msgs := msgsOf(a, str(t, c, "id")); len(msgs) != 1 {
						t.Errorf("%d messages stored, want 1", len(msgs))
					}
				}
				first, retry, dialog := build(acc)
				for _, d := range []delivery{first, retry} {
					wantStatus(t, mustHookPost(t, d.target, d.ctype, d.body, d.header), http.StatusOK)
				}
				storedOnce(dialog)

				// 20 concurrent copies of a new message, each acknowledged.
				d, _, dialog := build(acc)
				var wg sync.WaitGroup
				results := make(chan string, 20)
				for range 20 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r, err := hookPost(d.target, d.ctype, d.body, d.header)
						switch {
						case err != nil:
							results <- err.Error()
						case r.Status != http.StatusOK:
							results <- fmt.Sprintf("status %d: %s", r.Status, r.Body)
						default:
							results <- ""
						}
					}()
				}
				wg.Wait()
				close(results)
				for res := range results {
					if res != "" {
						t.Errorf("a concurrent copy was not acknowledged: %s", res)
					}
				}
				storedOnce(dialog)
				if n := len(convsOf(a, acc.ID)); n != 2 {
					t.Errorf("%d conversations, want 2 (one per peer)", n)
				}
			})
		}
	})
}

// VoIPbin returns the WhatsApp app_secret.
func TestRegressionAppSecretNeverReturned(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountWhatsApp)
		answers := []*response{
			a.do("GET", "/v1.0/conversation_accounts/"+acc.ID, nil),
			a.do("GET", "/v1.0/conversation_accounts", nil),
			a.do("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"name": "renamed", "provider_data": map[string]any{"phone_number_id": acc.PhoneNumberID}}),
		}
		for _, r := range answers {
			wantStatus(t, r, http.StatusOK)
			for _, leak := range []string{acc.AppSecret, "app_secret", acc.Token, acc.Secret} {
				if bytes.Contains(r.Body, []byte(leak)) {
					t.Errorf("an account answer shows %q:\n%s", leak, r.Body)
				}
			}
		}
		pd := obj(t, answers[2].JSON(t), "provider_data")
		if pd["phone_number_id"] != acc.PhoneNumberID {
			t.Errorf("provider_data %v lost phone_number_id", pd)
		}
		// The hidden secret is still in force: Meta's signature with it is accepted.
		user := waID()
		wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Ivy", waText("still signed")))), http.StatusOK)
		convWith(a, acc.ID, user)
	})
}
