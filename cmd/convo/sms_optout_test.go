package main

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// An SMS peer who sends STOP (or a synonym) is opted out of that account:
// the message is stored, no flow answers it, every later send is refused at
// once until the peer sends START; Twilio's own refusal (21610) opts the
// peer out as well.
func TestSMSOptOut(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newFlowEnv(t, b)
		a := e.admin
		flowID := flowCreate(a, flowSendAction("", "You said: ${voipbin.conversation_message.text}"))
		acc := newFlowSMS(a, e.tw, flowID)
		other := newFlowSMS(a, e.tw, "")
		optedOut := func(convID string) bool {
			a.t.Helper()
			return a.ok("GET", "/v1.0/conversations/"+convID, nil)["peer_opted_out"] == true
		}
		sendRefused := func(convID string) {
			t.Helper()
			before := len(flowRows(t, a.ok("GET", "/v1.0/conversations/"+convID+"/messages", nil)))
			r := a.do("POST", "/v1.0/conversations/"+convID+"/messages", map[string]any{"text": "anyone there?"})
			wantRefused(t, r, http.StatusConflict, convo.EPrecondition, convo.ReasonPeerOptedOut)
			if after := len(flowRows(t, a.ok("GET", "/v1.0/conversations/"+convID+"/messages", nil))); after != before {
				t.Errorf("a refused send stored a message: %d messages, were %d", after, before)
			}
		}

		t.Run("each keyword, trimmed and in any case, opts out; START opts back in", func(t *testing.T) {
			for _, kw := range []string{"STOP", " stop ", "StopAll", "UNSUBSCRIBE", "cancel", "End", "quit\n"} {
				peer := uniquePhone()
				flowInbound(t, acc, peer, "hello")
				flowWaitBodies(t, e.tw, peer, "You said: hello")
				conv := flowConversation(a, acc, peer)
				convID := conv["id"].(string)
				if conv["peer_opted_out"] != false {
					t.Fatalf("a new peer is opted out: %v", conv)
				}
				flowInbound(t, acc, peer, kw)
				if !optedOut(convID) {
					t.Fatalf("%q did not opt the peer out", kw)
				}
				// Stored as usual, but no flow answers it.
				if msgs := flowRows(t, a.ok("GET", "/v1.0/conversations/"+convID+"/messages", nil)); msgs[0]["text"] != kw || msgs[0]["direction"] != "incoming" {
					t.Errorf("%q: newest message %v, want the keyword stored", kw, msgs[0])
				}
				if n := len(flowActiveflows(a, "?reference_id="+convID)); n != 1 {
					t.Errorf("%q started a flow: %d activeflows, want the one of hello", kw, n)
				}
				sendRefused(convID)
				// Listed conversations say so too, for the inbox.
				for _, c := range flowRows(t, a.ok("GET", "/v1.0/conversations?account_id="+acc.ID+"&dialog_id="+url.QueryEscape(peer), nil)) {
					if c["peer_opted_out"] != true {
						t.Errorf("the listed conversation is not opted out: %v", c)
					}
				}
			}
			peer := uniquePhone()
			flowInbound(t, acc, peer, "STOP")
			convID := flowConversation(a, acc, peer)["id"].(string)
			var answers []string
			for _, kw := range []string{"start", "YES", " Unstop "} {
				flowInbound(t, acc, peer, kw)
				if optedOut(convID) {
					t.Fatalf("%q did not opt the peer back in", kw)
				}
				// An opt-in is a message like any other: the flow answers it.
				answers = append(answers, "You said: "+kw)
				flowWaitBodies(t, e.tw, peer, answers...)
				flowInbound(t, acc, peer, "STOP")
				if !optedOut(convID) {
					t.Fatalf("STOP after %q did not opt out again", kw)
				}
			}
			flowInbound(t, acc, peer, "START")
			flowWaitBodies(t, e.tw, peer, append(answers, "You said: START")...)
			m := send(a, convID, map[string]any{"text": "welcome back"})
			waitTwilio := func() error {
				for _, s := range flowSentTo(e.tw, peer) {
					if s.Body == "welcome back" {
						return nil
					}
				}
				return fmt.Errorf("Twilio did not get the send after START")
			}
			eventually(t, 5*time.Second, waitTwilio)
			if m["status"] == convo.MessageFailed {
				t.Errorf("send after START: %v", m)
			}
		})

		t.Run("a keyword inside a sentence is a message", func(t *testing.T) {
			peer := uniquePhone()
			flowInbound(t, acc, peer, "please stop the delivery at the door")
			flowWaitBodies(t, e.tw, peer, "You said: please stop the delivery at the door")
			if optedOut(flowConversation(a, acc, peer)["id"].(string)) {
				t.Error("a sentence with stop in it opted the peer out")
			}
		})

		t.Run("Twilio's OptOutType opts out a custom keyword", func(t *testing.T) {
			peer := uniquePhone()
			form := url.Values{"MessageSid": {"SM" + randomHexString(16)}, "AccountSid": {acc.SID}, "From": {peer}, "To": {acc.Number},
				"Body": {"ARRET"}, "OptOutType": {"STOP"}, "NumMedia": {"0"}, "SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"}}
			wantStatus(t, flowTwilioPost(t, acc.Hook, acc.Token, form), http.StatusOK)
			if !optedOut(flowConversation(a, acc, peer)["id"].(string)) {
				t.Error("OptOutType STOP did not opt the peer out")
			}
		})

		t.Run("an opt-out is the account's only; flows fail their send", func(t *testing.T) {
			peer := uniquePhone()
			flowInbound(t, acc, peer, "STOP")
			convID := flowConversation(a, acc, peer)["id"].(string)
			mine := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": other.ID, "peer": map[string]any{"type": "tel", "target": peer}})
			if mine["peer_opted_out"] != false {
				t.Errorf("the peer's conversation on another account is opted out: %v", mine)
			}
			send(a, mine["id"].(string), map[string]any{"text": "from the other number"})
			eventually(t, 5*time.Second, func() error {
				if len(flowSentTo(e.tw, peer)) != 1 {
					return fmt.Errorf("Twilio got %d messages to the peer, want the other account's", len(flowSentTo(e.tw, peer)))
				}
				return nil
			})
			af := a.ok("POST", "/v1.0/activeflows", map[string]any{"reference_type": "conversation", "reference_id": convID,
				"actions": []any{flowSendAction("", "a campaign"), flowAction("", convo.ActionVariableSet, map[string]any{"key": "after", "value": "ran"})}})
			af = flowWaitEnded(a, af["id"].(string))
			if flowExecuteCount(af) != 2 {
				t.Errorf("the run executed %d actions, want the refused send and the next", flowExecuteCount(af))
			}
			if got := flowOutgoing(a, convID); len(got) != 0 {
				t.Errorf("the flow stored %q to an opted-out peer", got)
			}
			if n := len(flowSentTo(e.tw, peer)); n != 1 {
				t.Errorf("Twilio got %d messages to the peer, want only the other account's", n)
			}
		})

		t.Run("Twilio's 21610 fails the message and opts the peer out", func(t *testing.T) {
			peer := uniquePhone()
			conv := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": other.ID, "peer": map[string]any{"type": "tel", "target": peer}})
			convID := conv["id"].(string)
			// The peer replied STOP to Twilio directly (e.g. before convo ran).
			e.tw.Unsubscribe(other.Number, peer)
			m := send(a, convID, map[string]any{"text": "hello?"})
			waitStatus(a, convID, m["id"].(string), convo.MessageFailed)
			got := msgOf(a, convID, m["id"].(string))
			if e, _ := got["error"].(map[string]any); e["code"] != "21610" || e["message"] != "Attempt to send to unsubscribed recipient" {
				t.Errorf("error %v, want Twilio's 21610 and its message", got["error"])
			}
			eventually(t, 5*time.Second, func() error {
				if !optedOut(convID) {
					return fmt.Errorf("the peer is not opted out after 21610")
				}
				return nil
			})
			calls := e.tw.Calls(other.SID)
			sendRefused(convID)
			if e.tw.Calls(other.SID) != calls {
				t.Error("a send to the opted-out peer reached Twilio")
			}
		})
	})
}
