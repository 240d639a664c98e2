package main

import (
	"net/http"
	"slices"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// The callers of the permission matrix.
const (
	callerAdmin   = "admin agent"
	callerManager = "manager"
	callerOwner   = "owning agent"
	callerOther   = "other agent"
	callerKey     = "access key"
	callerNone    = "no credential"
)

var matrixCallers = []string{callerAdmin, callerManager, callerOwner, callerOther, callerKey, callerNone}

// permissionFixture holds the identities of one server for the matrix.
type permissionFixture struct {
	ts      *testServer
	account string
	ownerID string
	otherID string
	// othersConv is a conversation owned by the other agent.
	othersConv string
	creds      map[string]string
}

// expect builds the expected status per caller: admin, manager and key get
// 200, no credential 401, and the owner and the other agent as given.
func expect(owner, other int) map[string]int {
	return map[string]int{callerAdmin: 200, callerManager: 200, callerKey: 200, callerNone: 401, callerOwner: owner, callerOther: other}
}

func TestConversationPermissionMatrix(t *testing.T) {
	type request struct {
		method string
		path   func(f *permissionFixture, conv string) string
		body   func(f *permissionFixture) any
	}
	onConv := func(method, prefix, suffix string) request {
		return request{method: method, path: func(_ *permissionFixture, conv string) string { return prefix + "/" + conv + suffix }}
	}
	fixed := func(method, path string) request {
		return request{method: method, path: func(*permissionFixture, string) string { return path }}
	}
	const conversations, serviceAgents = "/v1.0/conversations", "/v1.0/service_agents/conversations"
	cases := []struct {
		name string
		req  request
		want map[string]int
		// check, when set, looks at a 200 answer.
		check func(t *testing.T, f *permissionFixture, caller, conv string, body map[string]any)
	}{
		{name: "list", req: fixed("GET", conversations), want: expect(403, 403)},
		{name: "list filtered on the owner",
			req:  request{method: "GET", path: func(f *permissionFixture, _ string) string { return conversations + q("owner_id", f.ownerID) }},
			want: expect(200, 403),
			check: func(t *testing.T, _ *permissionFixture, caller, conv string, body map[string]any) {
				if got := ids(t, body); !slices.Contains(got, conv) {
					t.Errorf("%s: owner-filtered list %v lacks the owner's conversation %s", caller, got, conv)
				}
			}},
		{name: "list filtered on another agent",
			req:  request{method: "GET", path: func(f *permissionFixture, _ string) string { return conversations + q("owner_id", f.otherID) }},
			want: expect(403, 200),
			check: func(t *testing.T, f *permissionFixture, caller, conv string, body map[string]any) {
				if got := ids(t, body); slices.Contains(got, conv) || !slices.Contains(got, f.othersConv) {
					t.Errorf("%s: list filtered on the other agent %v, want its conversation %s and not the owner's %s", caller, got, f.othersConv, conv)
				}
			}},
		{name: "get", req: onConv("GET", conversations, ""), want: expect(200, 403)},
		{name: "put", req: request{method: "PUT", path: onConv("", conversations, "").path, body: func(*permissionFixture) any { return map[string]any{"name": "x"} }},
			want: expect(403, 403),
			check: func(t *testing.T, _ *permissionFixture, caller, _ string, body map[string]any) {
				if body["name"] != "x" {
					t.Errorf("%s: PUT answered name %v, want x", caller, body["name"])
				}
			}},
		{name: "delete", req: onConv("DELETE", conversations, ""), want: expect(403, 403),
			check: func(t *testing.T, _ *permissionFixture, caller, _ string, body map[string]any) {
				if body["tm_delete"] == neverTime {
					t.Errorf("%s: DELETE answered a live conversation", caller)
				}
			}},
		{name: "create",
			req: request{method: "POST", path: func(*permissionFixture, string) string { return conversations },
				body: func(f *permissionFixture) any {
					return map[string]any{"account_id": f.account, "peer": map[string]any{"type": "tel", "target": uniquePhone()}}
				}},
			want: expect(403, 403)},
		{name: "unassign", req: onConv("POST", conversations, "/unassign"), want: expect(200, 403),
			check: func(t *testing.T, _ *permissionFixture, caller, _ string, body map[string]any) {
				if body["owner_type"] != "" || body["owner_id"] != convo.NilID {
					t.Errorf("%s: unassign answered owner %v/%v", caller, body["owner_type"], body["owner_id"])
				}
			}},
		{name: "messages", req: onConv("GET", conversations, "/messages"), want: expect(200, 403)},
		{name: "service_agents list", req: fixed("GET", serviceAgents), want: expect(200, 200),
			check: func(t *testing.T, f *permissionFixture, caller, conv string, body map[string]any) {
				got := ids(t, body)
				if caller == callerOther {
					if slices.Contains(got, conv) {
						t.Errorf("the other agent's service_agents list %v shows the owner's conversation %s", got, conv)
					}
					if !slices.Contains(got, f.othersConv) {
						t.Errorf("the other agent's service_agents list %v lacks its own conversation %s", got, f.othersConv)
					}
				} else if !slices.Contains(got, conv) {
					t.Errorf("%s: service_agents list %v lacks conversation %s", caller, got, conv)
				}
			}},
		{name: "service_agents get", req: onConv("GET", serviceAgents, ""), want: expect(200, 403)},
		{name: "service_agents put", req: request{method: "PUT", path: onConv("", serviceAgents, "").path, body: func(*permissionFixture) any { return map[string]any{"name": "x"} }},
			want: expect(403, 403)},
		{name: "service_agents unassign", req: onConv("POST", serviceAgents, "/unassign"), want: expect(200, 403)},
		{name: "service_agents messages", req: onConv("GET", serviceAgents, "/messages"), want: expect(200, 403)},
	}

	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b)
		key := ts.as(ts.AdminKey)
		f := &permissionFixture{ts: ts, account: key.newSMSAccount(), creds: map[string]string{callerKey: ts.AdminKey, callerNone: ""}}
		_, f.creds[callerAdmin] = key.newAgent(convo.PermissionCustomerAdmin)
		_, f.creds[callerManager] = key.newAgent(convo.PermissionCustomerManager)
		f.ownerID, f.creds[callerOwner] = key.newAgent(convo.PermissionCustomerAgent)
		f.otherID, f.creds[callerOther] = key.newAgent(convo.PermissionCustomerAgent)
		// The other agent owns a conversation of its own, so that its lists are not trivially empty.
		f.othersConv = str(t, key.newConversation(f.account), "id")
		key.ok("PUT", "/v1.0/conversations/"+f.othersConv, map[string]any{"owner_id": f.otherID})

		for _, tc := range cases {
			for _, caller := range matrixCallers {
				t.Run(tc.name+"/"+caller, func(t *testing.T) {
					key := key.in(t)
					// A fresh conversation assigned to the owner keeps the cases independent.
					conv := str(t, key.newConversation(f.account), "id")
					key.ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"owner_id": f.ownerID})
					before := key.ok("GET", "/v1.0/conversations/"+conv, nil)

					var body any
					if tc.req.body != nil {
						body = tc.req.body(f)
					}
					path := tc.req.path(f, conv)
					r := call(t, tc.req.method, ts.URL()+path, f.creds[caller], body)
					want := tc.want[caller]
					if r.Status != want {
						t.Fatalf("%s %s as %s: status %d, want %d\n%s", tc.req.method, path, caller, r.Status, want, r.Body)
					}
					switch want {
					case http.StatusOK:
						if tc.check != nil {
							tc.check(t, f, caller, conv, r.JSON(t))
						}
					case http.StatusUnauthorized, http.StatusForbidden:
						e, _ := r.JSON(t)["error"].(map[string]any)
						wantStatus, wantReason := convo.EForbidden, convo.ReasonPermission
						if want == http.StatusUnauthorized {
							wantStatus, wantReason = convo.EUnauthorized, convo.ReasonUnauthenticated
						}
						if e == nil || e["status"] != wantStatus || e["reason"] != wantReason || e["message"] == "" || e["request_id"] != r.Header.Get("X-Request-Id") {
							t.Errorf("error body %s, want status %s reason %s with a message and the request id", r.Body, wantStatus, wantReason)
						}
						// A refused request changes nothing.
						if after := key.ok("GET", "/v1.0/conversations/"+conv, nil); !jsonEqual(after, before) {
							t.Errorf("a refused %s changed the conversation:\nbefore %v\nafter  %v", tc.req.method, before, after)
						}
					}
				})
			}
		}
	})
}

func TestIdentityPermissions(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b)
		key := ts.as(ts.AdminKey)
		agentID, agentToken := key.newAgent(convo.PermissionCustomerAgent)
		peerID, _ := key.newAgent(convo.PermissionCustomerAgent)
		_, managerToken := key.newAgent(convo.PermissionCustomerManager)
		_, adminToken := key.newAgent(convo.PermissionCustomerAdmin)
		agent, manager, admin := ts.as(agentToken), ts.as(managerToken), ts.as(adminToken)
		keyID := str(t, key.ok("POST", "/v1.0/accesskeys", map[string]any{"name": "spare"}), "id")
		account := key.newSMSAccount()

		t.Run("plain agent is refused admin surfaces", func(t *testing.T) {
			agent := agent.in(t)
			for _, r := range []struct {
				method, path string
				body         any
			}{
				{"GET", "/v1.0/agents", nil},
				{"POST", "/v1.0/agents", map[string]any{"username": unique("x"), "password": "password-x1"}},
				{"GET", "/v1.0/agents/" + peerID, nil},
				{"PUT", "/v1.0/agents/" + peerID, map[string]any{"name": "x"}},
				{"PUT", "/v1.0/agents/" + agentID + "/permission", map[string]any{"permission": 64}},
				{"PUT", "/v1.0/agents/" + peerID + "/status", map[string]any{"status": "busy"}},
				{"PUT", "/v1.0/agents/" + peerID + "/password", map[string]any{"password": "password-hijack"}},
				{"DELETE", "/v1.0/agents/" + peerID, nil},
				{"GET", "/v1.0/conversation_accounts", nil},
				{"POST", "/v1.0/conversation_accounts", map[string]any{"type": "sms"}},
				{"GET", "/v1.0/conversation_accounts/" + account, nil},
				{"GET", "/v1.0/accesskeys", nil},
				{"POST", "/v1.0/accesskeys", map[string]any{"name": "mine"}},
				{"GET", "/v1.0/accesskeys/" + keyID, nil},
				{"GET", "/v1.0/customer", nil},
				{"PUT", "/v1.0/customer", map[string]any{"name": "x"}},
				{"GET", "/v1.0/customers", nil},
				{"POST", "/v1.0/customers", map[string]any{"name": "x"}},
			} {
				agent.fails(r.method, r.path, r.body, http.StatusForbidden, convo.ReasonPermission)
			}
			// The refused password change did not take: the peer's status and the agent's rank are unchanged.
			if a := key.in(t).ok("GET", "/v1.0/agents/"+peerID, nil); a["status"] == "busy" {
				t.Errorf("a plain agent changed another agent's status")
			}
			if a := key.in(t).ok("GET", "/v1.0/agents/"+agentID, nil); a["permission"] != float64(convo.PermissionCustomerAgent) {
				t.Errorf("a plain agent raised its own permission to %v", a["permission"])
			}
		})

		t.Run("manager grants within its rank", func(t *testing.T) {
			manager := manager.in(t)
			for _, p := range []convo.Permission{convo.PermissionCustomerAdmin, convo.PermissionProjectSuperAdmin, convo.PermissionCustomerAdmin | convo.PermissionCustomerAgent} {
				manager.fails("POST", "/v1.0/agents", map[string]any{"username": unique("m"), "password": "password-m1", "permission": p}, http.StatusForbidden, convo.ReasonPermission)
				manager.fails("PUT", "/v1.0/agents/"+peerID+"/permission", map[string]any{"permission": p}, http.StatusForbidden, convo.ReasonPermission)
			}
			if a := key.in(t).ok("GET", "/v1.0/agents/"+peerID, nil); a["permission"] != float64(convo.PermissionCustomerAgent) {
				t.Errorf("refused grants changed the permission to %v", a["permission"])
			}
			created := manager.ok("POST", "/v1.0/agents", map[string]any{"username": unique("m"), "password": "password-m2", "permission": convo.PermissionCustomerManager})
			if created["permission"] != float64(convo.PermissionCustomerManager) {
				t.Errorf("manager created an agent with permission %v, want 64", created["permission"])
			}
			if a := manager.ok("PUT", "/v1.0/agents/"+peerID+"/permission", map[string]any{"permission": convo.PermissionCustomerManager}); a["permission"] != float64(convo.PermissionCustomerManager) {
				t.Errorf("manager set permission %v, want 64", a["permission"])
			}
			manager.ok("PUT", "/v1.0/agents/"+peerID+"/permission", map[string]any{"permission": convo.PermissionCustomerAgent})
			// A manager is no customer admin: access keys and the customer are not its business.
			manager.fails("GET", "/v1.0/accesskeys", nil, http.StatusForbidden, convo.ReasonPermission)
			manager.fails("GET", "/v1.0/customer", nil, http.StatusForbidden, convo.ReasonPermission)
		})

		t.Run("customers are for super-admins", func(t *testing.T) {
			for name, c := range map[string]*api{"customer admin agent": admin, "access key": key, "manager": manager} {
				t.Run(name, func(t *testing.T) {
					c := c.in(t)
					c.fails("GET", "/v1.0/customers", nil, http.StatusForbidden, convo.ReasonPermission)
					c.fails("POST", "/v1.0/customers", map[string]any{"name": "x"}, http.StatusForbidden, convo.ReasonPermission)
					c.fails("GET", "/v1.0/customers/"+ts.CustomerID, nil, http.StatusForbidden, convo.ReasonPermission)
				})
			}
			list := ts.superAdmin(t).ok("GET", "/v1.0/customers", nil)
			if got := ids(t, list); !slices.Contains(got, ts.CustomerID) {
				t.Errorf("super-admin's customer list %v lacks the default customer %s", got, ts.CustomerID)
			}
			// The customer admin manages its own customer.
			if c := admin.in(t).ok("GET", "/v1.0/customer", nil); c["id"] != ts.CustomerID {
				t.Errorf("GET /customer as admin: id %v, want %s", c["id"], ts.CustomerID)
			}
		})

		t.Run("an agent manages itself", func(t *testing.T) {
			outer := agent
			agent := agent.in(t)
			if a := agent.ok("GET", "/v1.0/agents/"+agentID, nil); a["id"] != agentID {
				t.Errorf("GET own agent: id %v, want %s", a["id"], agentID)
			}
			if a := agent.ok("PUT", "/v1.0/agents/"+agentID+"/status", map[string]any{"status": "busy"}); a["status"] != "busy" {
				t.Errorf("PUT own status answered %v, want busy", a["status"])
			}
			if a := key.in(t).ok("GET", "/v1.0/agents/"+agentID, nil); a["status"] != "busy" {
				t.Errorf("own status change not stored: %v", a["status"])
			}
			a := key.in(t).ok("GET", "/v1.0/agents/"+agentID, nil)
			username := str(t, a, "username")
			agent.ok("PUT", "/v1.0/agents/"+agentID+"/password", map[string]any{"password": "a-new-password-1"})
			// The change ended the token it was made with; the tests after
			// this one work with a token of the new password.
			agent.fails("GET", "/v1.0/me", nil, http.StatusUnauthorized, convo.ReasonUnauthenticated)
			outer.cred = ts.login(t, username, "a-new-password-1")
			r := call(t, "POST", ts.URL()+"/v1.0/auth/login", "", map[string]any{"username": username, "password": "password-" + username})
			if r.Status != http.StatusUnauthorized {
				t.Errorf("login with the old password: status %d, want 401", r.Status)
			}
		})

		t.Run("me", func(t *testing.T) {
			me := agent.in(t).ok("GET", "/v1.0/me", nil)
			if me["id"] != agentID || me["customer_id"] != ts.CustomerID || me["permission"] != float64(convo.PermissionCustomerAgent) {
				t.Errorf("GET /me with a token: %v, want agent %s of customer %s", me, agentID, ts.CustomerID)
			}
			if _, ok := me["password"]; ok {
				t.Errorf("GET /me shows a password field")
			}
			me = key.in(t).ok("GET", "/v1.0/me", nil)
			if me["customer_id"] != ts.CustomerID {
				t.Errorf("GET /me with an access key: %v, want customer %s", me, ts.CustomerID)
			}
			for _, cred := range []string{"", "nonsense", ts.AdminKey + "x"} {
				r := call(t, "GET", ts.URL()+"/v1.0/me", cred, nil)
				if r.Status != http.StatusUnauthorized {
					t.Errorf("GET /me with credential %q: status %d, want 401", cred, r.Status)
				}
			}
		})
	})
}
