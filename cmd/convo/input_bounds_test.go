package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// Every stored string has a maximum length: one byte more is refused,
// naming the field, and changes nothing; the maximum itself is taken.
func TestStoredStringsAreBounded(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		ts := e.ts
		key := ts.AdminKey
		super := ts.login(t, "admin", ts.AdminPassword)
		admin := ts.as(key)
		sms := e.newAccount(admin, convo.AccountSMS)
		conv := str(t, admin.newConversation(sms.ID), "id")
		agentID, _ := admin.newAgent(convo.PermissionCustomerAgent)
		// An account nothing is sent through, whose token the cases change.
		spare := admin.newSMSAccount()
		x := func(n int) string { return strings.Repeat("x", n) }
		email := func(n int) string { return x(n-len("@example.com")) + "@example.com" }
		uri := func(n int) string { return "https://example.com/" + x(n-len("https://example.com/")) }
		smsBody := func() map[string]any {
			return map[string]any{"type": "sms", "name": "n", "token": "t",
				"provider_data": map[string]any{"account_sid": "AC" + randomHexString(16), "number": uniquePhone()}}
		}
		waBody := func() map[string]any {
			return map[string]any{"type": "whatsapp", "name": "n", "token": "t", "secret": "s",
				"provider_data": map[string]any{"phone_number_id": "1" + randomHexString(4), "app_secret": "a", "display_phone_number": "+15550100"}}
		}
		peer := func() map[string]any { return map[string]any{"type": "tel", "target": uniquePhone()} }
		for _, c := range []struct {
			method, path, cred string
			body               func() map[string]any
			field              string
			max                int
			value              func(n int) string
		}{
			{"PUT", "/v1.0/customer", key, func() map[string]any { return map[string]any{} }, "name", convo.MaxText, x},
			{"PUT", "/v1.0/customer", key, func() map[string]any { return map[string]any{} }, "detail", convo.MaxText, x},
			{"PUT", "/v1.0/customer", key, func() map[string]any { return map[string]any{} }, "address", convo.MaxText, x},
			{"PUT", "/v1.0/customer", key, func() map[string]any { return map[string]any{} }, "email", convo.MaxEmail, email},
			{"PUT", "/v1.0/customer", key, func() map[string]any { return map[string]any{} }, "phone_number", convo.MaxPhone, x},
			{"PUT", "/v1.0/customer", key, func() map[string]any { return map[string]any{} }, "webhook_uri", convo.MaxURL, uri},
			{"PUT", "/v1.0/customer", key, func() map[string]any { return map[string]any{} }, "webhook_secret", convo.MaxSecret, x},
			{"POST", "/v1.0/customers", super, func() map[string]any { return map[string]any{} }, "name", convo.MaxText, x},
			{"POST", "/v1.0/agents", key, func() map[string]any { return map[string]any{"username": unique("u"), "password": "password-1"} }, "username", convo.MaxUsername, x},
			{"POST", "/v1.0/agents", key, func() map[string]any { return map[string]any{"username": unique("u"), "password": "password-1"} }, "name", convo.MaxText, x},
			{"PUT", "/v1.0/agents/" + agentID, key, func() map[string]any { return map[string]any{} }, "detail", convo.MaxText, x},
			{"PUT", "/v1.0/agents/" + agentID, key, func() map[string]any {
				return map[string]any{"addresses": []any{map[string]any{"type": "tel", "target": "+15550100"}}}
			}, "addresses[0].name", convo.MaxAddressField, x},
			{"POST", "/v1.0/accesskeys", key, func() map[string]any { return map[string]any{} }, "name", convo.MaxText, x},
			{"POST", "/v1.0/accesskeys", key, func() map[string]any { return map[string]any{} }, "detail", convo.MaxText, x},
			{"POST", "/v1.0/conversation_accounts", key, smsBody, "name", convo.MaxText, x},
			{"POST", "/v1.0/conversation_accounts", key, smsBody, "token", convo.MaxToken, x},
			{"POST", "/v1.0/conversation_accounts", key, smsBody, "provider_data.account_sid", convo.MaxProviderRef, x},
			{"POST", "/v1.0/conversation_accounts", key, waBody, "secret", convo.MaxSecret, x},
			{"POST", "/v1.0/conversation_accounts", key, waBody, "provider_data.app_secret", convo.MaxSecret, x},
			{"POST", "/v1.0/conversation_accounts", key, waBody, "provider_data.phone_number_id", convo.MaxProviderRef, x},
			{"POST", "/v1.0/conversation_accounts", key, waBody, "provider_data.display_phone_number", convo.MaxProviderRef, x},
			{"PUT", "/v1.0/conversation_accounts/" + spare, key, func() map[string]any { return map[string]any{} }, "token", convo.MaxToken, x},
			{"POST", "/v1.0/conversations", key, func() map[string]any { return map[string]any{"account_id": sms.ID, "peer": peer()} }, "name", convo.MaxText, x},
			{"POST", "/v1.0/conversations", key, func() map[string]any { return map[string]any{"account_id": sms.ID, "peer": peer()} }, "peer.target_name", convo.MaxAddressField, x},
			{"PUT", "/v1.0/conversations/" + conv, key, func() map[string]any { return map[string]any{} }, "detail", convo.MaxText, x},
			{"POST", "/v1.0/conversations/" + conv + "/messages", key, func() map[string]any { return map[string]any{} }, "text", convo.MaxText, x},
			{"POST", "/v1.0/conversations/" + conv + "/messages", key, func() map[string]any {
				return map[string]any{"text": "see", "medias": []any{map[string]any{"type": "image", "filename": "https://example.com/a.png"}}}
			}, "medias[0].filename", convo.MaxURL, uri},
			{"POST", "/v1.0/flows", key, func() map[string]any { return map[string]any{} }, "name", convo.MaxText, x},
		} {
			name := c.method + " " + c.path + " " + c.field
			before := snapshot(t, ts, key, super, conv)
			r := call(t, c.method, ts.URL()+c.path, c.cred, withField(c.body(), c.field, c.value(c.max+1)))
			if r.Status != http.StatusBadRequest {
				t.Errorf("%s of %d bytes: status %d, want 400", name, c.max+1, r.Status)
				continue
			}
			if e := r.JSON(t)["error"].(map[string]any); e["reason"] != convo.ReasonTooLong || !strings.Contains(e["message"].(string), strings.ReplaceAll(c.field, "medias[0]", "medias")) {
				t.Errorf("%s of %d bytes: error %v, want TOO_LONG naming the field", name, c.max+1, e)
			}
			if after := snapshot(t, ts, key, super, conv); after != before {
				t.Errorf("%s of %d bytes changed what the API shows", name, c.max+1)
			}
			if r := call(t, c.method, ts.URL()+c.path, c.cred, withField(c.body(), c.field, c.value(c.max))); r.Status != http.StatusOK {
				t.Errorf("%s of %d bytes, the maximum: status %d, want 200\n%.300s", name, c.max, r.Status, r.Body)
			}
		}

		// The values of the report: a megabyte where a token, a webhook or a secret goes.
		mb := x(1_000_000)
		admin.fails("PUT", "/v1.0/conversation_accounts/"+spare, map[string]any{"token": mb}, http.StatusBadRequest, convo.ReasonTooLong)
		admin.fails("PUT", "/v1.0/customer", map[string]any{"webhook_uri": "https://example.com/" + mb}, http.StatusBadRequest, convo.ReasonTooLong)
		admin.fails("PUT", "/v1.0/customer", map[string]any{"webhook_secret": mb}, http.StatusBadRequest, convo.ReasonTooLong)

		// Lists are bounded by count, and a flow's actions by their size.
		ids := make([]string, convo.MaxTagIDs+1)
		for i := range ids {
			ids[i] = str(t, admin.ok("POST", "/v1.0/tags", map[string]any{"name": unique("tag")}), "id")
		}
		admin.fails("PUT", "/v1.0/agents/"+agentID, map[string]any{"tag_ids": ids}, http.StatusBadRequest, convo.ReasonTooLong)
		admin.ok("PUT", "/v1.0/agents/"+agentID, map[string]any{"tag_ids": ids[1:]})
		addrs := make([]any, convo.MaxAddresses+1)
		for i := range addrs {
			addrs[i] = map[string]any{"type": "tel", "target": uniquePhone()}
		}
		admin.fails("PUT", "/v1.0/agents/"+agentID, map[string]any{"addresses": addrs}, http.StatusBadRequest, convo.ReasonTooLong)
		admin.ok("PUT", "/v1.0/agents/"+agentID, map[string]any{"addresses": addrs[1:]})
		var actions []any
		for range convo.MaxFlowActionsJSON / 800 {
			actions = append(actions, flowSendAction("", x(800)))
		}
		admin.fails("POST", "/v1.0/flows", map[string]any{"name": "big", "actions": actions}, http.StatusBadRequest, convo.ReasonTooLong)
		admin.ok("POST", "/v1.0/flows", map[string]any{"name": "big", "actions": actions[:len(actions)/2]})
		admin.ok("PUT", "/v1.0/customer", map[string]any{"webhook_uri": ""})
	})
}

// withField returns a copy of body with the string at path (a.b[0].c) set
// to s, making the objects on the way that are missing.
func withField(body map[string]any, path, s string) any {
	b, _ := json.Marshal(body)
	var c map[string]any
	json.Unmarshal(b, &c)
	var cur any = c
	parts := strings.Split(path, ".")
	for i, p := range parts {
		name, index := p, -1
		if open := strings.Index(p, "["); open >= 0 {
			name = p[:open]
			index, _ = strconv.Atoi(strings.TrimSuffix(p[open+1:], "]"))
		}
		m := cur.(map[string]any)
		last := i == len(parts)-1
		switch {
		case last && index < 0:
			m[name] = s
		case index >= 0:
			list := m[name].([]any)
			if last {
				list[index] = s
			} else {
				cur = list[index]
			}
		default:
			if m[name] == nil {
				m[name] = map[string]any{}
			}
			cur = m[name]
		}
	}
	return c
}
