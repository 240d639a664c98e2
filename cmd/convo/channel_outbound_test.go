package main

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
)

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
			c = e.openWindow(t, acc, user) // WhatsApp's customer service window
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
	id := str(a.t, a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"target": peer}}), "id")
	if acc.Type == convo.AccountWhatsApp {
		// The customer writes first: WhatsApp takes free-form messages only
		// within 24 hours of the customer's last one.
		body := waWebhook(acc, waInbound(peer, "", waText("hi")))
		wantStatus(a.t, mustHookPost(a.t, acc.Hook, "application/json", body, header("X-Hub-Signature-256", metaSignature(acc.AppSecret, body))), http.StatusOK)
	}
	return id
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
				// The provider's own code and text, as each fake refuses.
				wantError(t, msgOf(a, conv, str(t, m, "id")), map[string][2]string{
					convo.AccountLine:     {"400", "Failed to send messages"},
					convo.AccountWhatsApp: {"131030", "Recipient phone number not in allowed list"},
					convo.AccountSMS:      {"21610", "Attempt to send to unsubscribed recipient"},
				}[typ])
			}
		})

		t.Run("sending on a deleted account is refused", func(t *testing.T) {
			a := e.admin(t)
			for _, typ := range types {
				acc := e.newAccount(a, typ)
				conv := startThread(a, acc)
				a.ok("DELETE", "/v1.0/conversation_accounts/"+acc.ID, nil)
				wantRefused(t, a.do("POST", "/v1.0/conversations/"+conv+"/messages", map[string]any{"text": "too late"}), http.StatusConflict, convo.EPrecondition, "")
				n := 0
				for _, m := range msgsOf(a, conv) {
					if m["direction"] == convo.DirectionOutgoing {
						n++
					}
				}
				if n != 0 || calls(acc) != 0 {
					t.Errorf("%s: %d outgoing messages stored, %d provider calls; want none", typ, n, calls(acc))
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
			reasons := map[*testAccount][2]string{
				lineDown: {"500", "An error occurred in the server"}, smsDown: {"20500", "Internal Server Error"},
				waGone: {convo.ReasonProviderUnreachable, "could not be reached"},
			}
			for _, s := range all {
				waitStatus(a, s.conv, s.msg, s.wantStatus)
				if want, ok := reasons[s.acc]; ok {
					wantError(t, msgOf(a, s.conv, s.msg), want)
				}
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
