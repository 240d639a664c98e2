package main

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/service"
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

// waTemplates are a business's templates in Meta's listing shape.
func waTemplates() []map[string]any {
	return []map[string]any{
		{"id": "1001", "name": "order_shipped", "language": "en_US", "status": "APPROVED", "category": "UTILITY", "components": []any{
			map[string]any{"type": "HEADER", "format": "TEXT", "text": "Shipping update"},
			map[string]any{"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped."}}},
		{"id": "1002", "name": "hello_world", "language": "en_US", "status": "APPROVED", "category": "UTILITY", "components": []any{
			map[string]any{"type": "BODY", "text": "Hello, we are here to help."}}},
		{"id": "1003", "name": "summer_sale", "language": "en_US", "status": "PENDING", "category": "MARKETING", "components": []any{
			map[string]any{"type": "BODY", "text": "Sale!"}}},
	}
}

func TestWhatsAppTemplates(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountWhatsApp)
		waba := "1029384756"
		e.wa.AddTemplates(waba, acc.Token, waTemplates()...)
		_, agentToken := a.newAgent(convo.PermissionCustomerAgent)
		agent := e.as(t, agentToken)
		path := "/v1.0/conversation_accounts/" + acc.ID + "/templates"
		names := func(list map[string]any) []string {
			var out []string
			for _, r := range rows(t, list) {
				out = append(out, r["name"].(string))
			}
			return out
		}

		t.Run("the account needs its business account id", func(t *testing.T) {
			agent.fails("GET", path, nil, http.StatusConflict, convo.ReasonAccountNotConfigured)
			a.fails("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"provider_data": map[string]any{"business_account_id": "../me"}}, http.StatusBadRequest, "INVALID_BUSINESS_ACCOUNT_ID")
			got := a.ok("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"provider_data": map[string]any{"business_account_id": waba}})
			if pd := obj(t, got, "provider_data"); pd["business_account_id"] != waba || pd["phone_number_id"] != acc.PhoneNumberID {
				t.Errorf("provider_data %v, want the business account id added to the rest", pd)
			}
		})

		t.Run("any agent lists the approved ones, cached until refreshed", func(t *testing.T) {
			list := agent.ok("GET", path, nil)
			if got := names(list); !reflect.DeepEqual(got, []string{"order_shipped", "hello_world"}) {
				t.Errorf("templates %v, want the two approved ones", got)
			}
			first := rows(t, list)[0]
			if first["language"] != "en_US" || first["status"] != "APPROVED" || first["category"] != "UTILITY" || len(first["components"].([]any)) != 2 {
				t.Errorf("template %v, want Meta's fields", first)
			}
			agent.ok("GET", path, nil)
			if n := e.wa.TemplateCalls(); n != 1 {
				t.Errorf("Meta was asked %d times for two listings, want 1 (cached)", n)
			}
			e.wa.AddTemplates(waba, acc.Token, map[string]any{"id": "1004", "name": "back_in_stock", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
				"components": []any{map[string]any{"type": "BODY", "text": "It is back."}}})
			if got := names(agent.ok("GET", path+"?refresh=true", nil)); len(got) != 3 || e.wa.TemplateCalls() != 2 {
				t.Errorf("after refresh: %v in %d calls, want the new template from a second call", got, e.wa.TemplateCalls())
			}
		})

		t.Run("refusals", func(t *testing.T) {
			sms := e.newAccount(a, convo.AccountSMS)
			a.fails("GET", "/v1.0/conversation_accounts/"+sms.ID+"/templates", nil, http.StatusBadRequest, service.ReasonTemplatesNotSupported)
			_, otherKey := e.ts.superAdmin(t).newCustomer()
			e.as(t, otherKey).fails("GET", path, nil, http.StatusNotFound, convo.ReasonAccountNotFound)
			wrong := e.newAccount(a, convo.AccountWhatsApp)
			a.ok("PUT", "/v1.0/conversation_accounts/"+wrong.ID, map[string]any{"provider_data": map[string]any{"business_account_id": waba}})
			// Its token is not the business's: Meta refuses, and says why.
			r := a.fails("GET", "/v1.0/conversation_accounts/"+wrong.ID+"/templates", nil, http.StatusConflict, service.ReasonProviderRefused)
			if msg, _ := r["message"].(string); !strings.Contains(msg, "does not exist") {
				t.Errorf("message %q, want Meta's reason", msg)
			}
		})

		user := waID()
		c := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "whatsapp", "target": user}})
		convID := str(t, c, "id")
		shipped := map[string]any{"name": "order_shipped", "language": map[string]any{"code": "en_US"}, "components": []any{
			map[string]any{"type": "body", "parameters": []any{map[string]any{"type": "text", "text": "Dave"}, map[string]any{"type": "text", "text": "#42"}}}}}

		t.Run("a template is sent outside the window", func(t *testing.T) {
			m := send(a, convID, map[string]any{"template": shipped})
			if m["text"] != "Hi Dave, your order #42 has shipped." {
				t.Errorf("text %q, want the body with its parameters", m["text"])
			}
			if d := obj(t, m, "data"); d["type"] != "template" || !reflect.DeepEqual(d["template"], shipped) {
				t.Errorf("data %v, want the template as sent", d)
			}
			waitStatus(a, convID, str(t, m, "id"), "done")
			sends := e.wa.Sent()
			last := sends[len(sends)-1]
			if last.Type != "template" || !reflect.DeepEqual(last.Template, shipped) || strings.TrimPrefix(last.To, "+") != user {
				t.Errorf("WhatsApp received %+v, want the template to %s", last, user)
			}
		})

		t.Run("an uncached template reads [template name]; the owner sends it too", func(t *testing.T) {
			other := e.newAccount(a, convo.AccountWhatsApp)
			e.wa.AddTemplates("5647382910", other.Token, waTemplates()...)
			agentID, ownerToken := a.newAgent(convo.PermissionCustomerAgent)
			oc := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": other.ID, "peer": map[string]any{"type": "whatsapp", "target": waID()}})
			a.ok("PUT", "/v1.0/conversations/"+str(t, oc, "id"), map[string]any{"owner_id": agentID})
			hello := map[string]any{"name": "hello_world", "language": map[string]any{"code": "en_US"}}
			m := e.as(t, ownerToken).ok("POST", "/v1.0/service_agents/conversations/"+str(t, oc, "id")+"/messages", map[string]any{"template": hello})
			if m["text"] != "[template hello_world]" {
				t.Errorf("text %q, want [template hello_world]", m["text"])
			}
			waitStatus(a, str(t, oc, "id"), str(t, m, "id"), "done")
		})

		t.Run("bad template sends", func(t *testing.T) {
			a.fails("POST", "/v1.0/conversations/"+convID+"/messages", map[string]any{"template": shipped, "text": "and text"}, http.StatusBadRequest, service.ReasonTemplateAlone)
			a.fails("POST", "/v1.0/conversations/"+convID+"/messages", map[string]any{"template": map[string]any{"name": "x"}}, http.StatusBadRequest, service.ReasonInvalidTemplate)
			a.fails("POST", "/v1.0/conversations/"+convID+"/messages", map[string]any{"template": map[string]any{"name": "x", "language": map[string]any{"code": "en"}, "components": []any{map[string]any{"parameters": []any{}}}}},
				http.StatusBadRequest, service.ReasonInvalidTemplate)
			sms := e.newAccount(a, convo.AccountSMS)
			sc := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": sms.ID, "peer": map[string]any{"type": "tel", "target": uniquePhone()}})
			a.fails("POST", "/v1.0/conversations/"+str(t, sc, "id")+"/messages", map[string]any{"template": shipped}, http.StatusBadRequest, service.ReasonTemplateNotSupported)
			if n := len(msgsOf(a, str(t, sc, "id"))); n != 0 {
				t.Errorf("%d messages stored by refused template sends", n)
			}
		})
	})
}

func TestWhatsAppSplitSendRetriesOnlyTheFailedPart(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountWhatsApp)
		user := waID()
		convID := str(t, e.openWindow(t, acc, user), "id")
		photo, doc := "https://cdn.example.com/photo.jpg", "https://cdn.example.com/terms.pdf"
		// Meta fails the image, the second call, once with a 500.
		e.wa.BreakCall(acc.PhoneNumberID, 2)
		m := send(a, convID, map[string]any{"text": "your receipt", "medias": []any{
			map[string]any{"type": "image", "filename": photo}, map[string]any{"type": "file", "filename": doc}}})
		waitStatus(a, convID, str(t, m, "id"), "done")
		var got []string
		for _, s := range e.wa.Sent() {
			got = append(got, s.Type+":"+s.Text+s.Link)
		}
		want := []string{"text:your receipt", "image:" + photo, "document:" + doc}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("the peer received %q, want each part once: %q", got, want)
		}
		if n := e.wa.Calls(acc.PhoneNumberID); n != 4 {
			t.Errorf("%d calls to Meta, want 4 (text, failed image, image again, document)", n)
		}
	})
}

// A Graph API version that is not one stops the server before it starts.
func TestWhatsAppAPIVersionRefused(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(convoBinary(t), "serve", "--listen", "127.0.0.1:0", "--database", "sqlite:"+filepath.Join(dir, "convo.db"))
	cmd.Env = commandEnv("CONVO_WHATSAPP_API_VERSION=26.0")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("convo serve with CONVO_WHATSAPP_API_VERSION=26.0 exited 0:\n%s", out)
	}
	if want := `CONVO_WHATSAPP_API_VERSION: "26.0" is not a Graph API version such as v26.0`; !strings.Contains(string(out), want) {
		t.Errorf("output does not say %q:\n%s", want, out)
	}
}
