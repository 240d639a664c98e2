package main

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// This file tests the agent-facing /v1.0/service_agents routes of VoIPbin's
// agent apps (its conversations are in conversation_test.go).

// noSecrets fails t when an answer holds anything secret of an agent: a
// password, its hash, a token.
func noSecrets(t testing.TB, what string, body []byte, tokens ...string) {
	t.Helper()
	text := string(body)
	for _, bad := range append([]string{"password", "$2a$", "$2b$", "token_version", "webhook_secret"}, tokens...) {
		if strings.Contains(text, bad) {
			t.Errorf("%s shows %q: %s", what, bad, text)
		}
	}
}

func TestServiceAgents(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withFastEvents())
		admin := ts.as(ts.AdminKey)
		admin.ok("PUT", "/v1.0/customer", map[string]any{"webhook_uri": "https://hooks.example.com/s3cr3t-path", "webhook_secret": "sh-secret"})
		tag := str(t, admin.ok("POST", "/v1.0/tags", map[string]any{"name": unique("vip")}), "id")
		agentID, agentToken := admin.newAgent(convo.PermissionCustomerAgent)
		admin.ok("PUT", "/v1.0/agents/"+agentID+"/tag_ids", map[string]any{"tag_ids": []string{tag}})
		colleagueID, colleagueToken := admin.newAgent(convo.PermissionCustomerManager)
		super := ts.superAdmin(t)
		_, otherKey := super.newCustomer()
		strangerID, _ := ts.as(otherKey).newAgent(convo.PermissionCustomerAgent)
		me := ts.as(agentToken)

		t.Run("me", func(t *testing.T) {
			me := me.in(t)
			r := me.do("GET", "/v1.0/service_agents/me", nil)
			if r.Status != http.StatusOK || str(t, r.JSON(t), "id") != agentID {
				t.Fatalf("GET me: %d %s", r.Status, r.Body)
			}
			noSecrets(t, "GET me", r.Body, agentToken)
			if got := me.ok("GET", "/v1.0/me", nil); !sameJSON(got, r.JSON(t)) {
				t.Errorf("service_agents/me %s differs from /me %v", r.Body, got)
			}

			// Name, detail and ring method change; permission and tags do not.
			updated := me.ok("PUT", "/v1.0/service_agents/me", map[string]any{"name": "Ann", "detail": "night shift", "ring_method": "linear",
				"permission": int(convo.PermissionCustomerAdmin), "tag_ids": []string{}, "status": "busy", "username": "taken-over"})
			if updated["name"] != "Ann" || updated["detail"] != "night shift" || updated["ring_method"] != "linear" {
				t.Errorf("PUT me: %v", updated)
			}
			seen := admin.in(t).ok("GET", "/v1.0/agents/"+agentID, nil)
			if seen["permission"] != float64(convo.PermissionCustomerAgent) || !slices.Equal(tagIDsOf(t, seen), []string{tag}) ||
				seen["status"] != convo.AgentOffline || seen["username"] == "taken-over" || seen["name"] != "Ann" {
				t.Errorf("after PUT me the admin sees %v", seen)
			}
			// The agent still works with its old rights: the token was not ended.
			me.ok("GET", "/v1.0/service_agents/me", nil)

			before := admin.in(t).ok("GET", "/v1.0/agents/"+agentID, nil)
			me.fails("PUT", "/v1.0/service_agents/me", map[string]any{"ring_method": "shout"}, http.StatusBadRequest, "INVALID_RING_METHOD")
			me.fails("PUT", "/v1.0/service_agents/me", map[string]any{"name": strings.Repeat("x", convo.MaxText+1)}, http.StatusBadRequest, convo.ReasonTooLong)
			me.fails("PUT", "/v1.0/service_agents/me", `{"name": 1}`, http.StatusBadRequest, convo.ReasonInvalidJSON)
			me.fails("PUT", "/v1.0/service_agents/me/status", map[string]any{"status": "asleep"}, http.StatusBadRequest, "INVALID_STATUS")
			me.fails("PUT", "/v1.0/service_agents/me/status", map[string]any{}, http.StatusBadRequest, "INVALID_STATUS")
			me.fails("PUT", "/v1.0/service_agents/me/addresses", map[string]any{"addresses": []any{map[string]any{"type": "tel", "target": "abc"}}},
				http.StatusBadRequest, "INVALID_ADDRESS")
			me.fails("PUT", "/v1.0/service_agents/me/password", map[string]any{"password": "short"}, http.StatusBadRequest, "INVALID_PASSWORD")
			me.fails("PUT", "/v1.0/service_agents/me/password", map[string]any{}, http.StatusBadRequest, "INVALID_PASSWORD")
			if after := admin.in(t).ok("GET", "/v1.0/agents/"+agentID, nil); !sameJSON(after, before) {
				t.Errorf("refused changes of me changed the agent: %v", after)
			}

			if got := me.ok("PUT", "/v1.0/service_agents/me/status", map[string]any{"status": "available"}); got["status"] != "available" {
				t.Errorf("PUT me/status: %v", got)
			}
			addrs := me.ok("PUT", "/v1.0/service_agents/me/addresses", map[string]any{"addresses": []any{map[string]any{"type": "tel", "target": "+1 555 010 0123"}}})
			if !sameJSON(addrs["addresses"], []any{map[string]any{"type": "tel", "target": "+15550100123", "target_name": "", "name": "", "detail": ""}}) {
				t.Errorf("PUT me/addresses: %v", addrs["addresses"])
			}
		})

		t.Run("colleagues", func(t *testing.T) {
			me := me.in(t)
			r := me.do("GET", "/v1.0/service_agents/agents", nil)
			if r.Status != http.StatusOK {
				t.Fatalf("list: %d %s", r.Status, r.Body)
			}
			noSecrets(t, "the agents list", r.Body, agentToken, colleagueToken)
			listed := ids(t, r.JSON(t))
			if !slices.Contains(listed, agentID) || !slices.Contains(listed, colleagueID) || slices.Contains(listed, strangerID) {
				t.Errorf("listed %v, want the customer's agents only", listed)
			}
			// Paged like every list.
			paged := me.walkPages("/v1.0/service_agents/agents", "page_size", "1")
			if !slices.Equal(paged, listed) {
				t.Errorf("pages of one %v, want %v", paged, listed)
			}
			r = me.do("GET", "/v1.0/service_agents/agents/"+colleagueID, nil)
			if r.Status != http.StatusOK || str(t, r.JSON(t), "id") != colleagueID {
				t.Fatalf("get a colleague: %d %s", r.Status, r.Body)
			}
			noSecrets(t, "a colleague", r.Body, colleagueToken)
			me.fails("GET", "/v1.0/service_agents/agents/"+strangerID, nil, http.StatusNotFound, convo.ReasonAgentNotFound)
			me.fails("GET", "/v1.0/service_agents/agents/nope", nil, http.StatusBadRequest, convo.ReasonInvalidID)
			// Read-only: there is no way to change a colleague here.
			if r := me.do("PUT", "/v1.0/service_agents/agents/"+colleagueID, map[string]any{"name": "x"}); r.Status != http.StatusMethodNotAllowed {
				t.Errorf("PUT a colleague: status %d, want 405", r.Status)
			}
		})

		t.Run("customer", func(t *testing.T) {
			r := me.in(t).do("GET", "/v1.0/service_agents/customer", nil)
			if r.Status != http.StatusOK {
				t.Fatalf("customer: %d %s", r.Status, r.Body)
			}
			cust := r.JSON(t)
			if cust["id"] != ts.CustomerID || cust["webhook_uri"] != "" || cust["webhook_method"] != "" {
				t.Errorf("a plain agent sees the customer as %v", cust)
			}
			noSecrets(t, "the customer", r.Body, "s3cr3t", "sh-secret")
			if got := admin.in(t).ok("GET", "/v1.0/service_agents/customer", nil); got["webhook_uri"] != "https://hooks.example.com/s3cr3t-path" {
				t.Errorf("an admin sees the customer as %v", got)
			}
		})

		t.Run("access keys", func(t *testing.T) {
			key := admin.in(t)
			if got := key.ok("GET", "/v1.0/service_agents/me", nil); !sameJSON(got, key.ok("GET", "/v1.0/me", nil)) {
				t.Errorf("service_agents/me with an access key: %v", got)
			}
			for _, p := range []string{"", "/password", "/status", "/addresses"} {
				key.fails("PUT", "/v1.0/service_agents/me"+p, map[string]any{"name": "x", "password": "password-x", "status": "busy", "addresses": []any{}},
					http.StatusBadRequest, "NOT_A_LOGIN")
			}
			if !slices.Contains(ids(t, key.ok("GET", "/v1.0/service_agents/agents", nil)), agentID) {
				t.Error("an access key's agent list lacks the agent")
			}
		})

		t.Run("password", func(t *testing.T) {
			username := str(t, admin.ok("GET", "/v1.0/agents/"+agentID, nil), "username")
			r := me.in(t).do("PUT", "/v1.0/service_agents/me/password", map[string]any{"password": "a-new-password"})
			if r.Status != http.StatusOK {
				t.Fatalf("PUT me/password: %d %s", r.Status, r.Body)
			}
			noSecrets(t, "the password change", r.Body, agentToken, "a-new-password")
			// Earlier tokens end, as with PUT /agents/{id}/password.
			me.in(t).fails("GET", "/v1.0/service_agents/me", nil, http.StatusUnauthorized, "")
			fresh := ts.login(t, username, "a-new-password")
			if got := ts.as(fresh).in(t).ok("GET", "/v1.0/service_agents/me", nil); got["id"] != agentID {
				t.Errorf("after the change me is %v", got)
			}
			if r := call(t, "POST", ts.URL()+"/v1.0/auth/login", "", map[string]any{"username": username, "password": "password-" + username}); r.Status != http.StatusUnauthorized {
				t.Errorf("the old password logs in: %d", r.Status)
			}
			entries := auditLog(admin, url.Values{"resource_id": {agentID}, "action": {convo.AuditPasswordChanged}})
			if len(entries) != 1 || entries[0].Actor.ID != agentID {
				t.Errorf("audit of the password change: %v", entries)
			}
		})
	})
}

func TestServiceAgentStream(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withFastEvents())
		admin := ts.as(ts.AdminKey)
		acc := newSMSHookAccount(admin)
		agentID, token := admin.newAgent(convo.PermissionCustomerAgent)
		mine := sget(admin.newConversation(acc.ID), "id")
		theirs := sget(admin.newConversation(acc.ID), "id")
		admin.ok("PUT", "/v1.0/conversations/"+mine, map[string]any{"owner_id": agentID})
		otherID, _ := admin.newAgent(convo.PermissionCustomerAgent)
		admin.ok("PUT", "/v1.0/conversations/"+theirs, map[string]any{"owner_id": otherID})

		auth := "token=" + url.QueryEscape(token)
		plain := dialLive(t, admin, auth, nil)
		twin := dialLive(t, admin, "/v1.0/service_agents/ws?"+auth, nil)
		bearer := dialLive(t, admin, "/v1.0/service_agents/ws?", http.Header{"Authorization": {"Bearer " + token}})
		admin.ok("PUT", "/v1.0/conversations/"+theirs, map[string]any{"name": "not for the agent"})
		admin.ok("PUT", "/v1.0/conversations/"+mine, map[string]any{"name": "for the agent"})
		admin.ok("PUT", "/v1.0/conversations/"+mine, map[string]any{"detail": "marker"})
		want := plain.until(t, detailIs("marker"))
		for _, ev := range want {
			if ev.subject() != mine {
				t.Errorf("/v1.0/ws sent %v to a plain agent", ev)
			}
		}
		for name, s := range map[string]*streamClient{"token": twin, "Authorization": bearer} {
			got := s.until(t, detailIs("marker"))
			if len(got) != len(want) {
				t.Fatalf("service_agents/ws (%s) sent %v, /v1.0/ws %v", name, got, want)
			}
			for i := range want {
				if got[i].ID != want[i].ID || got[i].Type != want[i].Type || !sameJSON(got[i].Data, want[i].Data) || !slices.Equal(got[i].Keys, want[i].Keys) {
					t.Errorf("service_agents/ws (%s) event %d: %v, want %v", name, i, got[i], want[i])
				}
			}
		}
		if got := dialStreamStatus(t, ts.URL(), "/v1.0/service_agents/ws?token=not.a.token", nil); got != http.StatusUnauthorized {
			t.Errorf("a bad token: handshake status %d, want 401", got)
		}
	})
}
