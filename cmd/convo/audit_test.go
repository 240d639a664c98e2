package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// auditEntry is an audit log entry as the API shows it.
type auditEntry struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	Actor      struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"actor"`
	Action       string                    `json:"action"`
	ResourceType string                    `json:"resource_type"`
	ResourceID   string                    `json:"resource_id"`
	Changes      map[string]map[string]any `json:"changes"`
	Address      string                    `json:"address"`
	TMCreate     string                    `json:"tm_create"`
}

// auditLog lists every audit entry matching query, walking all pages.
func auditLog(a *api, query url.Values) []auditEntry {
	a.t.Helper()
	var all []auditEntry
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("page_size", "3")
	for {
		r := a.do("GET", "/v1.0/audit_logs?"+q.Encode(), nil)
		if r.Status != http.StatusOK {
			a.t.Fatalf("GET /audit_logs?%s: status %d\n%s", q.Encode(), r.Status, r.Body)
		}
		var page struct {
			Result []auditEntry `json:"result"`
			Next   string       `json:"next_page_token"`
		}
		r.Decode(a.t, &page)
		all = append(all, page.Result...)
		if len(page.Result) == 0 || page.Next == "" {
			return all
		}
		q.Set("page_token", page.Next)
	}
}

// findAudit returns the entries of an action on a resource.
func findAudit(entries []auditEntry, action, resourceID string) []auditEntry {
	var out []auditEntry
	for _, e := range entries {
		if e.Action == action && e.ResourceID == resourceID {
			out = append(out, e)
		}
	}
	return out
}

func TestAuditLog(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		clock := newSettableClock(time.Now())
		ts := startServer(t, b, withClock(clock))
		key := ts.as(ts.AdminKey)
		keyID := str(t, key.ok("GET", "/v1.0/me", nil), "accesskey_id")

		// Changes made by an access key, a manager and agents themselves.
		agentUser := unique("agent")
		agentID := str(t, key.ok("POST", "/v1.0/agents", map[string]any{"username": agentUser, "password": "password-" + agentUser}), "id")
		managerID, managerToken := key.newAgent(convo.PermissionCustomerManager)
		manager := ts.as(managerToken)
		agentToken := ts.login(t, agentUser, "password-"+agentUser)
		if r := call(t, "POST", ts.URL()+"/v1.0/auth/login", "", map[string]any{"username": agentUser, "password": "not-my-password"}); r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password: status %d", r.Status)
		}
		ts.as(agentToken).ok("PUT", "/v1.0/agents/"+agentID+"/status", map[string]any{"status": "busy"})
		manager.ok("PUT", "/v1.0/agents/"+agentID+"/permission", map[string]any{"permission": convo.PermissionCustomerManager})
		manager.ok("PUT", "/v1.0/agents/"+agentID+"/password", map[string]any{"password": "s3cret-new-password"})
		agentToken = ts.login(t, agentUser, "s3cret-new-password")

		account := key.newSMSAccount()
		conv := str(t, key.newConversation(account), "id")
		manager.ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"owner_id": agentID})
		ts.as(agentToken).ok("POST", "/v1.0/conversations/"+conv+"/unassign", nil)
		manager.ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"name": "only a rename"})
		manager.ok("DELETE", "/v1.0/conversations/"+conv, nil)

		key.ok("PUT", "/v1.0/conversation_accounts/"+account, map[string]any{"token": "r0tated-auth-token"})
		key.ok("PUT", "/v1.0/conversation_accounts/"+account, map[string]any{"name": "renamed, no credential"})
		key.ok("DELETE", "/v1.0/conversation_accounts/"+account, nil)

		sink := webhookSink(t)
		key.ok("PUT", "/v1.0/customer", map[string]any{"webhook_uri": sink, "webhook_secret": "whsec-do-not-show"})
		key.ok("PUT", "/v1.0/customer", map[string]any{"detail": "not a webhook change"})

		spareKey := key.ok("POST", "/v1.0/accesskeys", map[string]any{"name": "ci"})
		spareKeyID := str(t, spareKey, "id")
		key.ok("DELETE", "/v1.0/accesskeys/"+spareKeyID, nil)

		flow := str(t, key.ok("POST", "/v1.0/flows", map[string]any{"name": "f", "actions": []any{}}), "id")
		key.ok("DELETE", "/v1.0/flows/"+flow, nil)

		ts.as(agentToken).ok("POST", "/v1.0/auth/logout", nil)
		key.ok("DELETE", "/v1.0/agents/"+agentID, nil)

		all := auditLog(key, nil)
		raw := string(key.do("GET", "/v1.0/audit_logs", nil).Body)
		for _, secret := range []string{"s3cret-new-password", "whsec-do-not-show", "r0tated-auth-token", "password-" + agentUser, str(t, spareKey, "token")} {
			if strings.Contains(raw, secret) {
				t.Errorf("the audit log shows the secret %q", secret)
			}
		}

		agent := convo.AuditActor{Type: convo.ActorAgent, ID: agentID}
		byManager := convo.AuditActor{Type: convo.ActorAgent, ID: managerID}
		byKey := convo.AuditActor{Type: convo.ActorAccessKey, ID: keyID}
		redacted := map[string]any{"old": convo.Redacted, "new": convo.Redacted}
		for _, want := range []struct {
			action, resourceType, resourceID string
			actor                            convo.AuditActor
			changes                          map[string]map[string]any
		}{
			{convo.AuditCreated, convo.ResourceAgent, agentID, byKey, map[string]map[string]any{
				"username": {"old": nil, "new": agentUser}, "permission": {"old": nil, "new": float64(convo.PermissionCustomerAgent)}}},
			{convo.AuditLogin, convo.ResourceAgent, agentID, agent, nil}, // the first of two
			{convo.AuditLoginFailed, convo.ResourceAgent, agentID, agent, nil},
			{convo.AuditStatusChanged, convo.ResourceAgent, agentID, agent, map[string]map[string]any{"status": {"old": "offline", "new": "busy"}}},
			{convo.AuditPermissionChanged, convo.ResourceAgent, agentID, byManager, map[string]map[string]any{
				"permission": {"old": float64(convo.PermissionCustomerAgent), "new": float64(convo.PermissionCustomerManager)}}},
			{convo.AuditPasswordChanged, convo.ResourceAgent, agentID, byManager, map[string]map[string]any{"password": redacted}},
			{convo.AuditAssigned, convo.ResourceConversation, conv, byManager, map[string]map[string]any{"owner_id": {"old": convo.NilID, "new": agentID}}},
			{convo.AuditUnassigned, convo.ResourceConversation, conv, agent, map[string]map[string]any{"owner_id": {"old": agentID, "new": convo.NilID}}},
			{convo.AuditDeleted, convo.ResourceConversation, conv, byManager, nil},
			{convo.AuditCreated, convo.ResourceAccount, account, byKey, map[string]map[string]any{"type": {"old": nil, "new": "sms"}}},
			{convo.AuditCredentialsChanged, convo.ResourceAccount, account, byKey, map[string]map[string]any{"token": redacted}},
			{convo.AuditDeleted, convo.ResourceAccount, account, byKey, nil},
			{convo.AuditWebhookChanged, convo.ResourceCustomer, ts.CustomerID, byKey, map[string]map[string]any{
				"webhook_uri": {"old": "", "new": sink}, "webhook_method": {"old": "", "new": "POST"}, "webhook_secret": redacted}},
			{convo.AuditCreated, convo.ResourceAccessKey, spareKeyID, byKey, nil},
			{convo.AuditDeleted, convo.ResourceAccessKey, spareKeyID, byKey, nil},
			{convo.AuditDeleted, convo.ResourceFlow, flow, byKey, nil},
			{convo.AuditLogout, convo.ResourceAgent, agentID, agent, nil},
			{convo.AuditDeleted, convo.ResourceAgent, agentID, byKey, nil},
		} {
			found := findAudit(all, want.action, want.resourceID)
			if want.action == convo.AuditLogin && len(found) == 2 {
				// Once with each password.
				found = found[1:]
			}
			if len(found) != 1 {
				t.Errorf("%d entries %s %s %s, want 1", len(found), want.action, want.resourceType, want.resourceID)
				continue
			}
			e := found[0]
			if e.ResourceType != want.resourceType || e.Actor.Type != want.actor.Type || e.Actor.ID != want.actor.ID ||
				e.CustomerID != ts.CustomerID || e.Address != "127.0.0.1" || !strings.HasPrefix(e.TMCreate, clock.Now().UTC().Format("2006-01-02")) {
				t.Errorf("entry %+v, want %s of %s %s by %+v of customer %s from 127.0.0.1", e, want.action, want.resourceType, want.resourceID, want.actor, ts.CustomerID)
			}
			if want.changes != nil && !jsonEqual(e.Changes, want.changes) {
				t.Errorf("%s %s: changes %v, want %v", want.action, want.resourceType, e.Changes, want.changes)
			}
		}
		// Changes that are not audited left no entry: a rename, a non-credential
		// account change, a customer change that leaves its webhook alone.
		if n := len(findAudit(all, convo.AuditCredentialsChanged, account)); n != 1 {
			t.Errorf("%d credential changes of the account, want 1 (the rename is none)", n)
		}
		if n := len(findAudit(all, convo.AuditWebhookChanged, ts.CustomerID)); n != 1 {
			t.Errorf("%d webhook changes, want 1 (the detail change is none)", n)
		}
		for i := 1; i < len(all); i++ {
			if all[i].TMCreate > all[i-1].TMCreate {
				t.Fatalf("entries not newest first: %s before %s", all[i-1].TMCreate, all[i].TMCreate)
			}
		}
		seen := map[string]bool{}
		for _, e := range all {
			if seen[e.ID] {
				t.Fatalf("paging repeated entry %s", e.ID)
			}
			seen[e.ID] = true
		}

		t.Run("filters", func(t *testing.T) {
			key := key.in(t)
			check := func(query url.Values, keep func(auditEntry) bool) {
				t.Helper()
				var want []string
				for _, e := range all {
					if keep(e) {
						want = append(want, e.ID)
					}
				}
				var got []string
				for _, e := range auditLog(key, query) {
					got = append(got, e.ID)
				}
				if len(want) == 0 || strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("filter %v: got %v, want %v (non-empty)", query, got, want)
				}
			}
			check(url.Values{"actor_id": {agentID}}, func(e auditEntry) bool { return e.Actor.ID == agentID })
			check(url.Values{"resource_type": {"conversation"}}, func(e auditEntry) bool { return e.ResourceType == "conversation" })
			check(url.Values{"resource_id": {agentID}}, func(e auditEntry) bool { return e.ResourceID == agentID })
			check(url.Values{"action": {"deleted"}}, func(e auditEntry) bool { return e.Action == "deleted" })
			check(url.Values{"action": {"deleted"}, "resource_type": {"account"}, "actor_id": {keyID}}, func(e auditEntry) bool {
				return e.Action == "deleted" && e.ResourceType == "account"
			})
			if got := auditLog(key, url.Values{"resource_id": {convo.NewID()}}); len(got) != 0 {
				t.Errorf("an unknown resource has %d entries", len(got))
			}
			for _, bad := range []string{"actor_id=nope", "resource_id=nope", "resource_type=planet", "action=dance", "page_token=yesterday"} {
				key.fails("GET", "/v1.0/audit_logs?"+bad, nil, http.StatusBadRequest, "")
			}
		})

		t.Run("who may read it", func(t *testing.T) {
			if got := auditLog(manager.in(t), url.Values{"action": {"logout"}}); len(got) != 1 {
				t.Errorf("a manager sees %d logouts, want 1", len(got))
			}
			_, plainToken := key.newAgent(convo.PermissionCustomerAgent)
			ts.as(plainToken).in(t).fails("GET", "/v1.0/audit_logs", nil, http.StatusForbidden, convo.ReasonPermission)
			ts.as("").in(t).fails("GET", "/v1.0/audit_logs", nil, http.StatusUnauthorized, "")
			// Another customer sees only its own entries, and none of ours by any filter.
			_, otherKey := ts.superAdmin(t).newCustomer()
			other := ts.as(otherKey).in(t)
			for _, e := range auditLog(other, nil) {
				if e.CustomerID == ts.CustomerID || seen[e.ID] {
					t.Errorf("another customer sees our entry %+v", e)
				}
			}
			for _, q := range []url.Values{{"resource_id": {agentID}}, {"actor_id": {keyID}}, {"resource_id": {ts.CustomerID}}} {
				if got := auditLog(other, q); len(got) != 0 {
					t.Errorf("another customer filtering %v sees %d entries", q, len(got))
				}
			}
		})

		t.Run("retention", func(t *testing.T) {
			// A day short of the retention everything stays; past it, what
			// is older goes, and what came later stays.
			key := ts.as(ts.AdminKey).in(t)
			before := len(auditLog(key, nil))
			clock.Advance(89 * 24 * time.Hour)
			ts.restart(t)
			key.base = ts.URL()
			key.ok("POST", "/v1.0/accesskeys", map[string]any{"name": "later"})
			eventually(t, 5*time.Second, func() error {
				if n := len(auditLog(key, nil)); n != before+1 {
					return fmt.Errorf("%d entries kept 89 days on, want %d", n, before+1)
				}
				return nil
			})
			clock.Advance(2 * 24 * time.Hour)
			ts.restart(t)
			key.base = ts.URL()
			eventually(t, 5*time.Second, func() error {
				left := auditLog(key, nil)
				if len(left) != 1 || left[0].Action != convo.AuditCreated || left[0].ResourceType != convo.ResourceAccessKey {
					return fmt.Errorf("after 91 days: %d entries %+v, want only the later key's creation", len(left), left)
				}
				return nil
			})
		})
	})
}
