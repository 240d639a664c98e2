package main

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// WhatsApp's rules that convo applies: the Graph API version, the customer
// service window, templates, the inbound types and split sends.

// withWhatsAppVersion sets CONVO_WHATSAPP_API_VERSION.
func withWhatsAppVersion(v string) serverOption {
	return func(m *Main) { m.Config.WhatsAppAPIVersion = v }
}

// openWindow has user write to acc, which opens the conversation's
// customer service window, and returns the conversation.
func (e *channelEnv) openWindow(t testing.TB, acc *testAccount, user string) map[string]any {
	t.Helper()
	wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Dave", waText("hello")))), http.StatusOK)
	return convWith(e.admin(t), acc.ID, user)
}

func TestWhatsAppAPIVersion(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b, withWhatsAppVersion("v25.0"))
		// The fake serves v25.0 alone: a call in another version fails the test.
		e.wa.SetAPIVersion("v25.0")
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountWhatsApp)
		user := waID()
		image := map[string]any{"type": "image", "image": map[string]any{"id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "abc"}}
		wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Dave", image))), http.StatusOK)
		c := convWith(a, acc.ID, user)
		in := msgsOf(a, str(t, c, "id"))[0]
		if u := in["medias"].([]any)[0].(map[string]any)["filename"]; !strings.HasPrefix(u.(string), e.wa.URL()+"/v25.0/") {
			t.Errorf("inbound media at %v, want the v25.0 media object", u)
		}
		m := send(a, str(t, c, "id"), map[string]any{"text": "sent in v25.0"})
		waitStatus(a, str(t, c, "id"), str(t, m, "id"), "done")
		if sends := e.wa.Sent(); len(sends) != 1 || sends[0].Text != "sent in v25.0" {
			t.Errorf("WhatsApp received %+v, want the text", sends)
		}
	})
}

func TestWhatsAppWindow(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		clock := &offsetClock{}
		e := newChannelEnv(t, b, withClock(clock))
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountWhatsApp)
		user := waID()
		c := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "whatsapp", "target": user}})
		convID := str(t, c, "id")
		if c["whatsapp_window_expires"] != neverTime {
			t.Errorf("a new conversation's window expires %v, want not yet (%s)", c["whatsapp_window_expires"], neverTime)
		}

		t.Run("never opened: a free-form send is refused at once", func(t *testing.T) {
			r := a.fails("POST", "/v1.0/conversations/"+convID+"/messages", map[string]any{"text": "hello?"}, http.StatusConflict, convo.ReasonWhatsAppWindowClosed)
			if msg, _ := r["message"].(string); !strings.Contains(msg, "no message yet") {
				t.Errorf("message %q, want it to say the customer has not written", msg)
			}
			if n := len(msgsOf(a, convID)); n != 0 || len(e.wa.Sent()) != 0 {
				t.Errorf("%d messages stored, %d sent, want none", n, len(e.wa.Sent()))
			}
		})

		var expires string
		t.Run("an inbound message opens it for 24 hours", func(t *testing.T) {
			c = e.openWindow(t, acc, user)
			in := msgsOf(a, convID)[0]
			at, err := time.Parse("2006-01-02 15:04:05.000000", str(t, in, "tm_create"))
			if err != nil {
				t.Fatal(err)
			}
			expires = wire(at.Add(24 * time.Hour))
			if c["whatsapp_window_expires"] != expires {
				t.Errorf("window expires %v, want %s (the message's time + 24 h)", c["whatsapp_window_expires"], expires)
			}
			m := send(a, convID, map[string]any{"text": "we are open"})
			waitStatus(a, convID, str(t, m, "id"), "done")
			if got := a.ok("GET", "/v1.0/conversations/"+convID, nil)["whatsapp_window_expires"]; got != expires {
				t.Errorf("after an outgoing message the window expires %v, want still %s", got, expires)
			}
		})

		t.Run("closed after 24 hours, saying when", func(t *testing.T) {
			clock.advance(24*time.Hour + time.Second)
			r := a.fails("POST", "/v1.0/conversations/"+convID+"/messages", map[string]any{"text": "still there?", "medias": []any{map[string]any{"type": "image", "filename": "https://cdn.example.com/a.jpg"}}},
				http.StatusConflict, convo.ReasonWhatsAppWindowClosed)
			if msg, _ := r["message"].(string); !strings.Contains(msg, expires) {
				t.Errorf("message %q, want the time it closed, %s", msg, expires)
			}
			if n := len(msgsOf(a, convID)); n != 2 || len(e.wa.Sent()) != 1 {
				t.Errorf("%d messages stored, %d sent, want the 2 before", n, len(e.wa.Sent()))
			}
			// The customer writes again: open for another 24 hours.
			e.openWindow(t, acc, user)
			m := send(a, convID, map[string]any{"text": "welcome back"})
			waitStatus(a, convID, str(t, m, "id"), "done")
		})

		t.Run("a flow's conversation_send outside it is skipped as a failed send", func(t *testing.T) {
			closed := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "whatsapp", "target": waID()}})
			flowID := flowCreate(a,
				flowAction("", convo.ActionConversationSend, map[string]any{"conversation_id": closed["id"], "text": "outside"}),
				flowSendAction("", "inside"))
			a.ok("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"message_flow_id": flowID})
			peer := waID()
			open := e.openWindow(t, acc, peer)
			af := flowWaitEnded(a, flowOnlyActiveflow(a, str(t, open, "id"))["id"].(string))
			if n := flowExecuteCount(af); n != 2 {
				t.Errorf("the flow ran %d actions, want both", n)
			}
			if got := flowOutgoing(a, str(t, open, "id")); len(got) != 1 || got[0] != "inside" {
				t.Errorf("outgoing on the open conversation %q, want the second send", got)
			}
			if n := len(msgsOf(a, str(t, closed, "id"))); n != 0 {
				t.Errorf("%d messages on the closed conversation, want none", n)
			}
		})

		t.Run("other channels have no window", func(t *testing.T) {
			sms := e.newAccount(a, convo.AccountSMS)
			c := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": sms.ID, "peer": map[string]any{"type": "tel", "target": uniquePhone()}})
			if c["whatsapp_window_expires"] != neverTime {
				t.Errorf("an SMS conversation's window expires %v, want %s", c["whatsapp_window_expires"], neverTime)
			}
			send(a, str(t, c, "id"), map[string]any{"text": "no window here"})
		})
	})
}

func TestWhatsAppInboundTypes(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountWhatsApp)
		user := waID()
		conv := e.openWindow(t, acc, user)
		convID := str(t, conv, "id")
		sent := send(a, convID, map[string]any{"text": "Shall we deliver tomorrow?"})
		waitStatus(a, convID, str(t, sent, "id"), "done")
		wamid := e.wa.Sent()[0].WAMID
		vcard := map[string]any{"name": map[string]any{"formatted_name": "Jane Roe", "first_name": "Jane"},
			"phones": []any{map[string]any{"phone": "+1 (940) 555-1234", "wa_id": "19405551234", "type": "HOME"}}}
		cases := []struct {
			name string
			msg  map[string]any
			text string
			data map[string]any
		}{
			{"button reply", map[string]any{"type": "interactive", "interactive": map[string]any{"type": "button_reply", "button_reply": map[string]any{"id": "slot-am", "title": "Morning"}}},
				"Morning", map[string]any{"type": "button_reply", "reply_id": "slot-am", "title": "Morning"}},
			{"list reply", map[string]any{"type": "interactive", "interactive": map[string]any{"type": "list_reply", "list_reply": map[string]any{"id": "size-l", "title": "Large", "description": "40 cm"}}},
				"Large", map[string]any{"type": "list_reply", "reply_id": "size-l", "title": "Large", "description": "40 cm"}},
			{"template quick reply", map[string]any{"type": "button", "button": map[string]any{"text": "Stop promotions", "payload": "STOP_PROMO"}},
				"Stop promotions", map[string]any{"type": "button", "reply_id": "STOP_PROMO", "title": "Stop promotions"}},
			{"reaction", map[string]any{"type": "reaction", "reaction": map[string]any{"message_id": wamid, "emoji": "👍"}},
				`Reacted 👍 to "Shall we deliver tomorrow?"`, map[string]any{"type": "reaction", "emoji": "👍", "provider_message_id": wamid, "message_id": sent["id"]}},
			{"reaction taken back", map[string]any{"type": "reaction", "reaction": map[string]any{"message_id": wamid}},
				`Removed a reaction to "Shall we deliver tomorrow?"`, map[string]any{"type": "reaction", "emoji": "", "provider_message_id": wamid, "message_id": sent["id"]}},
			{"contacts", map[string]any{"type": "contacts", "contacts": []any{vcard}},
				"Contact: Jane Roe +1 (940) 555-1234", map[string]any{"type": "contacts", "contacts": []any{vcard}}},
			{"order", map[string]any{"type": "order", "order": map[string]any{"catalog_id": "cat-1", "text": "no onions", "product_items": []any{
				map[string]any{"product_retailer_id": "pizza", "quantity": 2, "item_price": 9.5, "currency": "EUR"}}}},
				"Order of 1 product(s): 2 × pizza; total 19.00 EUR — no onions", map[string]any{"type": "order", "catalog_id": "cat-1", "text": "no onions", "product_items": []any{
					map[string]any{"product_retailer_id": "pizza", "quantity": 2.0, "item_price": 9.5, "currency": "EUR"}}}},
			{"unsupported", map[string]any{"type": "unsupported", "errors": []any{map[string]any{"code": 131051, "title": "Message type unknown", "message": "Message type unknown"}}},
				"unsupported message", map[string]any{"type": "unsupported", "message_type": "unsupported", "errors": []any{map[string]any{"code": 131051.0, "title": "Message type unknown", "message": "Message type unknown"}}}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Dave", c.msg))), http.StatusOK)
				m := msgsOf(a, convID)[0]
				if m["text"] != c.text {
					t.Errorf("text %q, want %q", m["text"], c.text)
				}
				if !reflect.DeepEqual(m["data"], c.data) {
					t.Errorf("data %v, want %v", m["data"], c.data)
				}
			})
		}

		t.Run("a message with nothing to read is dropped, answered 200", func(t *testing.T) {
			before := len(msgsOf(a, convID))
			wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Dave", waText("")))), http.StatusOK)
			stranger := waID()
			wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(stranger, "Eve", map[string]any{"type": "text", "text": map[string]any{"body": "  "}}))), http.StatusOK)
			if n := len(msgsOf(a, convID)); n != before {
				t.Errorf("%d messages, want %d: an empty one was stored", n, before)
			}
			if n := len(rows(t, a.ok("GET", "/v1.0/conversations"+q("dialog_id", stranger), nil))); n != 0 {
				t.Errorf("%d conversations for a peer whose only message was empty", n)
			}
		})

		t.Run("flows see the reply id", func(t *testing.T) {
			bot := e.newAccount(a, convo.AccountWhatsApp)
			flowID := flowCreate(a, flowSendAction("", "you chose ${voipbin.conversation_message.data.reply_id}"))
			a.ok("PUT", "/v1.0/conversation_accounts/"+bot.ID, map[string]any{"message_flow_id": flowID})
			peer := waID()
			reply := map[string]any{"type": "interactive", "interactive": map[string]any{"type": "button_reply", "button_reply": map[string]any{"id": "slot-pm", "title": "Afternoon"}}}
			wantStatus(t, e.postWhatsApp(t, bot, waWebhook(bot, waInbound(peer, "Fay", reply))), http.StatusOK)
			c := convWith(a, bot.ID, peer)
			flowWaitEnded(a, flowOnlyActiveflow(a, str(t, c, "id"))["id"].(string))
			if got := flowOutgoing(a, str(t, c, "id")); len(got) != 1 || got[0] != "you chose slot-pm" {
				t.Errorf("the flow sent %q, want the reply id", got)
			}
		})
	})
}
