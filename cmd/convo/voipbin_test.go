package main

// VoIPbin's own clients against convo: the calls they make, sent exactly as
// they send them.

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// VoIPbin's clients create an SMS account without provider_data, which they
// cannot send. The account is stored, listed and not configured: sends and
// hooks are refused at once, naming what is missing, until a PUT completes it.
func TestVoIPbinClientsCreateAccountsWithoutProviderData(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		key := e.admin(t)

		// Exactly the clients' bodies.
		var bare []map[string]any
		for _, body := range []string{
			`{"type":"sms","name":"main","detail":"d","token":"tok","secret":"sec"}`,
			`{"type":"sms","name":"main","detail":"d","token":"","secret":""}`,
			`{"type":"whatsapp","name":"wa","detail":"d","token":"tok","secret":"sec"}`,
		} {
			var v map[string]any
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Fatal(err)
			}
			got := key.ok("POST", "/v1.0/conversation_accounts", body)
			if got["configured"] != false {
				t.Errorf("%s: configured = %v, want false", body, got["configured"])
			}
			if got["name"] != v["name"] || got["type"] != v["type"] || got["detail"] != "d" {
				t.Errorf("%s: answered %v", body, got)
			}
			bare = append(bare, got)
		}
		listed := ids(t, key.ok("GET", "/v1.0/conversation_accounts?page_size=100", nil))
		for _, a := range bare {
			if !slices.Contains(listed, str(t, a, "id")) {
				t.Errorf("account %s is not listed", a["id"])
			}
			if got := key.ok("GET", "/v1.0/conversation_accounts/"+str(t, a, "id"), nil); got["configured"] != false {
				t.Errorf("GET shows configured = %v", got["configured"])
			}
		}
		// LINE's two settings are both in the clients' body: still required.
		key.fails("POST", "/v1.0/conversation_accounts", map[string]any{"type": "line", "name": "l", "detail": "", "token": "", "secret": "s"},
			http.StatusBadRequest, "MISSING_TOKEN")
		// A value given is still checked.
		key.fails("POST", "/v1.0/conversation_accounts", map[string]any{"type": "sms", "name": "x", "token": "t",
			"provider_data": map[string]any{"number": "not a number"}}, http.StatusBadRequest, "INVALID_NUMBER")

		// Without its number the account has no business address to start a conversation from.
		sms := str(t, bare[0], "id")
		refusal := key.fails("POST", "/v1.0/conversations", map[string]any{"account_id": sms, "peer": map[string]any{"type": "tel", "target": uniquePhone()}},
			http.StatusConflict, convo.ReasonAccountNotConfigured)
		if refusal["status"] != convo.EPrecondition {
			t.Errorf("refusal %v", refusal)
		}
		for _, want := range []string{"provider_data.account_sid", "provider_data.number"} {
			if msg, _ := refusal["message"].(string); !strings.Contains(msg, want) {
				t.Errorf("the refusal %q does not name %s", msg, want)
			}
		}

		// The hook refuses everything: without the token no signature can be checked.
		acc := &testAccount{ID: sms, Type: convo.AccountSMS, Token: "tok", SID: "AC" + randomHexString(16), Number: uniquePhone(),
			Hook: str(t, bare[0], "hook_url")}
		peer := uniquePhone()
		for _, target := range []string{acc.Hook, acc.Hook + "/status"} {
			r := e.postTwilio(t, acc, target, smsForm(acc, peer, "anyone there?"))
			if r.Status != http.StatusConflict || r.JSON(t)["error"].(map[string]any)["reason"] != convo.ReasonAccountNotConfigured {
				t.Errorf("hook %s of an account that is not configured: %d %s", target, r.Status, r.Body)
			}
		}
		if convs := ids(t, key.ok("GET", "/v1.0/conversations?page_size=100", nil)); len(convs) != 0 {
			t.Errorf("a refused hook made conversations: %v", convs)
		}

		// A PUT completes it: now it sends and receives like any account.
		e.tw.AddNumber(acc.SID, "tok", acc.Number)
		got := key.ok("PUT", "/v1.0/conversation_accounts/"+sms, map[string]any{
			"token": "tok", "provider_data": map[string]any{"account_sid": acc.SID, "number": acc.Number}})
		if got["configured"] != true {
			t.Fatalf("after the PUT: configured = %v", got["configured"])
		}
		conv := str(t, key.newConversation(sms), "id")
		key.ok("POST", "/v1.0/conversations/"+conv+"/messages", map[string]any{"text": "hello"})
		if sent := e.tw.Sent(); len(sent) != 1 || sent[0].From != acc.Number || sent[0].Body != "hello" || sent[0].AccountSID != acc.SID {
			t.Errorf("after the PUT the provider got %+v", sent)
		}
		if r := e.postTwilio(t, acc, acc.Hook, smsForm(acc, peer, "anyone there?")); r.Status != http.StatusOK {
			t.Errorf("hook after the PUT: %d %s", r.Status, r.Body)
		}

		// Taking a setting away makes it not configured again: sends fail
		// at once, naming what is missing, and store nothing.
		got = key.ok("PUT", "/v1.0/conversation_accounts/"+sms, map[string]any{"token": ""})
		if got["configured"] != false {
			t.Errorf("without its token: configured = %v", got["configured"])
		}
		refusal = key.fails("POST", "/v1.0/conversations/"+conv+"/messages", map[string]any{"text": "again"}, http.StatusConflict, convo.ReasonAccountNotConfigured)
		if msg, _ := refusal["message"].(string); !strings.Contains(msg, "token") {
			t.Errorf("the refusal %q does not name the token", msg)
		}
		if msgs := ids(t, key.ok("GET", "/v1.0/conversations/"+conv+"/messages", nil)); len(msgs) != 1 {
			t.Errorf("after a refused send the conversation holds %d messages, want the 1 sent", len(msgs))
		}
		if n := len(e.tw.Sent()); n != 1 {
			t.Errorf("the provider was called %d times, want 1", n)
		}

		// A WhatsApp account without phone_number_id: its hook and its
		// subscription handshake are refused too.
		wa := str(t, bare[2], "hook_url")
		r := call(t, "GET", wa+"?hub.mode=subscribe&hub.verify_token=sec&hub.challenge=42", "", nil)
		if r.Status != http.StatusConflict {
			t.Errorf("handshake of a WhatsApp account without phone_number_id: %d %s", r.Status, r.Body)
		}
		// An account with full provider data is configured from the start.
		if full := e.newAccount(key, convo.AccountWhatsApp); key.ok("GET", "/v1.0/conversation_accounts/"+full.ID, nil)["configured"] != true {
			t.Error("a WhatsApp account with full provider data is not configured")
		}
	})
}

// VoIPbin serves login at the root, outside /v1.0, and its SDK calls it there.
func TestVoIPbinLoginAtTheRoot(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b)
		for _, path := range []string{"/auth/login", "/v1.0/auth/login"} {
			r := call(t, "POST", ts.URL()+path, "", map[string]any{"username": "admin", "password": ts.AdminPassword})
			if r.Status != http.StatusOK {
				t.Fatalf("%s: %d %s", path, r.Status, r.Body)
			}
			got := r.JSON(t)
			if got["username"] != "admin" {
				t.Errorf("%s answered %v", path, got)
			}
			token := str(t, got, "token")
			if me := ts.as(token).ok("GET", "/v1.0/me", nil); me["username"] != "admin" {
				t.Errorf("the token from %s is not the admin's: %v", path, me)
			}
			if r := call(t, "POST", ts.URL()+path, "", map[string]any{"username": "admin", "password": "wrong"}); r.Status != http.StatusUnauthorized {
				t.Errorf("%s with a wrong password: %d", path, r.Status)
			}
		}
		// Only POST is served there; other root paths stay the API's 404.
		if r := call(t, "GET", ts.URL()+"/auth/login", "", nil); r.Status != http.StatusMethodNotAllowed {
			t.Errorf("GET /auth/login: %d", r.Status)
		}
		if r := call(t, "POST", ts.URL()+"/auth/logout", "", nil); r.Status != http.StatusNotFound {
			t.Errorf("POST /auth/logout: %d", r.Status)
		}
	})
}

// What VoIPbin serves beyond conversations and convo leaves out (a voice
// setting, billing, freezing, sign-up) answers the API's 404, never a page.
func TestVoIPbinOutOfScopeRoutesAnswer404(t *testing.T) {
	ts := startServer(t, testdb.SQLite(t))
	key := ts.as(ts.AdminKey)
	id := ts.CustomerID
	for _, route := range []struct{ method, path string }{
		{"PUT", "/v1.0/customer/metadata"},
		{"PUT", "/v1.0/customers/" + id + "/metadata"},
		{"GET", "/v1.0/billing_accounts"},
		{"GET", "/v1.0/billing_account"},
		{"PUT", "/v1.0/customer/billing_account_id"},
		{"POST", "/v1.0/customers/" + id + "/freeze"},
		{"POST", "/v1.0/customers/" + id + "/recover"},
		{"POST", "/auth/signup"},
		{"POST", "/auth/complete-signup"},
		{"POST", "/auth/email-verify"},
		{"POST", "/auth/email-verify-resend"},
		{"POST", "/auth/password-forgot"},
		{"POST", "/auth/password-reset"},
	} {
		key.fails(route.method, route.path, map[string]any{"rtp_debug": true}, http.StatusNotFound, convo.ReasonRouteNotFound)
	}
}
