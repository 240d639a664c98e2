package main

// End-to-end tests of POST /activeflows, the per-activeflow webhook and
// on-complete chains (PRODUCT.md §7): VoIPbin's body, convo's conversation
// reference, on every backend.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// startRun posts an activeflow and returns it.
func startRun(a *api, body map[string]any) map[string]any {
	a.t.Helper()
	return a.ok("POST", "/v1.0/activeflows", body)
}

func TestActiveflowStartByAPI(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newFlowEnv(t, b)
		a := e.admin
		acc := newFlowSMS(a, e.tw, "")
		peer := uniquePhone()
		conv := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": peer}})
		convID := conv["id"].(string)

		t.Run("a flow on a conversation sends there and sees its variables", func(t *testing.T) {
			a := a.in(t)
			flowID := flowCreate(a, flowSendAction("", "Hi ${voipbin.conversation.peer.target}, ${campaign} on ${voipbin.conversation.id} [${voipbin.conversation_message.text}]"))
			af := startRun(a, map[string]any{"flow_id": flowID, "reference_type": "conversation", "reference_id": convID,
				"variables": map[string]any{"campaign": "summer-2026", "voipbin.conversation.id": "forged"}})
			if af["flow_id"] != flowID || af["reference_type"] != "conversation" || af["reference_id"] != convID || af["status"] != convo.ActiveflowRunning ||
				af["reference_activeflow_id"] != convo.NilID || af["on_complete_flow_id"] != convo.NilID || af["forward_action_id"] != convo.NilID {
				t.Errorf("started activeflow %v, want flow %s running on conversation %s", af, flowID, convID)
			}
			flowWaitBodies(t, e.tw, peer, fmt.Sprintf("Hi %s, summer-2026 on %s []", peer, convID))
			flowWaitEnded(a, af["id"].(string))
		})

		t.Run("inline actions with the client's id", func(t *testing.T) {
			a := a.in(t)
			id := convo.NewID()
			af := startRun(a, map[string]any{"id": id, "reference_type": "conversation", "reference_id": convID, "actions": []any{
				flowAction("", convo.ActionVariableSet, map[string]any{"key": "k", "value": "inline"}),
				flowSendAction("", "${k}"),
			}})
			if af["id"] != id || af["flow_id"] != convo.NilID {
				t.Errorf("activeflow %v, want id %s and no flow", af, id)
			}
			flowWaitEnded(a, id)
			eventually(t, 15*time.Second, func() error {
				if got := flowBodiesTo(e.tw, peer); len(got) != 2 || !strings.Contains(strings.Join(got, "|"), "inline") {
					return fmt.Errorf("sent to %s: %q, want the inline run's message too", peer, got)
				}
				return nil
			})
			before := len(flowActiveflows(a, ""))
			a.fails("POST", "/v1.0/activeflows", map[string]any{"id": id, "actions": []any{flowAction("", convo.ActionStop, nil)}}, http.StatusConflict, convo.ReasonActiveflowExists)
			if n := len(flowActiveflows(a, "")); n != before {
				t.Errorf("%d activeflows after a duplicate id, want %d", n, before)
			}
		})

		t.Run("without a reference the run is an api run", func(t *testing.T) {
			a := a.in(t)
			af := startRun(a, map[string]any{"actions": []any{flowAction("", convo.ActionVariableSet, map[string]any{"key": "a", "value": "b"})}})
			if af["reference_type"] != convo.ReferenceAPI || af["reference_id"] != convo.NilID {
				t.Errorf("activeflow %v, want reference api and the nil UUID", af)
			}
			if ended := flowWaitEnded(a, af["id"].(string)); flowExecuteCount(ended) != 1 {
				t.Errorf("api run executed %d actions, want 1", flowExecuteCount(ended))
			}
		})

		t.Run("bad bodies change nothing", func(t *testing.T) {
			a := a.in(t)
			superAdmin := e.superAdmin(t)
			_, otherKey := superAdmin.newCustomer()
			other := e.ts.as(otherKey).in(t)
			otherFlow := flowCreate(other, flowSendAction("", "x"))
			otherAcc := newFlowSMS(other, e.tw, "")
			otherConv := other.newConversation(otherAcc.ID)["id"].(string)
			flowID := flowCreate(a, flowSendAction("", "x"))
			stop := []any{flowAction("", convo.ActionStop, nil)}
			many := map[string]any{}
			for i := range convo.MaxActiveflowVariables + 1 {
				many[fmt.Sprint("k", i)] = "v"
			}
			before := len(flowActiveflows(a, ""))
			for _, c := range []struct {
				name   string
				body   any
				code   int
				reason string
			}{
				{"both flow_id and actions", map[string]any{"flow_id": flowID, "actions": stop}, 400, "FLOW_OR_ACTIONS"},
				{"neither", map[string]any{"variables": map[string]any{"a": "b"}}, 400, "FLOW_OR_ACTIONS"},
				{"empty actions", map[string]any{"actions": []any{}}, 400, "FLOW_OR_ACTIONS"},
				{"bad flow_id", map[string]any{"flow_id": "nope"}, 400, convo.ReasonInvalidID},
				{"bad id", map[string]any{"id": "nope", "actions": stop}, 400, convo.ReasonInvalidID},
				{"bad action", map[string]any{"actions": []any{flowAction("", convo.ActionGoto, map[string]any{"target_id": convo.NewID()})}}, 400, "INVALID_ACTION"},
				{"number variable", map[string]any{"actions": stop, "variables": map[string]any{"n": 1}}, 400, convo.ReasonInvalidJSON},
				{"too many variables", map[string]any{"actions": stop, "variables": many}, 400, convo.ReasonTooLong},
				{"long variable name", map[string]any{"actions": stop, "variables": map[string]any{strings.Repeat("k", 256): "v"}}, 400, convo.ReasonTooLong},
				{"empty variable name", map[string]any{"actions": stop, "variables": map[string]any{" ": "v"}}, 400, "INVALID_VARIABLES"},
				{"long variable value", map[string]any{"actions": stop, "variables": map[string]any{"k": strings.Repeat("v", 32<<10+1)}}, 400, convo.ReasonTooLong},
				{"bad webhook_uri", map[string]any{"actions": stop, "webhook_uri": "ftp://example.com"}, 400, "INVALID_WEBHOOK_URI"},
				{"bad webhook_method", map[string]any{"actions": stop, "webhook_uri": "https://example.com", "webhook_method": "PATCH"}, 400, "INVALID_WEBHOOK_METHOD"},
				{"unknown reference_type", map[string]any{"actions": stop, "reference_type": "call", "reference_id": convID}, 400, "INVALID_REFERENCE"},
				{"reference_id without type", map[string]any{"actions": stop, "reference_id": convID}, 400, "INVALID_REFERENCE"},
				{"bad reference_id", map[string]any{"actions": stop, "reference_type": "conversation", "reference_id": "nope"}, 400, convo.ReasonInvalidID},
				{"unknown conversation", map[string]any{"actions": stop, "reference_type": "conversation", "reference_id": convo.NewID()}, 404, convo.ReasonConversationNotFound},
				{"another customer's conversation", map[string]any{"actions": stop, "reference_type": "conversation", "reference_id": otherConv}, 404, convo.ReasonConversationNotFound},
				{"unknown flow", map[string]any{"flow_id": convo.NewID()}, 404, convo.ReasonFlowNotFound},
				{"another customer's flow", map[string]any{"flow_id": otherFlow}, 404, convo.ReasonFlowNotFound},
			} {
				t.Run(c.name, func(t *testing.T) { a.in(t).fails("POST", "/v1.0/activeflows", c.body, c.code, c.reason) })
			}
			if n := len(flowActiveflows(a, "")); n != before {
				t.Errorf("%d activeflows after refused bodies, want %d", n, before)
			}
			if n := len(flowActiveflows(other, "")); n != 0 {
				t.Errorf("the other customer has %d activeflows, want none", n)
			}
		})

		t.Run("permissions follow flows", func(t *testing.T) {
			a := a.in(t)
			flowID := flowCreate(a, flowAction("", convo.ActionStop, nil))
			_, agentToken := a.newAgent(convo.PermissionCustomerAgent)
			e.ts.as(agentToken).fails("POST", "/v1.0/activeflows", map[string]any{"flow_id": flowID}, http.StatusForbidden, "")
			_, managerToken := a.newAgent(convo.PermissionCustomerManager)
			flowWaitEnded(a, startRun(e.ts.as(managerToken), map[string]any{"flow_id": flowID})["id"].(string))
		})
	})
}

func TestActiveflowWebhook(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		t.Run("the run's own webhook gets its signed events", func(t *testing.T) {
			ts := startServer(t, b, withWebhooks())
			admin := ts.as(ts.AdminKey)
			customerRcv, runRcv := webhooktest.New(t), webhooktest.New(t)
			secret := "run-secret-" + randomKey(8)
			setWebhook(admin, "POST", customerRcv.URL(), secret)
			verifier, _ := standardwebhooks.NewWebhookRaw([]byte(secret))
			af := startRun(admin, map[string]any{"actions": []any{flowAction("", convo.ActionVariableSet, map[string]any{"key": "a", "value": "b"})},
				"webhook_uri": runRcv.URL() + "/run", "webhook_method": "PUT"})
			id := af["id"].(string)
			if af["webhook_uri"] != runRcv.URL()+"/run" || af["webhook_method"] != "PUT" {
				t.Errorf("activeflow %v, want its webhook", af)
			}
			for _, typ := range []string{convo.EventActiveflowCreated, convo.EventActiveflowUpdated} {
				got := runRcv.WaitFor(t, typ, id)
				checkSignedRequest(t, got, "PUT", secret, verifier)
				if sget(got.Data, "webhook_uri") != runRcv.URL()+"/run" {
					t.Errorf("%s data %v lacks the run's webhook_uri", typ, got.Data)
				}
				checkSignedRequest(t, customerRcv.WaitFor(t, typ, id), "POST", secret, verifier)
			}
			ended := runRcv.WaitFor(t, convo.EventActiveflowUpdated, id)
			if sget(ended.Data, "status") != convo.ActiveflowEnded {
				t.Errorf("activeflow_updated data %v, want ended", ended.Data)
			}
		})

		t.Run("a private-network webhook_uri is refused at delivery", func(t *testing.T) {
			ts := startServer(t, freshBackend(t, b), withFastEvents())
			admin := ts.as(ts.AdminKey)
			rcv := webhooktest.New(t)
			af := startRun(admin, map[string]any{"actions": []any{flowAction("", convo.ActionStop, nil)}, "webhook_uri": rcv.URL()})
			var d hookDelivery
			eventually(t, 10*time.Second, func() error {
				for _, x := range listDeliveries(admin, url.Values{"type": {convo.EventActiveflowCreated}}) {
					if sget(x.data(t), "id") == af["id"] && x.TargetURI == rcv.URL() {
						d = x
					}
				}
				if len(d.Attempts) < 2 {
					return fmt.Errorf("the run's event has %d attempts", len(d.Attempts))
				}
				return nil
			})
			for _, at := range d.Attempts {
				if msg := strings.ToLower(at.Error); at.HTTPStatus != 0 || !(strings.Contains(msg, "private") || strings.Contains(msg, "loopback")) {
					t.Errorf("attempt: status %d error %q, want a refusal naming private/loopback networks", at.HTTPStatus, at.Error)
				}
			}
			if n := len(rcv.Requests()); n != 0 {
				t.Errorf("the private receiver was called %d times", n)
			}
		})
	})
}

func TestActiveflowChain(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newFlowEnv(t, b)
		a := e.admin
		acc := newFlowSMS(a, e.tw, "")
		peer := uniquePhone()
		convID := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": peer}})["id"].(string)

		t.Run("the next flow runs on the same conversation", func(t *testing.T) {
			a := a.in(t)
			second := flowCreate(a, flowSendAction("", "second ${step}"))
			first := a.ok("POST", "/v1.0/flows", map[string]any{"name": "first", "on_complete_flow_id": second, "actions": []any{
				flowAction("", convo.ActionVariableSet, map[string]any{"key": "step", "value": "after first"}),
				flowSendAction("", "first"),
			}})["id"].(string)
			af := startRun(a, map[string]any{"flow_id": first, "reference_type": "conversation", "reference_id": convID})
			if af["on_complete_flow_id"] != second {
				t.Errorf("activeflow on_complete_flow_id %v, want %s", af["on_complete_flow_id"], second)
			}
			flowWaitBodies(t, e.tw, peer, "first", "second after first")
			next := flowActiveflows(a, "?flow_id="+second)
			if len(next) != 1 || next[0]["reference_activeflow_id"] != af["id"] || next[0]["reference_id"] != convID || next[0]["reference_type"] != "conversation" {
				t.Fatalf("runs of the on-complete flow %v, want one on %s referring to %s", next, convID, af["id"])
			}
			flowWaitEnded(a, next[0]["id"].(string))
		})

		t.Run("a flow that names itself stops after five links", func(t *testing.T) {
			a := a.in(t)
			loop := flowCreate(a, flowAction("", convo.ActionVariableSet, map[string]any{"key": "a", "value": "b"}))
			a.ok("PUT", "/v1.0/flows/"+loop, map[string]any{"on_complete_flow_id": loop})
			startRun(a, map[string]any{"flow_id": loop})
			var runs []map[string]any
			eventually(t, 15*time.Second, func() error {
				runs = flowActiveflows(a, "?flow_id="+loop)
				if len(runs) < convo.MaxFlowChainLinks+1 {
					return fmt.Errorf("%d runs of the looping flow", len(runs))
				}
				for _, r := range runs {
					if r["status"] != convo.ActiveflowEnded {
						return fmt.Errorf("run %s is %v", r["id"], r["status"])
					}
				}
				return nil
			})
			// A run starts the next in the transaction that ends it: with
			// every run ended, the chain is complete.
			if runs = flowActiveflows(a, "?flow_id="+loop); len(runs) != convo.MaxFlowChainLinks+1 {
				t.Fatalf("%d runs of a flow naming itself, want the first and %d links", len(runs), convo.MaxFlowChainLinks)
			}
			// Newest first: each run refers to the one after it in the list.
			for i, r := range runs {
				want := convo.NilID
				if i+1 < len(runs) {
					want = runs[i+1]["id"].(string)
				}
				if r["reference_activeflow_id"] != want || r["reference_type"] != convo.ReferenceAPI {
					t.Errorf("run %d refers to %v (%v), want %s", i, r["reference_activeflow_id"], r["reference_type"], want)
				}
			}
		})

		t.Run("a deleted on-complete flow ends the chain", func(t *testing.T) {
			a := a.in(t)
			gone := flowCreate(a, flowSendAction("", "never"))
			first := a.ok("POST", "/v1.0/flows", map[string]any{"name": "f", "on_complete_flow_id": gone,
				"actions": []any{flowAction("", convo.ActionVariableSet, map[string]any{"key": "a", "value": "b"})}})["id"].(string)
			a.ok("DELETE", "/v1.0/flows/"+gone, nil)
			af := flowWaitEnded(a, startRun(a, map[string]any{"flow_id": first, "reference_type": "conversation", "reference_id": convID})["id"].(string))
			if flowExecuteCount(af) != 1 {
				t.Errorf("run executed %d actions, want 1", flowExecuteCount(af))
			}
			time.Sleep(300 * time.Millisecond)
			if runs := flowActiveflows(a, "?flow_id="+gone); len(runs) != 0 {
				t.Errorf("the deleted flow ran: %v", runs)
			}
		})

		t.Run("a stopped run starts nothing", func(t *testing.T) {
			a := a.in(t)
			next := flowCreate(a, flowSendAction("", "never either"))
			slow := a.ok("POST", "/v1.0/flows", map[string]any{"name": "slow", "on_complete_flow_id": next,
				"actions": []any{flowAction("", convo.ActionSleep, map[string]any{"duration": 60000}),
					flowAction("", convo.ActionVariableSet, map[string]any{"key": "a", "value": "b"})}})["id"].(string)
			af := startRun(a, map[string]any{"flow_id": slow})
			a.ok("POST", "/v1.0/activeflows/"+af["id"].(string)+"/stop", nil)
			time.Sleep(300 * time.Millisecond)
			if runs := flowActiveflows(a, "?flow_id="+next); len(runs) != 0 {
				t.Errorf("a stopped run started its on-complete flow: %v", runs)
			}
		})
	})
}
