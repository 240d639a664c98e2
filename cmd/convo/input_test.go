package main

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// writeEndpoint is a write route with a body naming every string field it reads.
type writeEndpoint struct {
	method, path string
	// cred is the credential (empty: none).
	cred string
	body map[string]any
}

// stringLeaves returns the paths (a.b[0].c) of every string in v.
func stringLeaves(v any, path string) []string {
	var out []string
	switch v := v.(type) {
	case string:
		return []string{path}
	case []any:
		for i, e := range v {
			out = append(out, stringLeaves(e, path+"["+strconv.Itoa(i)+"]")...)
		}
	case map[string]any:
		for k, e := range v {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out = append(out, stringLeaves(e, p)...)
		}
	}
	sort.Strings(out)
	return out
}

// withLeaf returns a deep copy of v (plain JSON values) with the string at
// path replaced by s.
func withLeaf(v any, path, s string) any {
	b, _ := json.Marshal(v)
	var c any
	json.Unmarshal(b, &c)
	var set func(v any, path, at string) any
	set = func(v any, path, at string) any {
		switch v := v.(type) {
		case string:
			if at == path {
				return s
			}
		case []any:
			for i, e := range v {
				v[i] = set(e, path, at+"["+strconv.Itoa(i)+"]")
			}
		case map[string]any:
			for k, e := range v {
				p := k
				if at != "" {
					p = at + "." + k
				}
				v[k] = set(e, path, p)
			}
		}
		return v
	}
	return set(c, path, "")
}

// snapshot reads everything the API shows of a customer, and the customers
// list, to show that refused requests changed nothing.
func snapshot(t *testing.T, ts *testServer, key, super string, convID string) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []string{"/v1.0/customer", "/v1.0/agents", "/v1.0/accesskeys", "/v1.0/conversation_accounts",
		"/v1.0/conversation_accounts?deleted=true", "/v1.0/conversations", "/v1.0/flows", "/v1.0/activeflows",
		"/v1.0/conversations/" + convID + "/messages", "/v1.0/audit_logs"} {
		b.Write(ts.as(key).in(t).do("GET", p, nil).Body)
	}
	b.Write(ts.as(super).in(t).do("GET", "/v1.0/customers", nil).Body)
	return b.String()
}

func TestNULInAPIInputIsRefused(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		ts := e.ts
		key := ts.AdminKey
		admin := ts.as(key)
		super := ts.login(t, "admin", ts.AdminPassword)
		agentID, agentToken := admin.newAgent(convo.PermissionCustomerManager)
		accessKeyID := str(t, admin.ok("POST", "/v1.0/accesskeys", map[string]any{"name": "k"}), "id")
		acc := e.newAccount(admin, convo.AccountSMS)
		conv := str(t, admin.newConversation(acc.ID), "id")
		flow := str(t, admin.ok("POST", "/v1.0/flows", map[string]any{"name": "f"}), "id")
		otherCustomer, _ := ts.as(super).newCustomer()
		address := map[string]any{"type": "tel", "target": "+15550001111", "target_name": "Ann", "name": "desk", "detail": "d"}
		customer := map[string]any{"name": "n", "detail": "d", "email": "a@example.com", "phone_number": "+15550001112",
			"address": "1 Main St", "webhook_method": "POST", "webhook_uri": "https://example.com/hook", "webhook_secret": "s"}
		accountBody := map[string]any{"name": "n", "detail": "d", "secret": "s", "token": "t", "message_flow_id": flow,
			"provider_data": map[string]any{"account_sid": acc.SID, "number": acc.Number, "phone_number_id": "1", "display_phone_number": "+1555", "app_secret": "x"}}
		flowBody := map[string]any{"name": "n", "detail": "d", "on_complete_flow_id": convo.NilID, "actions": []any{map[string]any{
			"id": convo.NewID(), "next_id": convo.NilID, "type": "conversation_send", "option": map[string]any{"text": "hi", "conversation_id": conv}}}}
		message := map[string]any{"text": "hello", "medias": []any{map[string]any{"type": "image", "filename": "https://example.com/a.png"}}}
		update := map[string]any{"name": "n", "detail": "d", "owner_id": agentID, "owner_type": "agent"}
		endpoints := []writeEndpoint{
			{"POST", "/v1.0/auth/login", "", map[string]any{"username": "admin", "password": ts.AdminPassword}},
			{"POST", "/v1.0/accesskeys", key, map[string]any{"name": "n", "detail": "d"}},
			{"PUT", "/v1.0/accesskeys/" + accessKeyID, key, map[string]any{"name": "n", "detail": "d"}},
			{"POST", "/v1.0/conversation_accounts", key, merge(accountBody, map[string]any{"type": "sms"})},
			{"PUT", "/v1.0/conversation_accounts/" + acc.ID, key, accountBody},
			{"POST", "/v1.0/agents", key, map[string]any{"username": "u", "password": "password-1", "name": "n", "detail": "d",
				"ring_method": "ringall", "status": "available", "tag_ids": []any{convo.NewID()}, "addresses": []any{address}}},
			{"PUT", "/v1.0/agents/" + agentID, key, map[string]any{"name": "n", "detail": "d", "ring_method": "linear",
				"tag_ids": []any{convo.NewID()}, "addresses": []any{address}}},
			{"PUT", "/v1.0/agents/" + agentID + "/password", key, map[string]any{"password": "password-2"}},
			{"PUT", "/v1.0/agents/" + agentID + "/status", agentToken, map[string]any{"status": "busy"}},
			{"POST", "/v1.0/conversations", key, map[string]any{"account_id": acc.ID, "peer": address, "name": "n", "detail": "d"}},
			{"PUT", "/v1.0/conversations/" + conv, key, update},
			{"PUT", "/v1.0/service_agents/conversations/" + conv, key, update},
			{"POST", "/v1.0/conversations/" + conv + "/messages", key, message},
			{"POST", "/v1.0/service_agents/conversations/" + conv + "/messages", agentToken, message},
			{"PUT", "/v1.0/customer", key, customer},
			{"POST", "/v1.0/customers", super, merge(customer, map[string]any{"username": "u", "password": "password-3"})},
			{"PUT", "/v1.0/customers/" + otherCustomer, super, customer},
			{"POST", "/v1.0/flows", key, flowBody},
			{"PUT", "/v1.0/flows/" + flow, key, flowBody},
		}
		before := snapshot(t, ts, key, super, conv)
		tried := 0
		for _, ep := range endpoints {
			for _, leaf := range stringLeaves(ep.body, "") {
				for _, bad := range []string{"a\x00b", "\x00"} {
					r := call(t, ep.method, ts.URL()+ep.path, ep.cred, withLeaf(ep.body, leaf, bad))
					tried++
					if r.Status != http.StatusBadRequest {
						t.Errorf("%s %s with a NUL in %s: status %d, want 400\n%s", ep.method, ep.path, leaf, r.Status, r.Body)
						continue
					}
					e := r.JSON(t)["error"].(map[string]any)
					if e["status"] != convo.EInvalid || e["reason"] != "NUL_CHARACTER" || !strings.Contains(e["message"].(string), leaf) {
						t.Errorf("%s %s with a NUL in %s: error %v, want INVALID_ARGUMENT NUL_CHARACTER naming the field", ep.method, ep.path, leaf, e)
					}
				}
			}
			// A NUL in a field name is refused too.
			if r := call(t, ep.method, ts.URL()+ep.path, ep.cred, map[string]any{"na\x00me": "x"}); r.Status != http.StatusBadRequest {
				t.Errorf("%s %s with a NUL in a field name: status %d, want 400", ep.method, ep.path, r.Status)
			}
		}
		if tried < 100 {
			t.Errorf("only %d fields tried", tried)
		}

		// Query parameters of every list, and the path.
		lists := map[string][]string{
			"/v1.0/conversations":                       {"owner_id", "account_id", "type", "dialog_id", "deleted", "page_size", "page_token"},
			"/v1.0/service_agents/conversations":        {"page_token"},
			"/v1.0/conversations/" + conv + "/messages": {"page_token"},
			"/v1.0/agents":                              {"status", "page_size"},
			"/v1.0/accesskeys":                          {"page_token"},
			"/v1.0/conversation_accounts":               {"deleted"},
			"/v1.0/flows":                               {"page_token"},
			"/v1.0/activeflows":                         {"flow_id", "reference_id"},
			"/v1.0/webhook_deliveries":                  {"status", "type", "conversation_id"},
			"/v1.0/audit_logs":                          {"actor_id", "resource_type", "resource_id", "action"},
			"/v1.0/conversations/" + conv:               {"x"},
			"/v1.0/conversation/accounts/" + acc.ID:     {"hub.challenge"},
		}
		for path, params := range lists {
			for _, p := range params {
				r := call(t, "GET", ts.URL()+path+"?"+p+"=a%00b", key, nil)
				if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "NUL_CHARACTER") || !strings.Contains(string(r.Body), p) {
					t.Errorf("GET %s?%s=a%%00b: status %d, want 400 NUL_CHARACTER naming %s\n%s", path, p, r.Status, p, r.Body)
				}
			}
		}
		if after := snapshot(t, ts, key, super, conv); after != before {
			t.Errorf("refused requests changed what the API shows:\nbefore %s\nafter  %s", before, after)
		}
	})
}
