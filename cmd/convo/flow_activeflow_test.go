package main

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

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
		bAPI.fails("GET", "/v1.0/activeflows/"+af1, nil, http.StatusNotFound, convo.ReasonActiveflowNotFound)
		bAPI.fails("POST", "/v1.0/activeflows/"+af1+"/stop", nil, http.StatusNotFound, convo.ReasonActiveflowNotFound)
		bAPI.fails("DELETE", "/v1.0/activeflows/"+af1, nil, http.StatusNotFound, convo.ReasonActiveflowNotFound)
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
		a.fails("GET", "/v1.0/activeflows/"+af2, nil, http.StatusNotFound, convo.ReasonActiveflowNotFound)
		a.fails("DELETE", "/v1.0/activeflows/"+af2, nil, http.StatusNotFound, convo.ReasonActiveflowNotFound)
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
