package main

import (
	"net/url"
	"slices"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// A conversation that leaves a plain agent's view (assigned away, taken out
// of the queue, the queue closed) is announced on that agent's stream, with
// its id alone, and to nobody who never saw it.
func TestStreamConversationLeft(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withFastEvents())
		admin := ts.as(ts.AdminKey)
		acc := newSMSHookAccount(admin)
		annID, annToken := admin.newAgent(convo.PermissionCustomerAgent)
		benID, benToken := admin.newAgent(convo.PermissionCustomerAgent)
		miaID, miaToken := admin.newAgent(convo.PermissionCustomerManager)
		_, foreignKey := loginAdmin(t, ts).newCustomer()
		foreign := ts.as(foreignKey)
		_, foreignToken := foreign.newAgent(convo.PermissionCustomerAgent)
		mine := sget(admin.newConversation(acc.ID), "id")
		bens := sget(admin.newConversation(acc.ID), "id")
		queued := sget(admin.newConversation(acc.ID), "id")
		admin.ok("PUT", "/v1.0/conversations/"+mine, map[string]any{"owner_id": annID})
		admin.ok("PUT", "/v1.0/conversations/"+bens, map[string]any{"owner_id": benID})
		// Streams opened once the setup's events have settled start after
		// them all: those of the audiences above are in no delivery list
		// for dialLive to leave out.
		witness := dialLive(t, admin, "accesskey="+url.QueryEscape(ts.AdminKey), nil)
		admin.ok("PUT", "/v1.0/conversations/"+mine, map[string]any{"detail": "settled"})
		witness.until(t, detailIs("settled"))

		stream := func(token string) *streamClient { return dialLive(t, admin, "token="+url.QueryEscape(token), nil) }
		ann, ben, mia, other := stream(annToken), stream(benToken), stream(miaToken), dialLive(t, foreign, "token="+url.QueryEscape(foreignToken), nil)

		// Assigned away from Ann: her stream says so, with the id alone.
		admin.ok("PUT", "/v1.0/conversations/"+mine, map[string]any{"owner_id": benID})
		// Taken out of the queue by Ann: Ben, who watched it, loses it.
		if e := ann.next(t); !isLeft(mine)(e) {
			t.Errorf("Ann's stream after her conversation was assigned away: %v %v, want conversation_left with its id", e, e.Data)
		}
		annAPI := ts.as(annToken)
		annAPI.ok("POST", "/v1.0/conversations/"+queued+"/take", nil)
		// Ben's own conversation moves to Mia: Ann, who never saw it, hears nothing.
		admin.ok("PUT", "/v1.0/conversations/"+bens, map[string]any{"owner_id": miaID})
		// The customer closes the queue to plain agents.
		admin.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": false})
		defer admin.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": true})
		admin.ok("PUT", "/v1.0/conversations/"+queued, map[string]any{"detail": "marker"})
		admin.ok("PUT", "/v1.0/conversations/"+mine, map[string]any{"detail": "marker"})

		got := ann.until(t, detailIs("marker"))
		if want := []string{"conversation_updated(" + queued + ")", "unassigned_queue_changed()", "conversation_updated(" + queued + ")"}; !slices.Equal(names(got), want) {
			t.Errorf("Ann's stream after losing her conversation: %v, want %v", got, want)
		}
		if d := got[1].Data; len(d) != 1 || d["agents_take_unassigned"] != false {
			t.Errorf("unassigned_queue_changed data %v", d)
		}
		got = ben.until(t, func(e streamEvent) bool { return detailIs("marker")(e) && e.subject() == mine })
		if want := []string{"conversation_updated(" + mine + ")", "conversation_left(" + queued + ")", "conversation_left(" + bens + ")", "unassigned_queue_changed()", "conversation_updated(" + mine + ")"}; !slices.Equal(names(got), want) {
			t.Errorf("Ben's stream: %v, want %v", got, want)
		}
		got = mia.until(t, func(e streamEvent) bool { return detailIs("marker")(e) && e.subject() == mine })
		for _, e := range got {
			if e.Type == convo.EventConversationLeft || e.Type == convo.EventUnassignedQueueChanged {
				t.Errorf("the manager, who sees every conversation, got %v", e)
			}
		}
		if len(got) != 5 {
			t.Errorf("the manager's stream: %v, want the 5 conversation changes", got)
		}

		// Nothing of it reaches another customer, nor any webhook.
		foreignConv := sget(foreign.newConversation(newSMSHookAccount(foreign).ID), "id")
		if got := other.until(t, func(e streamEvent) bool { return e.subject() == foreignConv }); len(got) != 1 {
			t.Errorf("another customer's agent got %v", got[:len(got)-1])
		}
		for _, d := range listDeliveries(admin, nil) {
			if d.Type == convo.EventConversationLeft || d.Type == convo.EventUnassignedQueueChanged {
				t.Errorf("a %s event is listed as a webhook delivery", d.Type)
			}
		}
	})
}

// isLeft matches the conversation_left event of conv, whose data must be its id alone.
func isLeft(conv string) func(streamEvent) bool {
	return func(e streamEvent) bool {
		return e.Type == convo.EventConversationLeft && e.Data["id"] == conv && len(e.Data) == 1
	}
}

// names is each event as type(subject).
func names(es []streamEvent) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.String()
	}
	return out
}
