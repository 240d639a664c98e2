package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
)

func TestFlowWebhookSend(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newFlowEnv(t, b, withFlowWebhooks())
		a := e.admin
		const secret = "flow-webhook-secret"
		a.ok("PUT", "/v1.0/customer", map[string]any{"webhook_secret": secret})
		recv := webhooktest.New(t)
		// The first request fails, so that the retry is seen.
		var answered atomic.Int32
		recv.SetAnswer(func(webhooktest.Request, int) (int, http.Header) {
			if answered.Add(1) == 1 {
				return http.StatusInternalServerError, nil
			}
			return http.StatusOK, nil
		})
		flowID := flowCreate(a,
			flowAction("", convo.ActionWebhookSend, map[string]any{"uri": recv.URL() + "/json?src=flow", "method": "PUT", "data_type": "application/json",
				"data": map[string]any{"text": "${voipbin.conversation_message.text}", "peer": "${voipbin.conversation.peer.target}"}}),
			flowAction("", convo.ActionWebhookSend, map[string]any{"uri": recv.URL() + "/text", "method": "POST", "data_type": "text/plain",
				"data": "${voipbin.conversation.peer.target} wrote ${voipbin.conversation_message.text}"}),
			flowSendAction("", "noted"),
		)
		acc := newFlowSMS(a, e.tw, flowID)
		peer := uniquePhone()
		text := `say "hi" & <bye>`
		flowInbound(t, acc, peer, text)
		// The run does not wait for the webhooks.
		flowWaitBodies(t, e.tw, peer, "noted")

		var jsonReqs []webhooktest.Request
		eventually(t, 15*time.Second, func() error {
			if jsonReqs = recv.OnPath("/json"); len(jsonReqs) < 2 || len(recv.OnPath("/text")) < 1 {
				return fmt.Errorf("receiver got %d JSON and %d text requests, want a retried JSON one and a text one", len(jsonReqs), len(recv.OnPath("/text")))
			}
			return nil
		})
		checkSigned := func(r webhooktest.Request) {
			t.Helper()
			if err := webhooktest.CheckVoIPbinSignature(r, secret); err != nil {
				t.Errorf("%s: %v", r.Path, err)
			}
		}
		for _, r := range jsonReqs {
			checkSigned(r)
			var body map[string]any
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatalf("JSON webhook body %q: %v", r.Body, err)
			}
			if want := map[string]any{"text": text, "peer": peer}; !flowJSONEqual(body, want) {
				t.Errorf("JSON webhook body %v, want %v", body, want)
			}
			if r.Method != http.MethodPut || r.ContentType() != "application/json" {
				t.Errorf("JSON webhook: %s with %q, want PUT with application/json", r.Method, r.ContentType())
			}
		}
		if id0, id1 := jsonReqs[0].Header.Get("webhook-id"), jsonReqs[1].Header.Get("webhook-id"); id0 == "" || id0 != id1 {
			t.Errorf("webhook-id %q then %q on the retry, want one stable id", id0, id1)
		}
		tr := recv.OnPath("/text")[0]
		checkSigned(tr)
		if want := peer + " wrote " + text; string(tr.Body) != want || tr.Method != http.MethodPost || tr.ContentType() != "text/plain" {
			t.Errorf("text webhook: %s %q %q, want POST text/plain %q", tr.Method, tr.ContentType(), tr.Body, want)
		}
		// The deliveries list shows the text request's body as a string.
		var shown bool
		for _, d := range rows(t, a.ok("GET", "/v1.0/webhook_deliveries?type=webhook_send", nil)) {
			if d["payload"] == peer+" wrote "+text {
				shown = true
			}
		}
		if !shown {
			t.Errorf("the deliveries list does not show the text webhook's body as a string")
		}
	})
}

func flowJSONEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestFlowAssignment(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newFlowEnv(t, b)
		a := e.admin
		agentID, _ := a.newAgent(convo.PermissionCustomerAgent)
		flowID := flowCreate(a, flowAction("", convo.ActionSleep, map[string]any{"duration": 900}),
			flowSendAction("", "after sleep: ${voipbin.conversation_message.text}"))
		acc := newFlowSMS(a, e.tw, flowID)
		peer := uniquePhone()

		flowInbound(t, acc, peer, "first")
		convID := flowConversation(a, acc, peer)["id"].(string)
		sleeping := flowOnlyActiveflow(a, convID)["id"].(string)
		eventually(t, 10*time.Second, func() error {
			if af := a.ok("GET", "/v1.0/activeflows/"+sleeping, nil); flowExecuteCount(af) != 1 {
				return fmt.Errorf("activeflow executed %d actions, want the sleep only", flowExecuteCount(af))
			}
			return nil
		})
		if conv := a.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"owner_id": agentID}); conv["owner_type"] != convo.OwnerAgent {
			t.Fatalf("assigned conversation has owner_type %v", conv["owner_type"])
		}
		if af := a.ok("GET", "/v1.0/activeflows/"+sleeping, nil); af["status"] != convo.ActiveflowRunning || len(flowSentTo(e.tw, peer)) != 0 {
			t.Fatalf("the activeflow was not sleeping when the conversation was assigned (%v), the test proves nothing", af["status"])
		}

		// An assigned conversation starts no flow.
		flowInbound(t, acc, peer, "second")
		if n := len(flowActiveflows(a, "?reference_id="+convID)); n != 1 {
			t.Errorf("%d activeflows after a message to an assigned conversation, want still 1", n)
		}
		// The sleeping run still completes.
		flowWaitEnded(a, sleeping)
		flowWaitBodies(t, e.tw, peer, "after sleep: first")
		if got := flowOutgoing(a, convID); !slices.Equal(got, []string{"after sleep: first"}) {
			t.Errorf("outgoing messages %q, want only the first run's reply", got)
		}

		// Unassigned, the next message triggers the flow again.
		if conv := a.ok("POST", "/v1.0/conversations/"+convID+"/unassign", nil); conv["owner_type"] != "" {
			t.Fatalf("unassigned conversation has owner_type %v", conv["owner_type"])
		}
		flowInbound(t, acc, peer, "third")
		if n := len(flowActiveflows(a, "?reference_id="+convID)); n != 2 {
			t.Errorf("%d activeflows after unassigning and a new message, want 2", n)
		}
		flowWaitBodies(t, e.tw, peer, "after sleep: first", "after sleep: third")
	})
}

func TestFlowSleepSurvivesCrash(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		tw := fakeprovider.NewTwilio(t)
		// The real binary, killed with SIGKILL and started again on the same address and database.
		addr := freeAddr(t)
		p := newKillableServe(t, b.DSN, addr, "http://"+addr)
		p.env = append(p.env, "CONVO_TWILIO_API_URL="+tw.URL())
		if err := p.start(convoBinary(t)); err != nil {
			t.Fatal(err)
		}
		a := &api{t: t, base: p.base, cred: p.accessKey()}
		flowID := flowCreate(a, flowAction("", convo.ActionSleep, map[string]any{"duration": 1500}),
			flowSendAction("", "You said: ${voipbin.conversation_message.text}"))
		acc := newFlowSMS(a, tw, flowID)
		peer := uniquePhone()
		flowInbound(t, acc, peer, "hello")
		convID := flowConversation(a, acc, peer)["id"].(string)
		afID := flowOnlyActiveflow(a, convID)["id"].(string)
		eventually(t, 10*time.Second, func() error {
			if af := a.ok("GET", "/v1.0/activeflows/"+afID, nil); flowExecuteCount(af) != 1 {
				return fmt.Errorf("activeflow executed %d actions, want the sleep only", flowExecuteCount(af))
			}
			return nil
		})
		p.kill()
		if n := len(flowSentTo(tw, peer)); n != 0 {
			t.Fatalf("the reply was sent (%d) before the kill; the sleep was not interrupted", n)
		}

		if err := p.start(convoBinary(t)); err != nil {
			t.Fatal(err)
		}
		af := flowWaitEnded(a, afID)
		flowWaitBodies(t, tw, peer, "You said: hello")
		var types []string
		executed, _ := af["executed_actions"].([]any)
		for _, x := range executed {
			types = append(types, x.(map[string]any)["type"].(string))
		}
		if flowExecuteCount(af) != 2 || !slices.Equal(types, []string{convo.ActionSleep, convo.ActionConversationSend}) {
			t.Errorf("after the restart the activeflow executed %v (count %d), want the sleep then one send", types, flowExecuteCount(af))
		}
		if got := flowOutgoing(a, convID); !slices.Equal(got, []string{"You said: hello"}) {
			t.Errorf("outgoing messages %q, want the reply once", got)
		}
		p.kill()
		if n := len(flowSentTo(tw, peer)); n != 1 {
			t.Errorf("the provider got the reply %d times, want once", n)
		}
	})
}
