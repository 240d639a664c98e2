package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
)

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
