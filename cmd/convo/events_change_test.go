package main

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
)

// wantEvent is an event a change must write.
type wantEvent struct {
	Type string
	Data map[string]any
	// IgnoreUpdateTime skips tm_update in the comparison (see its use).
	IgnoreUpdateTime bool
}

func TestEventsForEveryChange(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		tw := fakeprovider.NewTwilio(t)
		ts := startServer(t, b, withWebhooks(), withTwilioAt(tw.URL()))
		rcv := webhooktest.New(t)
		admin := ts.as(ts.AdminKey)
		setWebhook(admin, "POST", rcv.URL(), "every-change")
		agentID, _ := admin.newAgent(convo.PermissionCustomerAgent)

		var want []wantEvent
		// expect checks, right after a change answered, that exactly the
		// events wanted so far are stored: each change writes its events in
		// its own transaction, and no-ops write none.
		expect := func(what string, events ...wantEvent) {
			t.Helper()
			want = append(want, events...)
			got := oldestFirst(listDeliveries(admin, nil))
			if len(got) != len(want) {
				var types []string
				for _, d := range got {
					types = append(types, d.Type)
				}
				t.Fatalf("after %s: %d events %v, want %d", what, len(got), types, len(want))
			}
			for i, w := range want {
				d := got[i]
				data := d.data(t)
				if w.IgnoreUpdateTime {
					data, w.Data = maps.Clone(data), maps.Clone(w.Data)
					delete(data, "tm_update")
					delete(w.Data, "tm_update")
				}
				if d.Type != w.Type || !sameJSON(data, w.Data) {
					t.Fatalf("after %s: event %d is %s %s\nwant %s %v", what, i, d.Type, d.Payload, w.Type, w.Data)
				}
			}
		}

		acc := newSMSHookAccount(admin)
		tw.AddNumber(smsHookAccountSID, acc.Token, acc.Number)
		expect("creating an account", wantEvent{convo.EventAccountCreated, admin.ok("GET", "/v1.0/conversation_accounts/"+acc.ID, nil), false})
		expect("updating an account", wantEvent{convo.EventAccountUpdated,
			admin.ok("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"name": "renamed"}), false})

		conv := admin.newConversation(acc.ID)
		convID := sget(conv, "id")
		expect("creating a conversation", wantEvent{convo.EventConversationCreated, webhookForm(conv), false})
		renamed := admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"name": "first thread"})
		expect("renaming a conversation", wantEvent{convo.EventConversationUpdated, webhookForm(renamed), false})
		if same := admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{}); !sameJSON(same, renamed) {
			t.Errorf("an empty PUT changed the conversation:\n%v\n%v", same, renamed)
		}
		expect("an empty PUT")
		admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"name": "first thread"})
		expect("a PUT that sets the same name")
		assigned := admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"owner_id": agentID})
		if assigned["owner_id"] != agentID || assigned["owner_type"] != "agent" {
			t.Fatalf("assigning answered %v", assigned)
		}
		expect("assigning", wantEvent{convo.EventConversationUpdated, webhookForm(assigned), false})
		unassigned := admin.ok("POST", "/v1.0/conversations/"+convID+"/unassign", nil)
		expect("unassigning", wantEvent{convo.EventConversationUpdated, webhookForm(unassigned), false})
		if w := want[len(want)-1].Data; w["owner_id"] != "" || w["owner_type"] != "" {
			t.Fatalf("unassigned conversation in webhook form: %v", w)
		}
		admin.ok("POST", "/v1.0/conversations/"+convID+"/unassign", nil)
		expect("unassigning an unassigned conversation")

		// Outgoing SMS: created progressing, then the status callback marks it done.
		sent := admin.ok("POST", "/v1.0/conversations/"+convID+"/messages", map[string]any{"text": "hello from the business"})
		if sent["status"] != "progressing" {
			t.Fatalf("sent SMS: status %v, want progressing until the provider reports", sent["status"])
		}
		// Twilio's answer (queued) is the provider's first word: accepted, an
		// update of its own. The created event has every other field as the
		// message is now, but for tm_update.
		var accepted map[string]any
		eventually(t, 5*time.Second, func() error {
			accepted = admin.ok("GET", "/v1.0/conversations/"+convID+"/messages?page_size=1", nil)["result"].([]any)[0].(map[string]any)
			if accepted["provider_status"] != convo.ProviderAccepted || accepted["status"] != "progressing" {
				return fmt.Errorf("the sent SMS is %v / %v", accepted["status"], accepted["provider_status"])
			}
			return nil
		})
		progressing := maps.Clone(accepted)
		progressing["provider_status"] = ""
		expect("sending a message", wantEvent{convo.EventMessageCreated, progressing, true}, wantEvent{convo.EventMessageUpdated, accepted, false})
		sends := tw.Sent()
		if len(sends) == 0 {
			t.Fatal("nothing was sent to the fake Twilio")
		}
		sid, callback := sends[len(sends)-1].SID, sends[len(sends)-1].StatusCallback
		if callback == "" {
			t.Fatal("the send had no StatusCallback")
		}
		code, err := postSigned(http.DefaultClient, callback, acc.Token, url.Values{"MessageSid": {sid}, "MessageStatus": {"delivered"}})
		if err != nil || code != http.StatusOK {
			t.Fatalf("status callback: %d %v", code, err)
		}
		msgs := ids(t, admin.ok("GET", "/v1.0/conversations/"+convID+"/messages", nil))
		done := admin.ok("GET", "/v1.0/conversations/"+convID+"/messages?page_size=1", nil)["result"].([]any)[0].(map[string]any)
		if len(msgs) != 1 || done["status"] != "done" {
			t.Fatalf("after the delivered callback: messages %v, last %v", msgs, done)
		}
		expect("the delivered status callback", wantEvent{convo.EventMessageUpdated, done, false})
		postSigned(http.DefaultClient, callback, acc.Token, url.Values{"MessageSid": {sid}, "MessageStatus": {"sent"}})
		expect("a status callback that would move the message backwards")

		// Inbound SMS from a new peer: a conversation and its first message.
		peer := uniquePhone()
		inboundSMS(t, acc, "SMin"+randomKey(8), peer, "hi from a customer")
		list := admin.ok("GET", "/v1.0/conversations?dialog_id="+url.QueryEscape(peer), nil)["result"].([]any)
		if len(list) != 1 {
			t.Fatalf("inbound SMS: %d conversations with the peer", len(list))
		}
		inConv := list[0].(map[string]any)
		inMsgs := admin.ok("GET", "/v1.0/conversations/"+sget(inConv, "id")+"/messages", nil)["result"].([]any)
		if len(inMsgs) != 1 {
			t.Fatalf("inbound SMS: %d messages", len(inMsgs))
		}
		// The conversation as created: its first message came after.
		created := webhookForm(inConv)
		created["last_message"], created["tm_last_message"] = nil, neverTime
		expect("an inbound SMS from a new peer",
			wantEvent{convo.EventConversationCreated, created, false},
			wantEvent{convo.EventMessageCreated, inMsgs[0].(map[string]any), false})
		inboundSMS(t, acc, "SMin"+randomKey(8), peer, "and another")
		second := admin.ok("GET", "/v1.0/conversations/"+sget(inConv, "id")+"/messages?page_size=1", nil)["result"].([]any)[0].(map[string]any)
		expect("an inbound SMS in an existing conversation", wantEvent{convo.EventMessageCreated, second, false})

		deleted := admin.ok("DELETE", "/v1.0/conversations/"+convID, nil)
		expect("deleting a conversation", wantEvent{convo.EventConversationDeleted, webhookForm(deleted), false})
		accDeleted := admin.ok("DELETE", "/v1.0/conversation_accounts/"+acc.ID, nil)
		expect("deleting an account", wantEvent{convo.EventAccountDeleted, accDeleted, false})

		// Every stored event reaches the receiver with the stored body.
		stored := oldestFirst(listDeliveries(admin, nil))
		eventually(t, 10*time.Second, func() error {
			for _, d := range stored {
				if len(rcv.ByID(d.ID)) == 0 {
					return fmt.Errorf("event %s (%s) not received; got %s", d.ID, d.Type, rcv.Summary())
				}
			}
			return nil
		})
		for _, d := range stored {
			r := rcv.ByID(d.ID)[0]
			if r.Type != d.Type || !sameJSON(r.Body, d.Payload) {
				t.Errorf("event %s: received %s, stored %s", d.ID, r.Body, d.Payload)
			}
		}
	})
}
