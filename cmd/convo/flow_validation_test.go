package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

func TestFlowValidationAndTenancy(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newFlowEnv(t, b)
		a := e.admin
		_, keyB := e.superAdmin(t).newCustomer()
		bAPI := &api{t: t, base: e.ts.URL(), cred: keyB}

		// Missing ids are generated; the flow reads back as created.
		created := a.ok("POST", "/v1.0/flows", map[string]any{"name": "menu", "detail": "d", "actions": []any{
			map[string]any{"type": "conversation_send", "option": map[string]any{"text": "hi"}},
			map[string]any{"type": "stop"},
		}})
		flowA := created["id"].(string)
		acts, _ := created["actions"].([]any)
		if len(acts) != 2 {
			t.Fatalf("created flow has actions %v", created["actions"])
		}
		id0, _ := acts[0].(map[string]any)["id"].(string)
		id1, _ := acts[1].(map[string]any)["id"].(string)
		if _, err := convo.ParseID(id0); err != nil || convo.IsNilID(id0) || id0 == id1 {
			t.Errorf("generated action ids %q and %q, want two distinct UUIDs", id0, id1)
		}
		if got := a.ok("GET", "/v1.0/flows/"+flowA, nil); !flowJSONEqual(got, created) {
			t.Errorf("GET flow\n%v\nwant\n%v", got, created)
		}
		if got := a.ok("PUT", "/v1.0/flows/"+flowA, map[string]any{"name": "renamed"}); got["name"] != "renamed" || !flowJSONEqual(got["actions"], created["actions"]) {
			t.Errorf("PUT name: %v", got)
		}

		// Invalid actions are refused with the index of the bad one.
		dup, other := convo.NewID(), convo.NewID()
		for name, actions := range map[string][]any{
			"duplicate ids":   {flowAction(dup, "stop", nil), flowAction("", "stop", nil), flowAction(dup, "stop", nil)},
			"non-UUID id":     {flowAction("", "stop", nil), flowAction("", "stop", nil), flowAction("step-3", "stop", nil)},
			"missing next_id": {flowAction("", "stop", nil), flowAction("", "stop", nil), flowNext(flowAction("", "stop", nil), other)},
			"missing goto":    {flowAction("", "stop", nil), flowAction("", "stop", nil), flowAction("", "goto", map[string]any{"target_id": other})},
			"sleep abc":       {flowAction("", "stop", nil), flowAction("", "stop", nil), flowAction("", "sleep", map[string]any{"duration": "abc"})},
			"condition =~": {flowAction("", "stop", nil), flowAction("", "stop", nil),
				flowAction("", "condition_variable", map[string]any{"condition": "=~", "variable": "v", "value_string": "x"})},
		} {
			refused := a.fails("POST", "/v1.0/flows", map[string]any{"name": "bad", "actions": actions}, http.StatusBadRequest, "INVALID_ACTION")
			if msg, _ := refused["message"].(string); !strings.Contains(msg, "action 2") {
				t.Errorf("%s: message %q does not name action 2", name, msg)
			}
			a.fails("PUT", "/v1.0/flows/"+flowA, map[string]any{"actions": actions}, http.StatusBadRequest, "INVALID_ACTION")
		}
		if got := a.ok("GET", "/v1.0/flows/"+flowA, nil); !flowJSONEqual(got["actions"], created["actions"]) {
			t.Errorf("a refused update changed the actions to %v", got["actions"])
		}

		// Only admins and managers manage flows.
		_, agentToken := a.newAgent(convo.PermissionCustomerAgent)
		_, managerToken := a.newAgent(convo.PermissionCustomerManager)
		plain := &api{t: t, base: e.ts.URL(), cred: agentToken}
		plain.fails("GET", "/v1.0/flows", nil, http.StatusForbidden, "")
		plain.fails("POST", "/v1.0/flows", map[string]any{"name": "x"}, http.StatusForbidden, "")
		plain.fails("GET", "/v1.0/activeflows", nil, http.StatusForbidden, "")
		manager := &api{t: t, base: e.ts.URL(), cred: managerToken}
		if !slices.Contains(ids(t, manager.ok("GET", "/v1.0/flows", nil)), flowA) {
			t.Errorf("a manager does not see the customer's flow")
		}

		// Another customer's flow is invisible and cannot be run.
		flowB := flowCreate(bAPI, flowSendAction("", "B's bot"))
		a.fails("GET", "/v1.0/flows/"+flowB, nil, http.StatusNotFound, convo.ReasonFlowNotFound)
		a.fails("PUT", "/v1.0/flows/"+flowB, map[string]any{"name": "mine"}, http.StatusNotFound, convo.ReasonFlowNotFound)
		a.fails("DELETE", "/v1.0/flows/"+flowB, nil, http.StatusNotFound, convo.ReasonFlowNotFound)
		if slices.Contains(ids(t, a.ok("GET", "/v1.0/flows", nil)), flowB) {
			t.Errorf("customer A lists B's flow")
		}
		smsBody := func(flowID string) map[string]any {
			return map[string]any{"type": "sms", "name": "sms", "token": "t", "message_flow_id": flowID,
				"provider_data": map[string]any{"account_sid": "AC" + randomHexString(16), "number": uniquePhone()}}
		}
		foreign := a.fails("POST", "/v1.0/conversation_accounts", smsBody(flowB), http.StatusBadRequest, convo.ReasonFlowNotFound)
		random := a.fails("POST", "/v1.0/conversation_accounts", smsBody(convo.NewID()), http.StatusBadRequest, convo.ReasonFlowNotFound)
		if foreign["message"] != random["message"] {
			t.Errorf("another customer's flow is refused with %q, a random id with %q; want the same answer", foreign["message"], random["message"])
		}
		// on_complete_flow_id is checked the same way, on creation and update.
		for _, ref := range []string{flowB, convo.NewID()} {
			a.fails("POST", "/v1.0/flows", map[string]any{"name": "chained", "on_complete_flow_id": ref}, http.StatusBadRequest, convo.ReasonFlowNotFound)
			a.fails("PUT", "/v1.0/flows/"+flowA, map[string]any{"on_complete_flow_id": ref}, http.StatusBadRequest, convo.ReasonFlowNotFound)
		}
		if got := a.ok("GET", "/v1.0/flows/"+flowA, nil); got["on_complete_flow_id"] != convo.NilID {
			t.Errorf("a refused update set on_complete_flow_id to %v", got["on_complete_flow_id"])
		}
		chained := a.ok("POST", "/v1.0/flows", map[string]any{"name": "chained", "on_complete_flow_id": flowA})
		if chained["on_complete_flow_id"] != flowA {
			t.Errorf("on_complete_flow_id naming one's own flow: %v, want %s", chained["on_complete_flow_id"], flowA)
		}
		a.ok("PUT", "/v1.0/flows/"+str(t, chained, "id"), map[string]any{"on_complete_flow_id": convo.NilID})
		acc := newFlowSMS(a, e.tw, "")
		a.fails("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"message_flow_id": flowB}, http.StatusBadRequest, convo.ReasonFlowNotFound)
		if got := a.ok("GET", "/v1.0/conversation_accounts/"+acc.ID, nil); got["message_flow_id"] != convo.NilID {
			t.Errorf("a refused update set message_flow_id to %v", got["message_flow_id"])
		}

		// A flow in use cannot be deleted; once no live account uses it, it can.
		a.ok("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"message_flow_id": flowA})
		other2 := newFlowSMS(a, e.tw, flowA)
		a.fails("DELETE", "/v1.0/flows/"+flowA, nil, http.StatusConflict, "FLOW_IN_USE")
		a.ok("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"message_flow_id": convo.NilID})
		a.fails("DELETE", "/v1.0/flows/"+flowA, nil, http.StatusConflict, "FLOW_IN_USE")
		a.ok("DELETE", "/v1.0/conversation_accounts/"+other2.ID, nil)
		a.ok("DELETE", "/v1.0/flows/"+flowA, nil)
		a.fails("GET", "/v1.0/flows/"+flowA, nil, http.StatusNotFound, convo.ReasonFlowNotFound)
		if slices.Contains(ids(t, a.ok("GET", "/v1.0/flows", nil)), flowA) {
			t.Errorf("a deleted flow is still listed")
		}
		a.fails("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"message_flow_id": flowA}, http.StatusBadRequest, convo.ReasonFlowNotFound)
	})
}

func TestFlowSendTenancyAndVariables(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newFlowEnv(t, b)
		a := e.admin
		_, keyB := e.superAdmin(t).newCustomer()
		bAPI := &api{t: t, base: e.ts.URL(), cred: keyB}
		accB := newFlowSMS(bAPI, e.tw, "")
		peerB := uniquePhone()
		convB := bAPI.ok("POST", "/v1.0/conversations", map[string]any{"account_id": accB.ID, "peer": map[string]any{"type": "tel", "target": peerB}})["id"].(string)

		// A's own other conversation may be messaged by id.
		accA := newFlowSMS(a, e.tw, "")
		peerA2 := uniquePhone()
		convA2 := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": accA.ID, "peer": map[string]any{"type": "tel", "target": peerA2}})["id"].(string)

		vars := []string{"voipbin.conversation.id", "voipbin.conversation.owner_id",
			"voipbin.conversation.self.type", "voipbin.conversation.self.target", "voipbin.conversation.self.target_name",
			"voipbin.conversation.self.name", "voipbin.conversation.self.detail",
			"voipbin.conversation.peer.type", "voipbin.conversation.peer.target", "voipbin.conversation.peer.target_name",
			"voipbin.conversation.peer.name", "voipbin.conversation.peer.detail",
			"voipbin.conversation_message.id", "voipbin.conversation_message.text", "voipbin.conversation_message.direction",
			"voipbin.activeflow.id", "voipbin.flow.id", "unknown"}
		var template []string
		for _, v := range vars {
			template = append(template, v+"=[${"+v+"}]")
		}
		flowID := flowCreate(a,
			flowAction("", convo.ActionConversationSend, map[string]any{"conversation_id": convB, "text": "leaked to B"}),
			flowAction("", convo.ActionConversationSend, map[string]any{"conversation_id": convA2, "text": "forwarded: ${voipbin.conversation_message.text}"}),
			flowAction("", convo.ActionVariableSet, map[string]any{"key": "greeting", "value": "Hi ${voipbin.conversation.peer.target}"}),
			flowSendAction("", "${greeting}! "+strings.Join(template, " ")),
		)
		acc := newFlowSMS(a, e.tw, flowID)
		peer := uniquePhone()
		flowInbound(t, acc, peer, "hello there")
		conv := flowConversation(a, acc, peer)
		convID := conv["id"].(string)
		af := flowWaitEnded(a, flowOnlyActiveflow(a, convID)["id"].(string))
		if flowExecuteCount(af) != 4 {
			t.Errorf("activeflow executed %d actions, want all 4 (the refused send does not stop the run)", flowExecuteCount(af))
		}

		var inbound map[string]any
		for _, m := range flowRows(t, a.ok("GET", "/v1.0/conversations/"+convID+"/messages", nil)) {
			if m["direction"] == convo.DirectionIncoming {
				inbound = m
			}
		}
		self, peerAddr := conv["self"].(map[string]any), conv["peer"].(map[string]any)
		want := map[string]string{
			"voipbin.conversation.id": convID, "voipbin.conversation.owner_id": convo.NilID,
			"voipbin.conversation_message.id": inbound["id"].(string), "voipbin.conversation_message.text": "hello there",
			"voipbin.conversation_message.direction": convo.DirectionIncoming,
			"voipbin.activeflow.id":                  af["id"].(string), "voipbin.flow.id": flowID, "unknown": "",
		}
		for _, k := range []string{"type", "target", "target_name", "name", "detail"} {
			want["voipbin.conversation.self."+k] = self[k].(string)
			want["voipbin.conversation.peer."+k] = peerAddr[k].(string)
		}
		var expected []string
		for _, v := range vars {
			expected = append(expected, v+"=["+want[v]+"]")
		}
		if want["voipbin.conversation.peer.target"] != peer || want["voipbin.conversation.self.target"] != acc.Number || want["voipbin.conversation.peer.type"] != "tel" {
			t.Fatalf("conversation addresses %v and %v do not match the SMS", self, peerAddr)
		}
		flowWaitBodies(t, e.tw, peer, "Hi "+peer+"! "+strings.Join(expected, " "))
		flowWaitBodies(t, e.tw, peerA2, "forwarded: hello there")
		if got := flowOutgoing(bAPI, convB); len(got) != 0 {
			t.Errorf("B's conversation has outgoing messages %q from A's flow", got)
		}
		if got := flowSentTo(e.tw, peerB); len(got) != 0 {
			t.Errorf("B's peer got %v from A's flow", got)
		}
	})
}
