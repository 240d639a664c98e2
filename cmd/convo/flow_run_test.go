package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

func TestFlowEchoBot(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newFlowEnv(t, b)
		a := e.admin
		flowID := flowCreate(a, flowSendAction("", "You said: ${voipbin.conversation_message.text}"))
		acc := newFlowSMS(a, e.tw, flowID)
		peer := uniquePhone()

		flowInbound(t, acc, peer, "hello")
		conv := flowConversation(a, acc, peer)
		convID := conv["id"].(string)
		flowWaitBodies(t, e.tw, peer, "You said: hello")
		reply := flowSentTo(e.tw, peer)[0]
		if reply.AccountSID != acc.SID || reply.From != acc.Number {
			t.Errorf("reply went through account %s from %s, want %s from %s", reply.AccountSID, reply.From, acc.SID, acc.Number)
		}

		// The reply is an outgoing message of the conversation, done once Twilio reports it delivered.
		af := flowWaitEnded(a, flowOnlyActiveflow(a, convID)["id"].(string))
		if af["flow_id"] != flowID || af["reference_type"] != "conversation" || af["reference_id"] != convID || flowExecuteCount(af) != 1 {
			t.Errorf("activeflow %v, want flow %s on conversation %s after 1 action", af, flowID, convID)
		}
		var msg map[string]any
		for _, m := range flowRows(t, a.ok("GET", "/v1.0/conversations/"+convID+"/messages", nil)) {
			if m["direction"] == convo.DirectionOutgoing {
				msg = m
			}
		}
		if msg == nil || msg["text"] != "You said: hello" {
			t.Fatalf("outgoing message %v, want the reply", msg)
		}
		if r := flowTwilioPost(t, reply.StatusCallback, acc.Token, url.Values{"MessageSid": {reply.SID}, "MessageStatus": {"delivered"},
			"AccountSid": {acc.SID}, "From": {acc.Number}, "To": {peer}}); r.Status != http.StatusOK {
			t.Fatalf("status callback: %d %s", r.Status, r.Body)
		}
		eventually(t, 10*time.Second, func() error {
			for _, m := range flowRows(t, a.ok("GET", "/v1.0/conversations/"+convID+"/messages", nil)) {
				if m["id"] == msg["id"] && m["status"] != convo.MessageDone {
					return fmt.Errorf("reply is %v, want done", m["status"])
				}
			}
			return nil
		})

		// Every inbound message gets its reply.
		flowInbound(t, acc, peer, "again")
		flowWaitBodies(t, e.tw, peer, "You said: hello", "You said: again")
		if got := flowOutgoing(a, convID); !slices.Equal(got, []string{"You said: hello", "You said: again"}) {
			t.Errorf("outgoing messages %q, want both replies", got)
		}
		if n := len(flowActiveflows(a, "?reference_id="+convID)); n != 2 {
			t.Errorf("%d activeflows on the conversation, want one per inbound message", n)
		}
	})
}

func TestFlowRepliesInOrder(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newFlowEnv(t, b)
		want := []string{"Welcome!", "1. Opening hours", "2. Address", "3. Talk to a person", "Reply with a number."}
		var actions []map[string]any
		for _, text := range want {
			actions = append(actions, flowSendAction("", text))
		}
		acc := newFlowSMS(e.admin, e.tw, flowCreate(e.admin, actions...))
		peers := []string{uniquePhone(), uniquePhone(), uniquePhone()}
		for _, peer := range peers {
			flowInbound(t, acc, peer, "hi")
		}
		for _, peer := range peers {
			flowWaitBodies(t, e.tw, peer, want...)
			var got []string
			for _, s := range flowSentTo(e.tw, peer) {
				got = append(got, s.Body)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s received %q, want the flow's order %q", peer, got, want)
			}
		}
	})
}

func TestFlowKeywordMenu(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newFlowEnv(t, b)
		a := e.admin
		hours, address, menu, end := convo.NewID(), convo.NewID(), convo.NewID(), convo.NewID()
		flowID := flowCreate(a,
			flowAction("", convo.ActionBranch, map[string]any{"variable": "voipbin.conversation_message.text",
				"default_target_id": menu, "target_ids": map[string]any{"1": hours, "2": address}}),
			flowNext(flowSendAction(hours, "Open 9 to 5"), end),
			flowNext(flowSendAction(address, "1 Main Street"), end),
			flowSendAction(menu, "Reply 1 for hours, 2 for our address"),
			flowAction(end, convo.ActionStop, nil),
		)
		acc := newFlowSMS(a, e.tw, flowID)
		ann, bob, cat := uniquePhone(), uniquePhone(), uniquePhone()
		flowInbound(t, acc, ann, "1")
		flowInbound(t, acc, bob, "2")
		flowInbound(t, acc, cat, "what?")
		flowWaitBodies(t, e.tw, ann, "Open 9 to 5")
		flowWaitBodies(t, e.tw, bob, "1 Main Street")
		flowWaitBodies(t, e.tw, cat, "Reply 1 for hours, 2 for our address")
		flowInbound(t, acc, ann, "2")
		flowWaitBodies(t, e.tw, ann, "Open 9 to 5", "1 Main Street")

		// Each run took its branch only: branch, one send, stop.
		for _, peer := range []string{bob, cat} {
			af := flowWaitEnded(a, flowOnlyActiveflow(a, flowConversation(a, acc, peer)["id"].(string))["id"].(string))
			if flowExecuteCount(af) != 3 {
				t.Errorf("activeflow for %s executed %d actions, want 3", peer, flowExecuteCount(af))
			}
		}

		// condition_variable compares numbers as numbers.
		adult, minor := convo.NewID(), convo.NewID()
		ageFlow := flowCreate(a,
			flowAction("", convo.ActionConditionVariable, map[string]any{"condition": ">=", "variable": "voipbin.conversation_message.text",
				"value_type": "number", "value_number": 18, "false_target_id": minor}),
			flowAction(adult, convo.ActionConversationSend, map[string]any{"text": "welcome"}),
			flowAction("", convo.ActionStop, nil),
			flowAction(minor, convo.ActionConversationSend, map[string]any{"text": "too young"}),
		)
		ages := newFlowSMS(a, e.tw, ageFlow)
		old, young := uniquePhone(), uniquePhone()
		flowInbound(t, ages, old, "42")
		flowInbound(t, ages, young, "9")
		flowWaitBodies(t, e.tw, old, "welcome")
		flowWaitBodies(t, e.tw, young, "too young")
	})
}

func TestFlowGotoAndActionLimit(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newFlowEnv(t, b)
		a := e.admin
		run := func(t *testing.T, actions ...map[string]any) (peer, convID string, af map[string]any) {
			t.Helper()
			acc := newFlowSMS(a, e.tw, flowCreate(a, actions...))
			peer = uniquePhone()
			flowInbound(t, acc, peer, "go")
			convID = flowConversation(a, acc, peer)["id"].(string)
			return peer, convID, flowWaitEnded(a, flowOnlyActiveflow(a, convID)["id"].(string))
		}

		t.Run("goto stops at its loop_count", func(t *testing.T) {
			tick := convo.NewID()
			peer, convID, af := run(t, flowSendAction(tick, "tick"),
				flowAction("", convo.ActionGoto, map[string]any{"target_id": tick, "loop_count": 2}))
			if flowExecuteCount(af) != 6 {
				t.Errorf("executed %d actions, want 6 (3 sends, 3 gotos)", flowExecuteCount(af))
			}
			// Every send was queued with its action, so the messages are all there now.
			if got := flowOutgoing(a, convID); !slices.Equal(got, []string{"tick", "tick", "tick"}) {
				t.Errorf("outgoing messages %q, want exactly 3 ticks", got)
			}
			flowWaitBodies(t, e.tw, peer, "tick", "tick", "tick")
		})

		t.Run("a goto with a huge loop_count ends at 100 actions", func(t *testing.T) {
			set := convo.NewID()
			_, _, af := run(t, flowAction(set, convo.ActionVariableSet, map[string]any{"key": "k", "value": "v"}),
				flowAction("", convo.ActionGoto, map[string]any{"target_id": set, "loop_count": 1000000}))
			executed, _ := af["executed_actions"].([]any)
			if flowExecuteCount(af) != convo.MaxExecutedActions || len(executed) != convo.MaxExecutedActions {
				t.Errorf("execute_count %d with %d executed actions, want %d", flowExecuteCount(af), len(executed), convo.MaxExecutedActions)
			}
		})

		t.Run("a next_id cycle ends at 100 actions", func(t *testing.T) {
			ping, set := convo.NewID(), convo.NewID()
			peer, convID, af := run(t, flowNext(flowSendAction(ping, "ping"), set),
				flowNext(flowAction(set, convo.ActionVariableSet, map[string]any{"key": "k", "value": "v"}), ping))
			if flowExecuteCount(af) != convo.MaxExecutedActions {
				t.Errorf("execute_count %d, want %d", flowExecuteCount(af), convo.MaxExecutedActions)
			}
			if got := flowOutgoing(a, convID); len(got) != convo.MaxExecutedActions/2 {
				t.Errorf("%d outgoing messages, want %d (every other action sends)", len(got), convo.MaxExecutedActions/2)
			}
			want := make([]string, convo.MaxExecutedActions/2)
			for i := range want {
				want[i] = "ping"
			}
			flowWaitBodies(t, e.tw, peer, want...)
		})
	})
}
