package main

import (
	"net/http"
	"slices"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

func TestTenancy(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b)
		a := ts.as(ts.AdminKey)
		super := ts.superAdmin(t)
		customerB, keyB := super.newCustomer()
		bAPI := ts.as(keyB)

		// Customer A's resources.
		accountA := a.newSMSAccount()
		agentA, _ := a.newAgent(convo.PermissionCustomerAgent)
		keyA := str(t, a.ok("POST", "/v1.0/accesskeys", map[string]any{"name": "a-key"}), "id")
		convA := a.newConversation(accountA)
		convAID := str(t, convA, "id")
		peerA := str(t, obj(t, convA, "peer"), "target")
		a.ok("PUT", "/v1.0/conversations/"+convAID, map[string]any{"owner_id": agentA})
		snapshot := func(t *testing.T) map[string]map[string]any {
			a := a.in(t)
			return map[string]map[string]any{
				"conversation": a.ok("GET", "/v1.0/conversations/"+convAID, nil),
				"account":      a.ok("GET", "/v1.0/conversation_accounts/"+accountA, nil),
				"agent":        a.ok("GET", "/v1.0/agents/"+agentA, nil),
				"accesskey":    a.ok("GET", "/v1.0/accesskeys/"+keyA, nil),
			}
		}
		before := snapshot(t)

		// Customer B's own rows, with the same peer as A's conversation.
		accountB := bAPI.newSMSAccount()
		agentB, _ := bAPI.newAgent(convo.PermissionCustomerAgent)
		convB := str(t, bAPI.startConversation(accountB, peerA), "id")
		bAPI.ok("PUT", "/v1.0/conversations/"+convB, map[string]any{"owner_id": agentB})

		t.Run("another customer's ids are answered as missing", func(t *testing.T) {
			type target struct {
				method, path string
				body         any
			}
			requests := func(conv, account, agent, key string) []target {
				return []target{
					{"GET", "/v1.0/conversations/" + conv, nil},
					{"PUT", "/v1.0/conversations/" + conv, map[string]any{"name": "taken"}},
					{"POST", "/v1.0/conversations/" + conv + "/unassign", nil},
					{"GET", "/v1.0/conversations/" + conv + "/messages", nil},
					{"PUT", "/v1.0/conversations/" + conv + "/labels", map[string]any{"labels": []string{}}},
					{"POST", "/v1.0/conversations/" + conv + "/read", map[string]any{"message_id": convo.NewID()}},
					{"GET", "/v1.0/service_agents/conversations/" + conv, nil},
					{"PUT", "/v1.0/service_agents/conversations/" + conv, map[string]any{"name": "taken"}},
					{"POST", "/v1.0/service_agents/conversations/" + conv + "/unassign", nil},
					{"GET", "/v1.0/service_agents/conversations/" + conv + "/messages", nil},
					{"DELETE", "/v1.0/conversations/" + conv, nil},
					{"GET", "/v1.0/conversation_accounts/" + account, nil},
					{"PUT", "/v1.0/conversation_accounts/" + account, map[string]any{"name": "taken"}},
					{"DELETE", "/v1.0/conversation_accounts/" + account, nil},
					{"GET", "/v1.0/agents/" + agent, nil},
					{"PUT", "/v1.0/agents/" + agent, map[string]any{"name": "taken"}},
					{"PUT", "/v1.0/agents/" + agent + "/permission", map[string]any{"permission": convo.PermissionCustomerManager}},
					{"PUT", "/v1.0/agents/" + agent + "/password", map[string]any{"password": "taken-password"}},
					{"PUT", "/v1.0/agents/" + agent + "/status", map[string]any{"status": "busy"}},
					{"DELETE", "/v1.0/agents/" + agent, nil},
					{"GET", "/v1.0/accesskeys/" + key, nil},
					{"PUT", "/v1.0/accesskeys/" + key, map[string]any{"name": "taken"}},
					{"DELETE", "/v1.0/accesskeys/" + key, nil},
				}
			}
			random := convo.NewID()
			foreign := requests(convAID, accountA, agentA, keyA)
			missing := requests(random, random, random, random)
			for i, req := range foreign {
				got := call(t, req.method, ts.URL()+req.path, keyB, req.body)
				want := call(t, missing[i].method, ts.URL()+missing[i].path, keyB, missing[i].body)
				if want.Status != http.StatusNotFound {
					t.Errorf("%s %s (random id): status %d, want 404\n%s", missing[i].method, missing[i].path, want.Status, want.Body)
				}
				if got.Status != want.Status {
					t.Errorf("%s %s (customer A's id) as B: status %d, want %d like a missing id\n%s", req.method, req.path, got.Status, want.Status, got.Body)
					continue
				}
				ge, we := obj(t, got.JSON(t), "error"), obj(t, want.JSON(t), "error")
				if !sameSet(keysOf(ge), keysOf(we)) || ge["status"] != we["status"] || ge["reason"] != we["reason"] || ge["message"] != we["message"] {
					t.Errorf("%s %s as B: error %v, want the same as for a missing id %v", req.method, req.path, ge, we)
				}
			}
			if after := snapshot(t); !jsonEqual(after, before) {
				t.Errorf("customer B's requests changed customer A's resources:\nbefore %v\nafter  %v", before, after)
			}
		})

		t.Run("lists never show another customer's rows", func(t *testing.T) {
			bAPI := bAPI.in(t)
			aIDs := []string{convAID, accountA, agentA, keyA, ts.CustomerID}
			for _, tc := range []struct {
				path string
				want []string
			}{
				{"/v1.0/conversations", []string{convB}},
				{"/v1.0/conversations" + q("owner_id", agentA), nil},
				{"/v1.0/conversations" + q("account_id", accountA), nil},
				{"/v1.0/conversations" + q("dialog_id", peerA), []string{convB}},
				{"/v1.0/conversations" + q("deleted", "true"), nil},
				{"/v1.0/service_agents/conversations", []string{convB}},
				{"/v1.0/conversation_accounts", []string{accountB}},
			} {
				got := ids(t, bAPI.ok("GET", tc.path, nil))
				if !sameSet(got, tc.want) {
					t.Errorf("GET %s as B: %v, want %v", tc.path, got, tc.want)
				}
			}
			for _, path := range []string{"/v1.0/agents", "/v1.0/accesskeys"} {
				got := ids(t, bAPI.ok("GET", path, nil))
				for _, id := range aIDs {
					if slices.Contains(got, id) {
						t.Errorf("GET %s as B lists customer A's %s", path, id)
					}
				}
				if len(got) == 0 {
					t.Errorf("GET %s as B lists nothing; B's own rows are missing", path)
				}
			}
			if c := bAPI.ok("GET", "/v1.0/customer", nil); c["id"] != customerB {
				t.Errorf("GET /customer as B: %v, want %s", c["id"], customerB)
			}
			if me := bAPI.ok("GET", "/v1.0/me", nil); me["customer_id"] != customerB {
				t.Errorf("GET /me as B: customer %v, want %s", me["customer_id"], customerB)
			}
		})

		t.Run("no cross-customer references", func(t *testing.T) {
			bAPI := bAPI.in(t)
			peer := map[string]any{"type": "tel", "target": uniquePhone()}
			foreign := bAPI.fails("POST", "/v1.0/conversations", map[string]any{"account_id": accountA, "peer": peer}, http.StatusBadRequest, convo.ReasonAccountNotFound)
			missing := bAPI.fails("POST", "/v1.0/conversations", map[string]any{"account_id": convo.NewID(), "peer": peer}, http.StatusBadRequest, convo.ReasonAccountNotFound)
			if foreign["message"] != missing["message"] {
				t.Errorf("A's account gives %q, a missing one %q: want the same answer", foreign["message"], missing["message"])
			}
			bAPI.fails("PUT", "/v1.0/conversations/"+convB, map[string]any{"owner_id": agentA}, http.StatusBadRequest, convo.ReasonAgentNotFound)
			cannedA := str(t, a.in(t).ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": unique("a"), "text": "A's"}), "id")
			foreign = bAPI.fails("POST", "/v1.0/conversations/"+convB+"/messages", map[string]any{"canned_response_id": cannedA}, http.StatusBadRequest, convo.ReasonCannedResponseNotFound)
			missing = bAPI.fails("POST", "/v1.0/conversations/"+convB+"/messages", map[string]any{"canned_response_id": convo.NewID()}, http.StatusBadRequest, convo.ReasonCannedResponseNotFound)
			if foreign["message"] != missing["message"] {
				t.Errorf("A's canned response gives %q, a missing one %q: want the same answer", foreign["message"], missing["message"])
			}
			if c := bAPI.ok("GET", "/v1.0/conversations/"+convB, nil); c["owner_id"] != agentB {
				t.Errorf("refused assignment changed the owner to %v", c["owner_id"])
			}
			if got := ids(t, a.in(t).ok("GET", "/v1.0/conversations"+q("account_id", accountA), nil)); !slices.Equal(got, []string{convAID}) {
				t.Errorf("customer A's account now has conversations %v, want only %s", got, convAID)
			}
		})

		t.Run("a deleted customer's credentials stop working", func(t *testing.T) {
			super := super.in(t)
			user := unique("gone")
			c := super.ok("POST", "/v1.0/customers", map[string]any{"name": "gone", "username": user, "password": "password-" + user})
			token := ts.login(t, user, "password-"+user)
			key := str(t, ts.as(token).in(t).ok("POST", "/v1.0/accesskeys", map[string]any{"name": "k"}), "token")
			ts.as(key).in(t).ok("GET", "/v1.0/me", nil)
			super.ok("DELETE", "/v1.0/customers/"+str(t, c, "id"), nil)
			for _, cred := range []string{key, token} {
				ts.as(cred).in(t).fails("GET", "/v1.0/me", nil, http.StatusUnauthorized, convo.ReasonUnauthenticated)
				ts.as(cred).in(t).fails("GET", "/v1.0/conversations", nil, http.StatusUnauthorized, convo.ReasonUnauthenticated)
			}
			r := call(t, "POST", ts.URL()+"/v1.0/auth/login", "", map[string]any{"username": user, "password": "password-" + user})
			if r.Status != http.StatusUnauthorized {
				t.Errorf("login to a deleted customer: status %d, want 401", r.Status)
			}
			// Other customers are unaffected.
			ts.as(keyB).in(t).ok("GET", "/v1.0/me", nil)
		})
	})
}
