package main

// End-to-end tests of flows and activeflows (PRODUCT.md §7): a flow runs on
// the inbound SMS of the accounts that name it, and replies through the fake
// Twilio (internal/fakeprovider), on every backend.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
)

// ---------------------------------------------------------------- environment

// flowEnv is a server whose provider clients talk to fakes.
type flowEnv struct {
	ts    *testServer
	tw    *fakeprovider.Twilio
	admin *api
}

// withFlowWebhooks lets webhook_send reach a receiver on 127.0.0.1 and
// retries a failed delivery after about 50ms.
func withFlowWebhooks() serverOption {
	return func(m *Main) {
		m.Config.WebhookAllowPrivate = true
		m.Config.WebhookRetryBase = 50 * time.Millisecond
	}
}

func newFlowEnv(t *testing.T, b testdb.Backend, opts ...serverOption) *flowEnv {
	t.Helper()
	l, wa, tw := fakeprovider.NewLine(t), fakeprovider.NewWhatsApp(t), fakeprovider.NewTwilio(t)
	opts = append([]serverOption{withProviders(l, wa, tw), withSending(2*time.Second, 10*time.Millisecond, 20*time.Millisecond)}, opts...)
	ts := startServer(t, b, opts...)
	return &flowEnv{ts: ts, tw: tw, admin: ts.as(ts.AdminKey)}
}

// superAdmin logs in as the first-start agent, a project super-admin.
func (e *flowEnv) superAdmin(t *testing.T) *api {
	t.Helper()
	r := call(t, "POST", e.ts.URL()+"/v1.0/auth/login", "", map[string]any{"username": "admin", "password": e.ts.AdminPassword})
	if r.Status != http.StatusOK {
		t.Fatalf("login admin: %d %s", r.Status, r.Body)
	}
	return &api{t: t, base: e.ts.URL(), cred: r.JSON(t)["token"].(string)}
}

// flowSMS is an SMS account and the credentials the fake Twilio knows it by.
type flowSMS struct {
	ID, Hook, SID, Token, Number string
}

// newFlowSMS creates an SMS account of a's customer that runs flowID ("":
// none) and registers it with the fake Twilio.
func newFlowSMS(a *api, tw *fakeprovider.Twilio, flowID string) *flowSMS {
	a.t.Helper()
	acc := &flowSMS{SID: "AC" + randomHexString(16), Token: "token-" + randomHexString(8), Number: uniquePhone()}
	tw.AddNumber(acc.SID, acc.Token, acc.Number)
	body := map[string]any{"type": "sms", "name": "sms", "detail": "flow test", "token": acc.Token,
		"provider_data": map[string]any{"account_sid": acc.SID, "number": acc.Number}}
	if flowID != "" {
		body["message_flow_id"] = flowID
	}
	got := a.ok("POST", "/v1.0/conversation_accounts", body)
	acc.ID, acc.Hook = got["id"].(string), got["hook_url"].(string)
	want := flowID
	if want == "" {
		want = convo.NilID
	}
	if got["message_flow_id"] != want {
		a.t.Fatalf("account message_flow_id is %v, want %s", got["message_flow_id"], want)
	}
	return acc
}

// flowTwilioPost posts form to target signed as Twilio does.
func flowTwilioPost(t testing.TB, target, authToken string, form url.Values) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilioSign(authToken, target, form))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", target, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return &response{Status: res.StatusCode, Header: res.Header, Body: body}
}

// flowInbound delivers an SMS from peer to the account, as Twilio does.
func flowInbound(t testing.TB, acc *flowSMS, peer, text string) {
	t.Helper()
	form := url.Values{"MessageSid": {"SM" + randomHexString(16)}, "AccountSid": {acc.SID}, "From": {peer},
		"To": {acc.Number}, "Body": {text}, "NumMedia": {"0"}, "SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"}}
	if r := flowTwilioPost(t, acc.Hook, acc.Token, form); r.Status != http.StatusOK {
		t.Fatalf("inbound SMS: status %d, want 200\n%s", r.Status, r.Body)
	}
}

// ---------------------------------------------------------------- flows

// flowAction is one action of a flow to create; option may be nil.
func flowAction(id, typ string, option map[string]any) map[string]any {
	a := map[string]any{"id": id, "type": typ}
	if option != nil {
		a["option"] = option
	}
	return a
}

// flowNext sets an action's next_id.
func flowNext(action map[string]any, nextID string) map[string]any {
	action["next_id"] = nextID
	return action
}

func flowSendAction(id, text string) map[string]any {
	return flowAction(id, convo.ActionConversationSend, map[string]any{"text": text})
}

// flowCreate creates a flow and returns its id.
func flowCreate(a *api, actions ...map[string]any) string {
	a.t.Helper()
	f := a.ok("POST", "/v1.0/flows", map[string]any{"name": unique("flow"), "detail": "test", "actions": actions})
	return f["id"].(string)
}

// flowRows returns the rows of a list answer.
func flowRows(t testing.TB, list map[string]any) []map[string]any {
	t.Helper()
	raw, ok := list["result"].([]any)
	if !ok {
		t.Fatalf("no result array in %v", list)
	}
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

// flowConversation returns the one conversation of an account with a peer.
func flowConversation(a *api, acc *flowSMS, peer string) map[string]any {
	a.t.Helper()
	list := flowRows(a.t, a.ok("GET", "/v1.0/conversations?account_id="+acc.ID+"&dialog_id="+url.QueryEscape(peer), nil))
	if len(list) != 1 {
		a.t.Fatalf("%d conversations with %s on account %s, want 1", len(list), peer, acc.ID)
	}
	return list[0]
}

// flowActiveflows lists activeflows with a query string ("" for none).
func flowActiveflows(a *api, query string) []map[string]any {
	a.t.Helper()
	return flowRows(a.t, a.ok("GET", "/v1.0/activeflows"+query, nil))
}

// flowOnlyActiveflow returns the one activeflow of a conversation.
func flowOnlyActiveflow(a *api, convID string) map[string]any {
	a.t.Helper()
	list := flowActiveflows(a, "?reference_id="+convID)
	if len(list) != 1 {
		a.t.Fatalf("%d activeflows of conversation %s, want 1: %v", len(list), convID, list)
	}
	return list[0]
}

// flowWaitEnded waits for an activeflow to end and returns it.
func flowWaitEnded(a *api, id string) map[string]any {
	a.t.Helper()
	var af map[string]any
	eventually(a.t, 15*time.Second, func() error {
		af = a.ok("GET", "/v1.0/activeflows/"+id, nil)
		if af["status"] != convo.ActiveflowEnded {
			return fmt.Errorf("activeflow %s is %v after %v actions, want ended", id, af["status"], af["execute_count"])
		}
		return nil
	})
	return af
}

// flowExecuteCount is an activeflow's execute_count.
func flowExecuteCount(af map[string]any) int {
	n, _ := af["execute_count"].(float64)
	return int(n)
}

// flowOutgoing lists the texts of a conversation's outgoing messages, oldest first.
func flowOutgoing(a *api, convID string) []string {
	a.t.Helper()
	var out []string
	for _, m := range flowRows(a.t, a.ok("GET", "/v1.0/conversations/"+convID+"/messages", nil)) {
		if m["direction"] == convo.DirectionOutgoing {
			out = append(out, m["text"].(string))
		}
	}
	slices.Reverse(out)
	return out
}

// flowSentTo returns what the fake Twilio accepted for a peer.
func flowSentTo(tw *fakeprovider.Twilio, peer string) []fakeprovider.TwilioSend {
	var out []fakeprovider.TwilioSend
	for _, s := range tw.Sent() {
		if s.To == peer {
			out = append(out, s)
		}
	}
	return out
}

// flowBodiesTo returns the bodies sent to a peer, sorted.
func flowBodiesTo(tw *fakeprovider.Twilio, peer string) []string {
	var out []string
	for _, s := range flowSentTo(tw, peer) {
		out = append(out, s.Body)
	}
	sort.Strings(out)
	return out
}

// flowWaitBodies waits until the fake Twilio has sent exactly want to peer, in any order.
func flowWaitBodies(t testing.TB, tw *fakeprovider.Twilio, peer string, want ...string) {
	t.Helper()
	want = slices.Clone(want)
	sort.Strings(want)
	eventually(t, 15*time.Second, func() error {
		if got := flowBodiesTo(tw, peer); !slices.Equal(got, want) {
			return fmt.Errorf("sent to %s: %q, want %q", peer, got, want)
		}
		return nil
	})
}

// ---------------------------------------------------------------- tests

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
		a.fails("GET", "/v1.0/flows/"+flowB, nil, http.StatusNotFound, "FLOW_NOT_FOUND")
		a.fails("PUT", "/v1.0/flows/"+flowB, map[string]any{"name": "mine"}, http.StatusNotFound, "FLOW_NOT_FOUND")
		a.fails("DELETE", "/v1.0/flows/"+flowB, nil, http.StatusNotFound, "FLOW_NOT_FOUND")
		if slices.Contains(ids(t, a.ok("GET", "/v1.0/flows", nil)), flowB) {
			t.Errorf("customer A lists B's flow")
		}
		smsBody := func(flowID string) map[string]any {
			return map[string]any{"type": "sms", "name": "sms", "token": "t", "message_flow_id": flowID,
				"provider_data": map[string]any{"account_sid": "AC" + randomHexString(16), "number": uniquePhone()}}
		}
		foreign := a.fails("POST", "/v1.0/conversation_accounts", smsBody(flowB), http.StatusBadRequest, "FLOW_NOT_FOUND")
		random := a.fails("POST", "/v1.0/conversation_accounts", smsBody(convo.NewID()), http.StatusBadRequest, "FLOW_NOT_FOUND")
		if foreign["message"] != random["message"] {
			t.Errorf("another customer's flow is refused with %q, a random id with %q; want the same answer", foreign["message"], random["message"])
		}
		// on_complete_flow_id is checked the same way, on creation and update.
		for _, ref := range []string{flowB, convo.NewID()} {
			a.fails("POST", "/v1.0/flows", map[string]any{"name": "chained", "on_complete_flow_id": ref}, http.StatusBadRequest, "FLOW_NOT_FOUND")
			a.fails("PUT", "/v1.0/flows/"+flowA, map[string]any{"on_complete_flow_id": ref}, http.StatusBadRequest, "FLOW_NOT_FOUND")
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
		a.fails("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"message_flow_id": flowB}, http.StatusBadRequest, "FLOW_NOT_FOUND")
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
		a.fails("GET", "/v1.0/flows/"+flowA, nil, http.StatusNotFound, "FLOW_NOT_FOUND")
		if slices.Contains(ids(t, a.ok("GET", "/v1.0/flows", nil)), flowA) {
			t.Errorf("a deleted flow is still listed")
		}
		a.fails("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"message_flow_id": flowA}, http.StatusBadRequest, "FLOW_NOT_FOUND")
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

func TestActiveflowAPI(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newFlowEnv(t, b)
		a := e.admin
		_, keyB := e.superAdmin(t).newCustomer()
		bAPI := &api{t: t, base: e.ts.URL(), cred: keyB}
		slow := flowCreate(a, flowAction("", convo.ActionSleep, map[string]any{"duration": 700}),
			flowSendAction("", "late ${voipbin.conversation_message.text}"))
		quick := flowCreate(a, flowSendAction("", "quick"))
		accSlow, accQuick := newFlowSMS(a, e.tw, slow), newFlowSMS(a, e.tw, quick)
		p1, p2 := uniquePhone(), uniquePhone()
		flowInbound(t, accSlow, p1, "one")
		flowInbound(t, accQuick, p2, "x")
		conv1, conv2 := flowConversation(a, accSlow, p1)["id"].(string), flowConversation(a, accQuick, p2)["id"].(string)
		af1, af2 := flowOnlyActiveflow(a, conv1)["id"].(string), flowOnlyActiveflow(a, conv2)["id"].(string)

		// Filters.
		for query, want := range map[string][]string{
			"":                       {af2, af1},
			"?flow_id=" + slow:       {af1},
			"?flow_id=" + quick:      {af2},
			"?reference_id=" + conv2: {af2},
			"?flow_id=" + slow + "&reference_id=" + conv2: {},
			"?flow_id=" + convo.NewID():                   {},
		} {
			if got := ids(t, a.ok("GET", "/v1.0/activeflows"+query, nil)); !slices.Equal(got, want) {
				t.Errorf("GET /activeflows%s = %v, want %v", query, got, want)
			}
		}
		a.fails("GET", "/v1.0/activeflows?flow_id=nope", nil, http.StatusBadRequest, "")

		// Get shows the run's place.
		got := a.ok("GET", "/v1.0/activeflows/"+af1, nil)
		for k, v := range map[string]any{"id": af1, "customer_id": e.ts.CustomerID, "flow_id": slow, "status": convo.ActiveflowRunning,
			"reference_type": "conversation", "reference_id": conv1, "tm_delete": "9999-01-01 00:00:00.000000"} {
			if got[k] != v {
				t.Errorf("activeflow %s is %v, want %v", k, got[k], v)
			}
		}

		// Another customer sees none of it.
		bAPI.fails("GET", "/v1.0/activeflows/"+af1, nil, http.StatusNotFound, "ACTIVEFLOW_NOT_FOUND")
		bAPI.fails("POST", "/v1.0/activeflows/"+af1+"/stop", nil, http.StatusNotFound, "ACTIVEFLOW_NOT_FOUND")
		bAPI.fails("DELETE", "/v1.0/activeflows/"+af1, nil, http.StatusNotFound, "ACTIVEFLOW_NOT_FOUND")
		if got := ids(t, bAPI.ok("GET", "/v1.0/activeflows", nil)); len(got) != 0 {
			t.Errorf("B lists activeflows %v", got)
		}
		if got := ids(t, bAPI.ok("GET", "/v1.0/activeflows?flow_id="+slow, nil)); len(got) != 0 {
			t.Errorf("B lists activeflows %v of A's flow", got)
		}

		// A stopped activeflow never sends. A later run of the same flow
		// wakes after it, so once that run has replied the stopped one would have too.
		stopped := a.ok("POST", "/v1.0/activeflows/"+af1+"/stop", nil)
		if stopped["status"] != convo.ActiveflowEnded {
			t.Fatalf("stopped activeflow is %v", stopped["status"])
		}
		if n := len(flowSentTo(e.tw, p1)); n != 0 {
			t.Fatalf("the slow flow replied (%d) before it was stopped; the test proves nothing", n)
		}
		flowInbound(t, accSlow, p1, "two")
		var af3 string
		for _, id := range ids(t, a.ok("GET", "/v1.0/activeflows?reference_id="+conv1, nil)) {
			if id != af1 {
				af3 = id
			}
		}
		flowWaitEnded(a, af3)
		flowWaitBodies(t, e.tw, p1, "late two")
		if got := a.ok("GET", "/v1.0/activeflows/"+af1, nil); got["status"] != convo.ActiveflowEnded || flowExecuteCount(got) != 1 {
			t.Errorf("stopped activeflow went on: %v after %d actions", got["status"], flowExecuteCount(got))
		}
		if got := flowOutgoing(a, conv1); !slices.Equal(got, []string{"late two"}) {
			t.Errorf("outgoing messages %q, want only the second run's", got)
		}

		// Delete.
		flowWaitEnded(a, af2)
		a.ok("DELETE", "/v1.0/activeflows/"+af2, nil)
		a.fails("GET", "/v1.0/activeflows/"+af2, nil, http.StatusNotFound, "ACTIVEFLOW_NOT_FOUND")
		a.fails("DELETE", "/v1.0/activeflows/"+af2, nil, http.StatusNotFound, "ACTIVEFLOW_NOT_FOUND")
		if got := ids(t, a.ok("GET", "/v1.0/activeflows", nil)); slices.Contains(got, af2) || len(got) != 2 {
			t.Errorf("after delete the list is %v, want the two others", got)
		}

		// Events: created for each run, updated when one ends or is stopped.
		eventIDs := func(cred *api, typ string) map[string]string {
			out := map[string]string{}
			for _, d := range flowRows(t, cred.ok("GET", "/v1.0/webhook_deliveries?type="+typ, nil)) {
				payload, _ := d["payload"].(map[string]any)
				data, _ := payload["data"].(map[string]any)
				if payload["type"] != typ || data == nil {
					t.Errorf("%s delivery payload %v", typ, d["payload"])
					continue
				}
				out[data["id"].(string)] = fmt.Sprint(data["status"])
			}
			return out
		}
		created := eventIDs(a, convo.EventActiveflowCreated)
		for _, id := range []string{af1, af2, af3} {
			if created[id] != convo.ActiveflowRunning {
				t.Errorf("activeflow_created of %s: %q, want one showing it running", id, created[id])
			}
		}
		updated := eventIDs(a, convo.EventActiveflowUpdated)
		for _, id := range []string{af1, af2, af3} {
			if updated[id] != convo.ActiveflowEnded {
				t.Errorf("activeflow_updated of %s: %q, want one showing it ended", id, updated[id])
			}
		}
		if got := eventIDs(bAPI, convo.EventActiveflowCreated); len(got) != 0 {
			t.Errorf("B sees activeflow events %v", got)
		}
	})
}
