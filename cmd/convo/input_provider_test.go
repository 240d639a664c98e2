package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// A provider's NUL is dropped and the message stored, alike on both
// databases: refusing it would have the provider retry it forever.
func TestNULInProviderInputIsDropped(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		admin := e.admin(t)
		messagesOf := func(convID string) []map[string]any {
			return rows(t, admin.ok("GET", "/v1.0/conversations/"+convID+"/messages", nil))
		}
		conversationOf := func(accountID, dialogID string) map[string]any {
			t.Helper()
			var found map[string]any
			eventually(t, 5*time.Second, func() error {
				list := rows(t, admin.ok("GET", "/v1.0/conversations"+q("account_id", accountID, "dialog_id", dialogID), nil))
				if len(list) != 1 {
					return fmt.Errorf("%d conversations of dialog %s", len(list), dialogID)
				}
				found = list[0]
				return nil
			})
			return found
		}

		t.Run("LINE", func(t *testing.T) {
			acc := e.newAccount(admin, convo.AccountLine)
			user := lineID('U')
			e.line.AddProfile(user, "Ann\x00 Lee")
			ev := lineMessage(lineUser(user[:5]+"\x00"+user[5:]), lineText("hello\x00world"))
			ev["message"].(map[string]any)["id"] = "48\x000000000000000001"
			ev["webhookEventId"], ev["replyToken"] = "01H\x00X", "r\x00t"
			ev["message"].(map[string]any)["quoteToken"] = "q\x00t"
			body, _ := json.Marshal(map[string]any{"destination": "U\x00bot", "events": []any{ev}})
			if r := e.postLine(t, acc, body); r.Status != http.StatusOK {
				t.Fatalf("signed LINE hook with NULs: status %d\n%s", r.Status, r.Body)
			}
			conv := conversationOf(acc.ID, user)
			msgs := messagesOf(str(t, conv, "id"))
			if len(msgs) != 1 || msgs[0]["text"] != "helloworld" {
				t.Fatalf("stored %v, want the one message helloworld", msgs)
			}
			eventually(t, 5*time.Second, func() error {
				c := admin.ok("GET", "/v1.0/conversations/"+str(t, conv, "id"), nil)
				if name := obj(t, c, "peer")["target_name"]; name != "Ann Lee" {
					return fmt.Errorf("peer name %q, want Ann Lee", name)
				}
				return nil
			})
			// LINE's redelivery is recognised by the id as stored.
			if r := e.postLine(t, acc, body); r.Status != http.StatusOK || len(messagesOf(str(t, conv, "id"))) != 1 {
				t.Errorf("the redelivered hook: status %d, %d messages, want 200 and still one", r.Status, len(messagesOf(str(t, conv, "id"))))
			}
		})

		t.Run("WhatsApp", func(t *testing.T) {
			acc := e.newAccount(admin, convo.AccountWhatsApp)
			from := waID()
			raw := from[:3] + "\x00" + from[3:]
			value := waInbound(raw, "Bea\x00 Chan", waText("hi\x00 there"))
			value["messages"].([]any)[0].(map[string]any)["id"] = "wamid.\x00ABC"
			if r := e.postWhatsApp(t, acc, waWebhook(acc, value)); r.Status != http.StatusOK {
				t.Fatalf("signed WhatsApp hook with NULs: status %d\n%s", r.Status, r.Body)
			}
			conv := conversationOf(acc.ID, from)
			if name := obj(t, conv, "peer")["target_name"]; name != "Bea Chan" {
				t.Errorf("peer name %q, want Bea Chan", name)
			}
			if msgs := messagesOf(str(t, conv, "id")); len(msgs) != 1 || msgs[0]["text"] != "hi there" {
				t.Errorf("stored %v, want the one message %q", msgs, "hi there")
			}
		})

		t.Run("SMS", func(t *testing.T) {
			acc := e.newAccount(admin, convo.AccountSMS)
			peer := uniquePhone()
			form := smsForm(acc, peer[:4]+"\x00"+peer[4:], "see\x00 this", [2]string{"image/jpeg", "https://api.twilio.com/media/ME\x001"})
			form.Set("MessageSid", "MM\x00"+randomHexString(16))
			form.Set("FromCity", "SAN\x00FRANCISCO")
			if r := e.postTwilio(t, acc, acc.Hook, form); r.Status != http.StatusOK {
				t.Fatalf("signed Twilio hook with NULs: status %d\n%s", r.Status, r.Body)
			}
			conv := conversationOf(acc.ID, peer)
			msgs := messagesOf(str(t, conv, "id"))
			if len(msgs) != 1 || msgs[0]["text"] != "see this" {
				t.Fatalf("stored %v, want the one message %q", msgs, "see this")
			}
			medias := msgs[0]["medias"].([]any)
			if len(medias) != 1 || medias[0].(map[string]any)["filename"] != "https://api.twilio.com/media/ME1" {
				t.Errorf("medias %v, want the picture's URL without the NUL", medias)
			}
			// A status callback with NULs is taken too.
			status := url.Values{"MessageSid": {"SM\x00x"}, "MessageStatus": {"delivered"}, "ErrorCode": {"3\x000"}}
			if r := e.postTwilio(t, acc, acc.Hook+"/status", status); r.Status != http.StatusOK {
				t.Errorf("status callback with NULs: status %d\n%s", r.Status, r.Body)
			}
		})
	})
}

// A phone number is read digit for digit, whatever script its digits are
// in, and refused rather than shortened when it holds anything else.
func TestPhoneNumbersAreNeverShortened(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		admin := e.admin(t)
		acc := e.newAccount(admin, convo.AccountSMS)
		ascii := uniquePhone() // +1555 and seven digits
		fullwidth := ascii[:len(ascii)-1] + string(rune('０'+rune(ascii[len(ascii)-1]-'0')))
		first := admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": fullwidth}})
		if first["dialog_id"] != ascii || obj(t, first, "peer")["target"] != ascii {
			t.Fatalf("peer %q made dialog %v, peer %v; want %s", fullwidth, first["dialog_id"], first["peer"], ascii)
		}
		formatted := "+1 (" + ascii[2:5] + ") " + ascii[5:8] + "-" + ascii[8:]
		if again := admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": formatted}}); again["id"] != first["id"] {
			t.Errorf("%q is another conversation than %q", formatted, fullwidth)
		}
		count := func() int { return len(rows(t, admin.ok("GET", "/v1.0/conversations", nil))) }
		n := count()
		for _, target := range []string{ascii + "x", ascii[:len(ascii)-1] + "O", "tel:" + ascii, ascii + "²", ascii[:6] + "\u200b" + ascii[6:]} {
			admin.fails("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": target}},
				http.StatusBadRequest, "INVALID_PEER")
		}
		wa := e.newAccount(admin, convo.AccountWhatsApp)
		admin.fails("POST", "/v1.0/conversations", map[string]any{"account_id": wa.ID, "peer": map[string]any{"type": "whatsapp", "target": ascii[1:] + "x"}},
			http.StatusBadRequest, "INVALID_PEER")
		if count() != n {
			t.Errorf("refused peers made conversations")
		}
		admin.fails("POST", "/v1.0/conversation_accounts", map[string]any{"type": "sms", "name": "n", "token": "t",
			"provider_data": map[string]any{"account_sid": "AC" + randomHexString(16), "number": uniquePhone() + "1x"}}, http.StatusBadRequest, "INVALID_NUMBER")

		// A signed inbound SMS from a fullwidth number lands in the
		// conversation of the ASCII one; one from a sender that is no
		// number is refused and stores nothing.
		if r := e.postTwilio(t, acc, acc.Hook, smsForm(acc, fullwidth, "from fullwidth")); r.Status != http.StatusOK {
			t.Fatalf("inbound SMS from %q: status %d\n%s", fullwidth, r.Status, r.Body)
		}
		msgs := rows(t, admin.ok("GET", "/v1.0/conversations/"+str(t, first, "id")+"/messages", nil))
		if len(msgs) != 1 || msgs[0]["text"] != "from fullwidth" {
			t.Errorf("messages of %s: %v, want the inbound one", ascii, msgs)
		}
		for _, from := range []string{ascii[:len(ascii)-1] + "x", "whatsapp:" + ascii} {
			r := e.postTwilio(t, acc, acc.Hook, smsForm(acc, from, "from junk"))
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "INVALID_PEER") {
				t.Errorf("inbound SMS from %q: status %d, want 400 INVALID_PEER\n%s", from, r.Status, r.Body)
			}
		}
		if count() != n {
			t.Errorf("refused hooks made conversations")
		}
	})
}
