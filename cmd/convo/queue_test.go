package main

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// This file tests the list filters status, unassigned and
// order=last_message, and the unassigned queue: who sees it and takes from it.

func TestConversationListFilters(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newStatusEnv(t, b)
		admin := e.admin(t)
		agentID, agentToken := admin.newAgent(convo.PermissionCustomerAgent)
		agent := e.as(t, agentToken)
		// Five conversations, made a second apart: a (the agent's, pending),
		// b (unassigned), c (the agent's), d (unassigned), e (another agent's).
		otherID, _ := admin.newAgent(convo.PermissionCustomerAgent)
		var convs, users []string
		for _, owner := range []string{agentID, "", agentID, "", otherID} {
			e.clock.Advance(time.Second)
			id, user := e.newPeer(t, owner)
			convs, users = append(convs, id), append(users, user)
		}
		a, bConv, c, d, other := convs[0], convs[1], convs[2], convs[3], convs[4]
		// b, resolved, gets a message, which reopens it, then a, which
		// is set pending after.
		admin.ok("POST", "/v1.0/conversations/"+bConv+"/status", map[string]any{"status": "resolved"})
		e.clock.Advance(time.Second)
		e.say(t, users[1], "b again")
		e.clock.Advance(time.Second)
		e.say(t, users[0], "a again")
		admin.ok("POST", "/v1.0/conversations/"+a+"/status", map[string]any{"status": "pending"})
		mine := func(got []string) []string { // keeps this test's conversations, in order
			return slices.DeleteFunc(slices.Clone(got), func(id string) bool { return !slices.Contains(convs, id) })
		}
		list := func(api *api, path string, kv ...string) []string {
			return mine(api.walkPages(path, append(kv, "page_size", "2")...))
		}
		for _, c := range []struct {
			name string
			kv   []string
			want []string
		}{
			{"default order", nil, []string{other, d, c, bConv, a}},
			{"by last message", []string{"order", "last_message"}, []string{a, bConv, other, d, c}},
			{"status open", []string{"status", "open"}, []string{other, d, c, bConv}},
			{"status pending or resolved", []string{"status", "pending", "status", "resolved"}, []string{a}},
			{"status resolved", []string{"status", "resolved"}, nil},
			{"unassigned", []string{"unassigned", "true"}, []string{d, bConv}},
			{"unassigned by last message", []string{"unassigned", "true", "order", "last_message"}, []string{bConv, d}},
			{"unassigned=false filters nothing", []string{"unassigned", "false"}, []string{other, d, c, bConv, a}},
			{"an agent's open ones by last message", []string{"owner_id", agentID, "status", "open", "order", "last_message"}, []string{c}},
			{"an agent's by last message", []string{"owner_id", agentID, "order", "last_message"}, []string{a, c}},
		} {
			if got := list(admin, "/v1.0/conversations", c.kv...); !slices.Equal(got, c.want) {
				t.Errorf("%s: listed %v, want %v (a b c d e = %v)", c.name, got, c.want, convs)
			}
		}
		// The service-agent list takes the same filters; for a plain agent
		// it is its own, or the unassigned queue.
		if got := list(agent, "/v1.0/service_agents/conversations", "order", "last_message"); !slices.Equal(got, []string{a, c}) {
			t.Errorf("the agent's own list by last message: %v", got)
		}
		if got := list(agent, "/v1.0/service_agents/conversations", "unassigned", "true", "status", "open"); !slices.Equal(got, []string{d, bConv}) {
			t.Errorf("the agent's unassigned queue: %v", got)
		}
		if got := list(agent, "/v1.0/conversations", "unassigned", "true"); !slices.Equal(got, []string{d, bConv}) {
			t.Errorf("the agent's unassigned queue on /conversations: %v", got)
		}
		if got := list(admin, "/v1.0/service_agents/conversations", "status", "pending"); !slices.Equal(got, []string{a}) {
			t.Errorf("the admin's service-agent list of pending ones: %v", got)
		}
		// Bad filters are 400 and the plain agent's other lists stay 403.
		for _, bad := range []struct{ kv []string }{
			{[]string{"status", "closed"}}, {[]string{"status", "open", "status", ""}}, {[]string{"unassigned", "yes"}},
			{[]string{"order", "newest"}}, {[]string{"unassigned", "true", "owner_id", agentID}},
		} {
			r := admin.do("GET", "/v1.0/conversations"+q(bad.kv...), nil)
			if r.Status != http.StatusBadRequest {
				t.Errorf("%v: status %d, want 400", bad.kv, r.Status)
			}
		}
		agent.fails("GET", "/v1.0/conversations", nil, http.StatusForbidden, convo.ReasonPermission)
		agent.fails("GET", "/v1.0/conversations"+q("owner_id", otherID), nil, http.StatusForbidden, convo.ReasonPermission)
		agent.fails("GET", "/v1.0/conversations"+q("status", "open"), nil, http.StatusForbidden, convo.ReasonPermission)

		// Paging by last message: no conversation twice, every one whose
		// activity stays put once; one that moves goes to the head.
		page := admin.ok("GET", "/v1.0/conversations"+q("order", "last_message", "page_size", "2"), nil)
		e.clock.Advance(time.Second)
		e.say(t, users[3], "d moves") // d was below the first page
		seen := ids(t, page)
		token := str(t, page, "next_page_token")
		for token != "" {
			page = admin.ok("GET", "/v1.0/conversations"+q("order", "last_message", "page_size", "2", "page_token", token), nil)
			seen = append(seen, ids(t, page)...)
			token = str(t, page, "next_page_token")
			if len(ids(t, page)) == 0 {
				break
			}
		}
		seen = mine(seen)
		if want := []string{a, bConv, other, c}; !slices.Equal(seen, want) {
			t.Errorf("a walk while d got a message listed %v, want %v", seen, want)
		}
		if first := mine(ids(t, admin.ok("GET", "/v1.0/conversations"+q("order", "last_message", "page_size", "1"), nil))); !slices.Equal(first, []string{d}) {
			t.Errorf("the first page after d's message: %v, want d", first)
		}
	})
}

func TestUnassignedQueue(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newStatusEnv(t, b)
		admin := e.admin(t)
		oneID, oneToken := admin.newAgent(convo.PermissionCustomerAgent)
		twoID, twoToken := admin.newAgent(convo.PermissionCustomerAgent)
		managerID, managerToken := admin.newAgent(convo.PermissionCustomerManager)
		one, two, manager := e.as(t, oneToken), e.as(t, twoToken), e.as(t, managerToken)
		_, foreignKey := e.ts.superAdmin(t).newCustomer()

		t.Run("an agent sees an unassigned conversation and takes it", func(t *testing.T) {
			admin := e.admin(t)
			conv, _ := e.newPeer(t, "")
			admin.ok("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": "vip"})
			one.ok("GET", "/v1.0/conversations/"+conv, nil)
			one.ok("GET", "/v1.0/service_agents/conversations/"+conv+"/messages", nil)
			if len(ids(t, one.ok("GET", "/v1.0/conversations/"+conv+"/notes", nil))) != 1 {
				t.Errorf("the agent does not see the unassigned conversation's note")
			}
			// Seeing is not working it: it takes it first.
			one.fails("POST", "/v1.0/conversations/"+conv+"/messages", map[string]any{"text": "hi"}, http.StatusForbidden, convo.ReasonPermission)
			one.fails("POST", "/v1.0/conversations/"+conv+"/status", map[string]any{"status": "resolved"}, http.StatusForbidden, convo.ReasonPermission)
			taken := one.ok("POST", "/v1.0/conversations/"+conv+"/take", nil)
			if taken["owner_id"] != oneID || taken["owner_type"] != convo.OwnerAgent {
				t.Fatalf("taken: %v", taken)
			}
			one.ok("POST", "/v1.0/conversations/"+conv+"/take", nil) // its own: no change
			two.fails("POST", "/v1.0/service_agents/conversations/"+conv+"/take", nil, http.StatusConflict, convo.ReasonAlreadyAssigned)
			two.fails("GET", "/v1.0/conversations/"+conv, nil, http.StatusForbidden, convo.ReasonPermission)
			two.fails("GET", "/v1.0/conversations/"+conv+"/notes", nil, http.StatusNotFound, convo.ReasonConversationNotFound)
			manager.fails("POST", "/v1.0/conversations/"+conv+"/take", nil, http.StatusConflict, convo.ReasonAlreadyAssigned)
			one.ok("POST", "/v1.0/conversations/"+conv+"/status", map[string]any{"status": "resolved"})
			if got := statusUpdates(admin, conv); len(got) != 2 {
				t.Errorf("conversation_updated events of a take and a status change: %v", got)
			}
			entries := auditLog(admin, map[string][]string{"resource_id": {conv}, "action": {convo.AuditAssigned}})
			if len(entries) != 1 || entries[0].Actor.ID != oneID {
				t.Errorf("audit of the take: %v", entries)
			}
		})

		t.Run("managers take for themselves; access keys and other customers cannot", func(t *testing.T) {
			admin, foreign := e.admin(t), e.as(t, foreignKey)
			conv, _ := e.newPeer(t, "")
			foreign.fails("POST", "/v1.0/conversations/"+conv+"/take", nil, http.StatusNotFound, convo.ReasonConversationNotFound)
			admin.fails("POST", "/v1.0/conversations/"+conv+"/take", nil, http.StatusForbidden, convo.ReasonPermission)
			one.fails("POST", "/v1.0/conversations/not-a-uuid/take", nil, http.StatusBadRequest, convo.ReasonInvalidID)
			if got := manager.ok("POST", "/v1.0/conversations/"+conv+"/take", nil); got["owner_id"] != managerID {
				t.Errorf("the manager's take: %v", got)
			}
			admin.ok("DELETE", "/v1.0/conversations/"+conv, nil)
			gone, _ := e.newPeer(t, "")
			admin.ok("DELETE", "/v1.0/conversations/"+gone, nil)
			one.fails("POST", "/v1.0/conversations/"+gone+"/take", nil, http.StatusConflict, "CONVERSATION_DELETED")
		})

		t.Run("of concurrent takes exactly one wins", func(t *testing.T) {
			for round := range 5 {
				conv, _ := e.newPeer(t, "")
				var wg sync.WaitGroup
				codes := make([]int, 2)
				for i, token := range []string{oneToken, twoToken} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r, err := hookPost(e.ts.URL()+"/v1.0/conversations/"+conv+"/take", "application/json", nil, header("Authorization", "Bearer "+token))
						if err == nil {
							codes[i] = r.Status
						}
					}()
				}
				wg.Wait()
				slices.Sort(codes)
				if !slices.Equal(codes, []int{http.StatusOK, http.StatusConflict}) {
					t.Fatalf("round %d: concurrent takes answered %v, want one 200 and one 409", round, codes)
				}
				owner := sget(e.admin(t).ok("GET", "/v1.0/conversations/"+conv, nil), "owner_id")
				if owner != oneID && owner != twoID {
					t.Fatalf("round %d: owner after the takes: %s", round, owner)
				}
			}
		})

		t.Run("a customer may keep the queue from its agents", func(t *testing.T) {
			admin := e.admin(t)
			conv, _ := e.newPeer(t, "")
			admin.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": false})
			defer admin.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": true})
			for _, path := range []string{"/v1.0/conversations" + q("unassigned", "true"), "/v1.0/service_agents/conversations" + q("unassigned", "true")} {
				one.fails("GET", path, nil, http.StatusForbidden, convo.ReasonPermission)
			}
			one.fails("POST", "/v1.0/conversations/"+conv+"/take", nil, http.StatusForbidden, convo.ReasonPermission)
			one.fails("GET", "/v1.0/conversations/"+conv, nil, http.StatusForbidden, convo.ReasonPermission)
			one.fails("GET", "/v1.0/conversations/"+conv+"/notes", nil, http.StatusNotFound, convo.ReasonConversationNotFound)
			// Managers keep their rights.
			if got := manager.ok("GET", "/v1.0/conversations"+q("unassigned", "true"), nil); !slices.Contains(ids(t, got), conv) {
				t.Errorf("the manager's queue lacks %s", conv)
			}
			manager.ok("POST", "/v1.0/conversations/"+conv+"/take", nil)
		})

		t.Run("an agent's stream shows the queue while the customer allows", func(t *testing.T) {
			admin := e.admin(t)
			stream := dialLive(t, admin, "token="+oneToken, nil)
			conv, _ := e.newPeer(t, "")
			got := stream.until(t, func(ev streamEvent) bool { return ev.Type == convo.EventMessageCreated && ev.subject() == conv })
			if !slices.ContainsFunc(got, func(ev streamEvent) bool { return ev.Type == convo.EventConversationCreated && ev.subject() == conv }) {
				t.Errorf("the stream showed %v, want the new unassigned conversation", got)
			}
			admin.ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"owner_id": twoID})
			admin.ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"detail": "not for one"})
			mark, _ := e.newPeer(t, oneID)
			admin.ok("PUT", "/v1.0/conversations/"+mark, map[string]any{"detail": "marker"})
			for _, ev := range stream.until(t, detailIs("marker")) {
				if ev.subject() == conv && ev.Data["detail"] == "not for one" {
					t.Errorf("the stream showed another agent's conversation: %v", ev)
				}
			}
		})
	})
}
