package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

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

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// A provider's NUL is dropped and the message stored, alike on both
// databases: refusing it would have the provider retry it forever.
func TestNULInProviderInputIsDropped(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		admin := e.admin(t)
		messagesOf := func(convID string) []map[string]any {
			return rows(t, admin.ok("GET", "/v1.0/conversations/"+convID+"/messages", nil))
		}
		conversationOf := func(accountID, dialogID string) map[string]any {
			t.Helper()
			var found map[string]any
			eventually(t, 5*time.Second, func() error {
				list := rows(t, admin.ok("GET", "/v1.0/conversations"+q("account_id", accountID, "dialog_id", dialogID), nil))
				if len(list) != 1 {
					return fmt.Errorf("%d conversations of dialog %s", len(list), dialogID)
				}
				found = list[0]
				return nil
			})
			return found
		}

		t.Run("LINE", func(t *testing.T) {
			acc := e.newAccount(admin, convo.AccountLine)
			user := lineID('U')
			e.line.AddProfile(user, "Ann\x00 Lee")
			ev := lineMessage(lineUser(user[:5]+"\x00"+user[5:]), lineText("hello\x00world"))
			ev["message"].(map[string]any)["id"] = "48\x000000000000000001"
			ev["webhookEventId"], ev["replyToken"] = "01H\x00X", "r\x00t"
			ev["message"].(map[string]any)["quoteToken"] = "q\x00t"
			body, _ := json.Marshal(map[string]any{"destination": "U\x00bot", "events": []any{ev}})
			if r := e.postLine(t, acc, body); r.Status != http.StatusOK {
				t.Fatalf("signed LINE hook with NULs: status %d\n%s", r.Status, r.Body)
			}
			conv := conversationOf(acc.ID, user)
			msgs := messagesOf(str(t, conv, "id"))
			if len(msgs) != 1 || msgs[0]["text"] != "helloworld" {
				t.Fatalf("stored %v, want the one message helloworld", msgs)
			}
			eventually(t, 5*time.Second, func() error {
				c := admin.ok("GET", "/v1.0/conversations/"+str(t, conv, "id"), nil)
				if name := obj(t, c, "peer")["target_name"]; name != "Ann Lee" {
					return fmt.Errorf("peer name %q, want Ann Lee", name)
				}
				return nil
			})
			// LINE's redelivery is recognised by the id as stored.
			if r := e.postLine(t, acc, body); r.Status != http.StatusOK || len(messagesOf(str(t, conv, "id"))) != 1 {
				t.Errorf("the redelivered hook: status %d, %d messages, want 200 and still one", r.Status, len(messagesOf(str(t, conv, "id"))))
			}
		})

		t.Run("WhatsApp", func(t *testing.T) {
			acc := e.newAccount(admin, convo.AccountWhatsApp)
			from := waID()
			raw := from[:3] + "\x00" + from[3:]
			value := waInbound(raw, "Bea\x00 Chan", waText("hi\x00 there"))
			value["messages"].([]any)[0].(map[string]any)["id"] = "wamid.\x00ABC"
			if r := e.postWhatsApp(t, acc, waWebhook(acc, value)); r.Status != http.StatusOK {
				t.Fatalf("signed WhatsApp hook with NULs: status %d\n%s", r.Status, r.Body)
			}
			conv := conversationOf(acc.ID, from)
			if name := obj(t, conv, "peer")["target_name"]; name != "Bea Chan" {
				t.Errorf("peer name %q, want Bea Chan", name)
			}
			if msgs := messagesOf(str(t, conv, "id")); len(msgs) != 1 || msgs[0]["text"] != "hi there" {
				t.Errorf("stored %v, want the one message %q", msgs, "hi there")
			}
		})

		t.Run("SMS", func(t *testing.T) {
			acc := e.newAccount(admin, convo.AccountSMS)
			peer := uniquePhone()
			form := smsForm(acc, peer[:4]+"\x00"+peer[4:], "see\x00 this", [2]string{"image/jpeg", "https://api.twilio.com/media/ME\x001"})
			form.Set("MessageSid", "MM\x00"+randomHexString(16))
			form.Set("FromCity", "SAN\x00FRANCISCO")
			if r := e.postTwilio(t, acc, acc.Hook, form); r.Status != http.StatusOK {
				t.Fatalf("signed Twilio hook with NULs: status %d\n%s", r.Status, r.Body)
			}
			conv := conversationOf(acc.ID, peer)
			msgs := messagesOf(str(t, conv, "id"))
			if len(msgs) != 1 || msgs[0]["text"] != "see this" {
				t.Fatalf("stored %v, want the one message %q", msgs, "see this")
			}
			medias := msgs[0]["medias"].([]any)
			if len(medias) != 1 || medias[0].(map[string]any)["filename"] != "https://api.twilio.com/media/ME1" {
				t.Errorf("medias %v, want the picture's URL without the NUL", medias)
			}
			// A status callback with NULs is taken too.
			status := url.Values{"MessageSid": {"SM\x00x"}, "MessageStatus": {"delivered"}, "ErrorCode": {"3\x000"}}
			if r := e.postTwilio(t, acc, acc.Hook+"/status", status); r.Status != http.StatusOK {
				t.Errorf("status callback with NULs: status %d\n%s", r.Status, r.Body)
			}
		})
	})
}

// A phone number is read digit for digit, whatever script its digits are
// in, and refused rather than shortened when it holds anything else.
func TestPhoneNumbersAreNeverShortened(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		admin := e.admin(t)
		acc := e.newAccount(admin, convo.AccountSMS)
		ascii := uniquePhone() // +1555 and seven digits
		fullwidth := ascii[:len(ascii)-1] + string(rune('０'+rune(ascii[len(ascii)-1]-'0')))
		first := admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": fullwidth}})
		if first["dialog_id"] != ascii || obj(t, first, "peer")["target"] != ascii {
			t.Fatalf("peer %q made dialog %v, peer %v; want %s", fullwidth, first["dialog_id"], first["peer"], ascii)
		}
		formatted := "+1 (" + ascii[2:5] + ") " + ascii[5:8] + "-" + ascii[8:]
		if again := admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": formatted}}); again["id"] != first["id"] {
			t.Errorf("%q is another conversation than %q", formatted, fullwidth)
		}
		count := func() int { return len(rows(t, admin.ok("GET", "/v1.0/conversations", nil))) }
		n := count()
		for _, target := range []string{ascii + "x", ascii[:len(ascii)-1] + "O", "tel:" + ascii, ascii + "²", ascii[:6] + "\u200b" + ascii[6:]} {
			admin.fails("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": target}},
				http.StatusBadRequest, "INVALID_PEER")
		}
		wa := e.newAccount(admin, convo.AccountWhatsApp)
		admin.fails("POST", "/v1.0/conversations", map[string]any{"account_id": wa.ID, "peer": map[string]any{"type": "whatsapp", "target": ascii[1:] + "x"}},
			http.StatusBadRequest, "INVALID_PEER")
		if count() != n {
			t.Errorf("refused peers made conversations")
		}
		admin.fails("POST", "/v1.0/conversation_accounts", map[string]any{"type": "sms", "name": "n", "token": "t",
			"provider_data": map[string]any{"account_sid": "AC" + randomHexString(16), "number": uniquePhone() + "1x"}}, http.StatusBadRequest, "INVALID_NUMBER")

		// A signed inbound SMS from a fullwidth number lands in the
		// conversation of the ASCII one; one from a sender that is no
		// number is refused and stores nothing.
		if r := e.postTwilio(t, acc, acc.Hook, smsForm(acc, fullwidth, "from fullwidth")); r.Status != http.StatusOK {
			t.Fatalf("inbound SMS from %q: status %d\n%s", fullwidth, r.Status, r.Body)
		}
		msgs := rows(t, admin.ok("GET", "/v1.0/conversations/"+str(t, first, "id")+"/messages", nil))
		if len(msgs) != 1 || msgs[0]["text"] != "from fullwidth" {
			t.Errorf("messages of %s: %v, want the inbound one", ascii, msgs)
		}
		for _, from := range []string{ascii[:len(ascii)-1] + "x", "whatsapp:" + ascii} {
			r := e.postTwilio(t, acc, acc.Hook, smsForm(acc, from, "from junk"))
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "INVALID_PEER") {
				t.Errorf("inbound SMS from %q: status %d, want 400 INVALID_PEER\n%s", from, r.Status, r.Body)
			}
		}
		if count() != n {
			t.Errorf("refused hooks made conversations")
		}
	})
}

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
