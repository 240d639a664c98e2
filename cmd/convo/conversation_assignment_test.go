package main

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

func TestConversationAssignment(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		clock := newSettableClock(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC))
		ts := startServer(t, b, withClock(clock))
		admin := ts.as(ts.AdminKey)
		account := admin.newSMSAccount()
		ownerID, ownerToken := admin.newAgent(convo.PermissionCustomerAgent)
		owner := ts.as(ownerToken)
		_, otherKey := ts.superAdmin(t).newCustomer()
		foreignAgent, _ := ts.as(otherKey).newAgent(convo.PermissionCustomerAgent)

		conv := admin.newConversation(account)
		id := str(t, conv, "id")
		path := "/v1.0/conversations/" + id

		// put sends a PUT at a later moment and checks the answer is what the next GET shows.
		put := func(t *testing.T, body any) map[string]any {
			t.Helper()
			clock.Advance(time.Second)
			got := admin.in(t).ok("PUT", path, body)
			if again := admin.in(t).ok("GET", path, nil); !jsonEqual(again, got) {
				t.Fatalf("the next GET differs from the PUT answer:\nGET %v\nPUT %v", again, got)
			}
			return got
		}
		owned := func(t *testing.T, c map[string]any, ownerType, ownerID string) {
			t.Helper()
			if c["owner_type"] != ownerType || c["owner_id"] != ownerID {
				t.Fatalf("owner_type %q owner_id %q, want %q %q", c["owner_type"], c["owner_id"], ownerType, ownerID)
			}
		}

		t.Run("owner_type alone is ignored", func(t *testing.T) {
			before := admin.in(t).ok("GET", path, nil)
			c := put(t, map[string]any{"owner_type": "agent"})
			owned(t, c, "", convo.NilID)
			if c["tm_update"] != before["tm_update"] {
				t.Errorf("tm_update moved from %v to %v on a change that changes nothing", before["tm_update"], c["tm_update"])
			}
		})
		t.Run("owner_id of an agent assigns", func(t *testing.T) {
			c := put(t, map[string]any{"owner_id": ownerID})
			owned(t, c, "agent", ownerID)
			if c["tm_update"] != wire(clock.Now()) {
				t.Errorf("tm_update %v, want the moment of the change %s", c["tm_update"], wire(clock.Now()))
			}
			if c["tm_create"] == c["tm_update"] {
				t.Errorf("tm_update did not move")
			}
		})
		t.Run("nil owner_id unassigns whatever owner_type says", func(t *testing.T) {
			c := put(t, map[string]any{"owner_id": convo.NilID, "owner_type": "agent"})
			owned(t, c, "", convo.NilID)
		})
		t.Run("empty owner_id unassigns", func(t *testing.T) {
			put(t, map[string]any{"owner_id": ownerID})
			c := put(t, map[string]any{"owner_id": ""})
			owned(t, c, "", convo.NilID)
		})
		t.Run("owner_id that is no agent of the customer", func(t *testing.T) {
			put(t, map[string]any{"owner_id": ownerID})
			before := admin.in(t).ok("GET", path, nil)
			var reasons []string
			for _, bad := range []string{foreignAgent, convo.NewID()} {
				e := admin.in(t).fails("PUT", path, map[string]any{"owner_id": bad, "name": "changed"}, http.StatusBadRequest, convo.ReasonAgentNotFound)
				reasons = append(reasons, e["reason"].(string))
			}
			if reasons[0] != reasons[1] {
				t.Errorf("another customer's agent gives %s, a missing one %s: want the same", reasons[0], reasons[1])
			}
			if after := admin.in(t).ok("GET", path, nil); !jsonEqual(after, before) {
				t.Errorf("a refused PUT changed the conversation:\nbefore %v\nafter  %v", before, after)
			}
		})
		t.Run("the owning agent", func(t *testing.T) {
			owner := owner.in(t)
			put(t, map[string]any{"owner_id": ownerID})
			owner.fails("PUT", path, map[string]any{"name": "mine"}, http.StatusForbidden, convo.ReasonPermission)
			owner.fails("GET", "/v1.0/conversations", nil, http.StatusForbidden, convo.ReasonPermission)
			if got := ids(t, owner.ok("GET", "/v1.0/conversations"+q("owner_id", ownerID), nil)); !slices.Equal(got, []string{id}) {
				t.Errorf("owner's filtered list %v, want [%s]", got, id)
			}
			if c := owner.ok("GET", path, nil); c["name"] == "mine" {
				t.Errorf("an agent's refused PUT changed the name")
			}
			clock.Advance(time.Second)
			c := owner.ok("POST", path+"/unassign", nil)
			owned(t, c, "", convo.NilID)
			owned(t, admin.in(t).ok("GET", path, nil), "", convo.NilID)
			// No longer the owner, the agent sees it only as the unassigned
			// queue's, and not at all once its customer turns that off.
			owner.ok("GET", path, nil)
			admin.in(t).ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": false})
			owner.fails("GET", path, nil, http.StatusForbidden, convo.ReasonPermission)
			admin.in(t).ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": true})
			if got := ids(t, owner.ok("GET", "/v1.0/conversations"+q("owner_id", ownerID), nil)); len(got) != 0 {
				t.Errorf("owner's filtered list after unassign %v, want none", got)
			}
		})
		t.Run("name and detail", func(t *testing.T) {
			c := put(t, map[string]any{"name": "Refund #77", "detail": "escalated"})
			if c["name"] != "Refund #77" || c["detail"] != "escalated" {
				t.Errorf("name %q detail %q after PUT", c["name"], c["detail"])
			}
		})
		t.Run("empty PUT changes nothing", func(t *testing.T) {
			put(t, map[string]any{"owner_id": ownerID})
			before := admin.in(t).ok("GET", path, nil)
			for _, body := range []any{nil, "{}", map[string]any{}} {
				clock.Advance(time.Second)
				got := admin.in(t).ok("PUT", path, body)
				if !jsonEqual(got, before) {
					t.Errorf("PUT %v answered\n%v\nwant the unchanged conversation\n%v", body, got, before)
				}
			}
			if after := admin.in(t).ok("GET", path, nil); !jsonEqual(after, before) {
				t.Errorf("empty PUTs changed the conversation:\nbefore %v\nafter  %v", before, after)
			}
		})
		t.Run("POST for the same peer returns the live conversation", func(t *testing.T) {
			peer := obj(t, conv, "peer")["target"].(string)
			again := admin.in(t).startConversation(account, peer)
			if again["id"] != id {
				t.Errorf("second POST for peer %s gave %v, want %s", peer, again["id"], id)
			}
		})
		t.Run("delete, then a new conversation for the same peer", func(t *testing.T) {
			admin := admin.in(t)
			peer := obj(t, conv, "peer")["target"].(string)
			deletedAt := clock.Advance(time.Minute)
			d := admin.ok("DELETE", path, nil)
			if d["tm_delete"] != wire(deletedAt) {
				t.Errorf("DELETE answered tm_delete %v, want %s", d["tm_delete"], wire(deletedAt))
			}
			if g := admin.ok("GET", path, nil); g["tm_delete"] != wire(deletedAt) {
				t.Errorf("GET after DELETE shows tm_delete %v, want %s", g["tm_delete"], wire(deletedAt))
			}
			if got := ids(t, admin.ok("GET", "/v1.0/conversations", nil)); slices.Contains(got, id) {
				t.Errorf("deleted conversation %s is in the default list %v", id, got)
			}
			if got := ids(t, admin.ok("GET", "/v1.0/conversations"+q("deleted", "true"), nil)); !slices.Contains(got, id) {
				t.Errorf("deleted conversation %s is not in the deleted=true list %v", id, got)
			}
			clock.Advance(time.Second)
			fresh := admin.startConversation(account, peer)
			if fresh["id"] == id {
				t.Fatalf("POST after DELETE returned the deleted conversation %s", id)
			}
			if fresh["tm_delete"] != neverTime || fresh["owner_id"] != convo.NilID {
				t.Errorf("new conversation %v is not live and unassigned", fresh)
			}
			if got := ids(t, admin.ok("GET", "/v1.0/conversations"+q("dialog_id", peer), nil)); !slices.Equal(got, []string{str(t, fresh, "id")}) {
				t.Errorf("live conversations with %s: %v, want only the new one", peer, got)
			}
		})
	})
}
