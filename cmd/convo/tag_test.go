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

// This file tests /v1.0/tags and an agent's tag_ids and addresses.

// tagIDsOf returns an agent's tag_ids.
func tagIDsOf(t testing.TB, agent map[string]any) []string {
	t.Helper()
	raw, ok := agent["tag_ids"].([]any)
	if !ok {
		t.Fatalf("tag_ids is %T (%v), want an array", agent["tag_ids"], agent["tag_ids"])
	}
	out := make([]string, len(raw))
	for i, v := range raw {
		out[i] = v.(string)
	}
	return out
}

func TestTags(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b)
		admin := ts.as(ts.AdminKey)
		super := ts.superAdmin(t)
		_, otherKey := super.newCustomer()
		other := ts.as(otherKey)
		_, plainToken := admin.newAgent(convo.PermissionCustomerAgent)
		_, managerToken := admin.newAgent(convo.PermissionCustomerManager)

		t.Run("create, read, list, rename", func(t *testing.T) {
			admin := admin.in(t)
			tag := admin.ok("POST", "/v1.0/tags", map[string]any{"name": " VIP ", "detail": "high priority"})
			id := str(t, tag, "id")
			if tag["name"] != "VIP" || tag["detail"] != "high priority" || tag["customer_id"] != ts.CustomerID ||
				tag["tm_delete"] != convo.Never.String() || tag["tm_create"] != tag["tm_update"] {
				t.Errorf("created tag %v", tag)
			}
			if got := admin.ok("GET", "/v1.0/tags/"+id, nil); !sameJSON(got, tag) {
				t.Errorf("GET %v, want %v", got, tag)
			}
			renamed := admin.ok("PUT", "/v1.0/tags/"+id, map[string]any{"name": "Gold", "detail": ""})
			if renamed["name"] != "Gold" || renamed["detail"] != "" || renamed["tm_create"] != tag["tm_create"] {
				t.Errorf("renamed %v", renamed)
			}
			if got := admin.ok("PUT", "/v1.0/tags/"+id, map[string]any{}); got["name"] != "Gold" {
				t.Errorf("an empty PUT changed the tag: %v", got)
			}
			if !slices.Contains(ids(t, admin.ok("GET", "/v1.0/tags", nil)), id) {
				t.Error("the list lacks the tag")
			}
			// A manager manages tags too.
			ts.as(managerToken).in(t).ok("POST", "/v1.0/tags", map[string]any{"name": unique("by-manager")})
		})

		t.Run("lists page", func(t *testing.T) {
			admin := admin.in(t)
			var made []string
			for range 3 {
				made = append(made, str(t, admin.ok("POST", "/v1.0/tags", map[string]any{"name": unique("paged")}), "id"))
			}
			seen := admin.walkPages("/v1.0/tags", "page_size", "2")
			for _, id := range made {
				if n := len(slices.DeleteFunc(slices.Clone(seen), func(s string) bool { return s != id })); n != 1 {
					t.Errorf("tag %s listed %d times over the pages", id, n)
				}
			}
		})

		t.Run("names are unique among live tags", func(t *testing.T) {
			admin := admin.in(t)
			name := unique("team")
			first := str(t, admin.ok("POST", "/v1.0/tags", map[string]any{"name": name}), "id")
			admin.fails("POST", "/v1.0/tags", map[string]any{"name": name}, http.StatusConflict, convo.ReasonTagNameTaken)
			second := str(t, admin.ok("POST", "/v1.0/tags", map[string]any{"name": unique("team")}), "id")
			admin.fails("PUT", "/v1.0/tags/"+second, map[string]any{"name": name}, http.StatusConflict, convo.ReasonTagNameTaken)
			// Another customer may use the name.
			other.in(t).ok("POST", "/v1.0/tags", map[string]any{"name": name})
			// A deleted tag frees its name.
			admin.ok("DELETE", "/v1.0/tags/"+first, nil)
			admin.ok("PUT", "/v1.0/tags/"+second, map[string]any{"name": name})
		})

		t.Run("bad input is 400 and changes nothing", func(t *testing.T) {
			admin := admin.in(t)
			id := str(t, admin.ok("POST", "/v1.0/tags", map[string]any{"name": unique("keep")}), "id")
			before := string(admin.do("GET", "/v1.0/tags", nil).Body)
			admin.fails("POST", "/v1.0/tags", map[string]any{"detail": "no name"}, http.StatusBadRequest, "INVALID_NAME")
			admin.fails("POST", "/v1.0/tags", map[string]any{"name": "   "}, http.StatusBadRequest, "INVALID_NAME")
			admin.fails("POST", "/v1.0/tags", map[string]any{"name": strings.Repeat("x", convo.MaxText+1)}, http.StatusBadRequest, convo.ReasonTooLong)
			admin.fails("POST", "/v1.0/tags", `{"name":`, http.StatusBadRequest, convo.ReasonInvalidJSON)
			admin.fails("POST", "/v1.0/tags", map[string]any{"name": 7}, http.StatusBadRequest, convo.ReasonInvalidJSON)
			admin.fails("PUT", "/v1.0/tags/"+id, map[string]any{"name": ""}, http.StatusBadRequest, "INVALID_NAME")
			admin.fails("PUT", "/v1.0/tags/"+id, map[string]any{"detail": strings.Repeat("x", convo.MaxText+1)}, http.StatusBadRequest, convo.ReasonTooLong)
			admin.fails("GET", "/v1.0/tags/not-an-id", nil, http.StatusBadRequest, convo.ReasonInvalidID)
			admin.fails("GET", "/v1.0/tags/"+convo.NewID(), nil, http.StatusNotFound, convo.ReasonTagNotFound)
			if after := string(admin.do("GET", "/v1.0/tags", nil).Body); after != before {
				t.Errorf("refused requests changed the tags:\n%s\n%s", before, after)
			}
		})

		t.Run("another customer's tag is missing", func(t *testing.T) {
			admin, other := admin.in(t), other.in(t)
			theirs := str(t, other.ok("POST", "/v1.0/tags", map[string]any{"name": unique("theirs")}), "id")
			ours := str(t, admin.ok("POST", "/v1.0/tags", map[string]any{"name": unique("ours")}), "id")
			admin.fails("GET", "/v1.0/tags/"+theirs, nil, http.StatusNotFound, convo.ReasonTagNotFound)
			admin.fails("PUT", "/v1.0/tags/"+theirs, map[string]any{"name": "mine now"}, http.StatusNotFound, convo.ReasonTagNotFound)
			admin.fails("DELETE", "/v1.0/tags/"+theirs, nil, http.StatusNotFound, convo.ReasonTagNotFound)
			if slices.Contains(ids(t, admin.ok("GET", "/v1.0/tags", nil)), theirs) {
				t.Error("another customer's tag is in the list")
			}
			if slices.Contains(ids(t, other.ok("GET", "/v1.0/tags", nil)), ours) {
				t.Error("our tag is in another customer's list")
			}
			if got := other.ok("GET", "/v1.0/tags/"+theirs, nil); !strings.HasPrefix(sget(got, "name"), "theirs") {
				t.Errorf("the refused requests changed the other customer's tag: %v", got)
			}
		})

		t.Run("a plain agent may not manage tags", func(t *testing.T) {
			plain := ts.as(plainToken).in(t)
			id := str(t, admin.in(t).ok("POST", "/v1.0/tags", map[string]any{"name": unique("locked")}), "id")
			plain.fails("GET", "/v1.0/tags", nil, http.StatusForbidden, "")
			plain.fails("POST", "/v1.0/tags", map[string]any{"name": unique("x")}, http.StatusForbidden, "")
			plain.fails("GET", "/v1.0/tags/"+id, nil, http.StatusForbidden, "")
			plain.fails("PUT", "/v1.0/tags/"+id, map[string]any{"name": "x"}, http.StatusForbidden, "")
			plain.fails("DELETE", "/v1.0/tags/"+id, nil, http.StatusForbidden, "")
		})

		t.Run("agent tag_ids name live tags of the customer", func(t *testing.T) {
			admin, other := admin.in(t), other.in(t)
			agentID, _ := admin.newAgent(convo.PermissionCustomerAgent)
			t1 := str(t, admin.ok("POST", "/v1.0/tags", map[string]any{"name": unique("t")}), "id")
			t2 := str(t, admin.ok("POST", "/v1.0/tags", map[string]any{"name": unique("t")}), "id")
			agent := admin.ok("PUT", "/v1.0/agents/"+agentID+"/tag_ids", map[string]any{"tag_ids": []string{t1, strings.ToUpper(t2), t1}})
			if got := tagIDsOf(t, agent); !slices.Equal(got, []string{t1, t2}) {
				t.Fatalf("tag_ids %v, want %v", got, []string{t1, t2})
			}
			theirs := str(t, other.ok("POST", "/v1.0/tags", map[string]any{"name": unique("theirs")}), "id")
			gone := str(t, admin.ok("POST", "/v1.0/tags", map[string]any{"name": unique("gone")}), "id")
			admin.ok("DELETE", "/v1.0/tags/"+gone, nil)
			tooMany := make([]string, convo.MaxTagIDs+1)
			for i := range tooMany {
				tooMany[i] = convo.NewID()
			}
			before := admin.ok("GET", "/v1.0/agents/"+agentID, nil)
			for _, c := range []struct {
				name   string
				body   any
				reason string
			}{
				{"another customer's tag", map[string]any{"tag_ids": []string{t1, theirs}}, "INVALID_TAG_IDS"},
				{"an unknown tag", map[string]any{"tag_ids": []string{convo.NewID()}}, "INVALID_TAG_IDS"},
				{"a deleted tag", map[string]any{"tag_ids": []string{gone}}, "INVALID_TAG_IDS"},
				{"not a UUID", map[string]any{"tag_ids": []string{"vip"}}, "INVALID_TAG_IDS"},
				{"no tag_ids", map[string]any{}, "INVALID_TAG_IDS"},
				{"too many", map[string]any{"tag_ids": tooMany}, convo.ReasonTooLong},
				{"not an array", map[string]any{"tag_ids": t1}, convo.ReasonInvalidJSON},
			} {
				admin.fails("PUT", "/v1.0/agents/"+agentID+"/tag_ids", c.body, http.StatusBadRequest, c.reason)
				if after := admin.ok("GET", "/v1.0/agents/"+agentID, nil); !sameJSON(after, before) {
					t.Errorf("%s changed the agent: %v", c.name, after)
				}
			}
			// The same rule holds where agents are created and updated.
			admin.fails("PUT", "/v1.0/agents/"+agentID, map[string]any{"tag_ids": []string{theirs}}, http.StatusBadRequest, "INVALID_TAG_IDS")
			admin.fails("POST", "/v1.0/agents", map[string]any{"username": unique("u"), "password": "password-1", "tag_ids": []string{theirs}},
				http.StatusBadRequest, "INVALID_TAG_IDS")
			created := admin.ok("POST", "/v1.0/agents", map[string]any{"username": unique("u"), "password": "password-1", "tag_ids": []string{t2}})
			if got := tagIDsOf(t, created); !slices.Equal(got, []string{t2}) {
				t.Errorf("created with tag_ids %v", got)
			}
			// Another customer cannot tag our agent, nor see it.
			other.fails("PUT", "/v1.0/agents/"+agentID+"/tag_ids", map[string]any{"tag_ids": []string{theirs}}, http.StatusNotFound, convo.ReasonAgentNotFound)
			// Only admins and managers set tags, also on themselves.
			plainID, plainToken := admin.newAgent(convo.PermissionCustomerAgent)
			ts.as(plainToken).in(t).fails("PUT", "/v1.0/agents/"+plainID+"/tag_ids", map[string]any{"tag_ids": []string{t1}}, http.StatusForbidden, "")

			// Deleting a tag takes it off its agents.
			admin.ok("DELETE", "/v1.0/tags/"+t1, nil)
			if got := tagIDsOf(t, admin.ok("GET", "/v1.0/agents/"+agentID, nil)); !slices.Equal(got, []string{t2}) {
				t.Errorf("after deleting %s the agent has tag_ids %v, want [%s]", t1, got, t2)
			}
			admin.ok("DELETE", "/v1.0/tags/"+t2, nil)
			for _, id := range []string{agentID, str(t, created, "id")} {
				if got := tagIDsOf(t, admin.ok("GET", "/v1.0/agents/"+id, nil)); len(got) != 0 {
					t.Errorf("after deleting every tag agent %s has tag_ids %v", id, got)
				}
			}
			admin.fails("GET", "/v1.0/tags/"+t2, nil, http.StatusNotFound, convo.ReasonTagNotFound)
			if slices.Contains(ids(t, admin.ok("GET", "/v1.0/tags", nil)), t2) {
				t.Error("a deleted tag is listed")
			}
			// Created and deleted tags are in the audit log.
			entries := auditLog(admin, url.Values{"resource_type": {"tag"}, "resource_id": {t1}})
			if len(findAudit(entries, convo.AuditCreated, t1)) != 1 || len(findAudit(entries, convo.AuditDeleted, t1)) != 1 {
				t.Errorf("audit of tag %s: %v", t1, entries)
			}
		})

		t.Run("agent addresses", func(t *testing.T) {
			admin := admin.in(t)
			agentID, agentToken := admin.newAgent(convo.PermissionCustomerAgent)
			agent := admin.ok("PUT", "/v1.0/agents/"+agentID+"/addresses", map[string]any{"addresses": []any{
				map[string]any{"type": "tel", "target": " +1 (555) 010-0199 ", "name": "desk"},
				map[string]any{"type": "sip", "target": "sip:ann@example.com"},
			}})
			want := []any{
				map[string]any{"type": "tel", "target": "+15550100199", "target_name": "", "name": "desk", "detail": ""},
				map[string]any{"type": "sip", "target": "sip:ann@example.com", "target_name": "", "name": "", "detail": ""},
			}
			if !sameJSON(agent["addresses"], want) {
				t.Errorf("addresses %v, want %v", agent["addresses"], want)
			}
			tooMany := make([]any, convo.MaxAddresses+1)
			for i := range tooMany {
				tooMany[i] = map[string]any{"type": "tel", "target": uniquePhone()}
			}
			before := admin.ok("GET", "/v1.0/agents/"+agentID, nil)
			for _, c := range []struct {
				name   string
				body   any
				reason string
			}{
				{"unknown type", map[string]any{"addresses": []any{map[string]any{"type": "pigeon", "target": "x"}}}, "INVALID_ADDRESS"},
				{"no type", map[string]any{"addresses": []any{map[string]any{"target": "+15550100000"}}}, "INVALID_ADDRESS"},
				{"no target", map[string]any{"addresses": []any{map[string]any{"type": "tel"}}}, "INVALID_ADDRESS"},
				{"a tel that is no number", map[string]any{"addresses": []any{map[string]any{"type": "tel", "target": "call me"}}}, "INVALID_ADDRESS"},
				{"no addresses", map[string]any{}, "INVALID_ADDRESS"},
				{"too many", map[string]any{"addresses": tooMany}, convo.ReasonTooLong},
				{"too long", map[string]any{"addresses": []any{map[string]any{"type": "sip", "target": strings.Repeat("a", convo.MaxAddressField+1)}}}, convo.ReasonTooLong},
				{"not objects", map[string]any{"addresses": []any{"+15550100000"}}, convo.ReasonInvalidJSON},
			} {
				admin.fails("PUT", "/v1.0/agents/"+agentID+"/addresses", c.body, http.StatusBadRequest, c.reason)
				if after := admin.ok("GET", "/v1.0/agents/"+agentID, nil); !sameJSON(after, before) {
					t.Errorf("%s changed the agent: %v", c.name, after)
				}
			}
			// An agent sets its own addresses, not another's.
			self := ts.as(agentToken).in(t)
			self.ok("PUT", "/v1.0/agents/"+agentID+"/addresses", map[string]any{"addresses": []any{}})
			otherID, _ := admin.newAgent(convo.PermissionCustomerAgent)
			self.fails("PUT", "/v1.0/agents/"+otherID+"/addresses", map[string]any{"addresses": []any{}}, http.StatusForbidden, "")
			other.in(t).fails("PUT", "/v1.0/agents/"+agentID+"/addresses", map[string]any{"addresses": []any{}}, http.StatusNotFound, convo.ReasonAgentNotFound)
		})
	})
}
