package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// wantStatusOf maps an HTTP code to the envelope's status.
var wantStatusOf = map[int]string{
	400: convo.EInvalid, 401: convo.EUnauthorized, 403: convo.EForbidden, 404: convo.ENotFound,
}

// checkEnvelope checks that r is an error answer in the envelope, with a
// message and the request id of its X-Request-Id header.
func checkEnvelope(t testing.TB, r *response, code int, reason string) {
	t.Helper()
	if r.Status != code {
		t.Errorf("status %d, want %d\n%s", r.Status, code, r.Body)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var env map[string]map[string]any
	if err := json.Unmarshal(r.Body, &env); err != nil || len(env) != 1 || env["error"] == nil {
		t.Errorf("body %s is not {\"error\": {...}}", r.Body)
		return
	}
	e := env["error"]
	for _, k := range []string{"status", "reason", "message", "request_id"} {
		if _, ok := e[k].(string); !ok {
			t.Errorf("error.%s is %T, want a string; body %s", k, e[k], r.Body)
		}
	}
	if want, ok := wantStatusOf[code]; ok && e["status"] != want {
		t.Errorf("error.status %v, want %s", e["status"], want)
	}
	if e["reason"] != reason {
		t.Errorf("error.reason %v, want %s", e["reason"], reason)
	}
	if e["message"] == "" {
		t.Errorf("error.message is empty")
	}
	if id := r.Header.Get("X-Request-Id"); id == "" || e["request_id"] != id {
		t.Errorf("error.request_id %v, X-Request-Id header %q: want the same non-empty id", e["request_id"], id)
	}
}

func TestErrorAnswers(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b)
		key := ts.as(ts.AdminKey)
		conv := str(t, key.newConversation(key.newSMSAccount()), "id")
		token := ts.login(t, "admin", ts.AdminPassword)
		cases := []struct {
			name, method, path string
			cred               string
			body               any
			code               int
			reason             string
		}{
			{"malformed id", "GET", "/v1.0/conversations/not-a-uuid", ts.AdminKey, nil, 400, convo.ReasonInvalidID},
			{"id with a trailing character", "GET", "/v1.0/conversations/" + conv + "0", ts.AdminKey, nil, 400, convo.ReasonInvalidID},
			{"nil id", "GET", "/v1.0/conversations/" + convo.NilID, ts.AdminKey, nil, 400, convo.ReasonInvalidID},
			{"nil id on PUT", "PUT", "/v1.0/conversations/" + convo.NilID, ts.AdminKey, map[string]any{"name": "x"}, 400, convo.ReasonInvalidID},
			{"malformed agent id", "GET", "/v1.0/agents/123", ts.AdminKey, nil, 400, convo.ReasonInvalidID},
			{"malformed account id", "GET", "/v1.0/conversation_accounts/xyz", ts.AdminKey, nil, 400, convo.ReasonInvalidID},
			{"nil access key id", "GET", "/v1.0/accesskeys/" + convo.NilID, ts.AdminKey, nil, 400, convo.ReasonInvalidID},
			{"malformed messages id", "GET", "/v1.0/conversations/nope/messages", ts.AdminKey, nil, 400, convo.ReasonInvalidID},
			{"missing conversation", "GET", "/v1.0/conversations/" + convo.NewID(), ts.AdminKey, nil, 404, convo.ReasonConversationNotFound},
			{"broken JSON", "PUT", "/v1.0/conversations/" + conv, ts.AdminKey, `{"name": "x"`, 400, convo.ReasonInvalidJSON},
			{"not JSON at all", "POST", "/v1.0/conversations", ts.AdminKey, `name=x`, 400, convo.ReasonInvalidJSON},
			{"wrong JSON type", "PUT", "/v1.0/conversations/" + conv, ts.AdminKey, `{"name": 5}`, 400, convo.ReasonInvalidJSON},
			{"wrong JSON type in a nested object", "POST", "/v1.0/conversations", ts.AdminKey, `{"account_id": "x", "peer": {"target": 15550001111}}`, 400, convo.ReasonInvalidJSON},
			{"array instead of object", "POST", "/v1.0/agents", ts.AdminKey, `[]`, 400, convo.ReasonInvalidJSON},
			{"unknown route", "GET", "/v1.0/nothing-here", ts.AdminKey, nil, 404, convo.ReasonRouteNotFound},
			{"unknown route without credentials", "GET", "/v1.0/nothing-here", "", nil, 404, convo.ReasonRouteNotFound},
			{"unknown route outside the API", "GET", "/index.php", "", nil, 404, convo.ReasonRouteNotFound},
			{"no credential", "GET", "/v1.0/conversations", "", nil, 401, convo.ReasonUnauthenticated},
			{"unknown access key", "GET", "/v1.0/conversations", "ck_not-a-real-key", nil, 401, convo.ReasonUnauthenticated},
			{"forged token", "GET", "/v1.0/conversations", token[:len(token)-4] + "AAAA", nil, 401, convo.ReasonUnauthenticated},
			{"unknown access key in the query", "GET", "/v1.0/conversations?accesskey=ck_wrong", "", nil, 401, convo.ReasonUnauthenticated},
			{"garbage token in the query", "GET", "/v1.0/conversations?token=a.b.c", "", nil, 401, convo.ReasonUnauthenticated},
			{"wrong password", "POST", "/v1.0/auth/login", "", map[string]any{"username": "admin", "password": "wrong-password"}, 401, "INVALID_CREDENTIALS"},
			{"unknown user", "POST", "/v1.0/auth/login", "", map[string]any{"username": "nobody-here", "password": "wrong-password"}, 401, "INVALID_CREDENTIALS"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := call(t, tc.method, ts.URL()+tc.path, tc.cred, tc.body)
				checkEnvelope(t, r, tc.code, tc.reason)
			})
		}

		t.Run("wrong method", func(t *testing.T) {
			for _, tc := range []struct {
				method, path string
				allow        []string
			}{
				{"PATCH", "/v1.0/conversations", []string{"GET", "POST"}},
				{"DELETE", "/v1.0/conversations", []string{"GET", "POST"}},
				{"POST", "/v1.0/conversations/" + conv, []string{"GET", "PUT", "DELETE"}},
				{"GET", "/v1.0/conversations/" + conv + "/unassign", []string{"POST"}},
			} {
				r := call(t, tc.method, ts.URL()+tc.path, ts.AdminKey, nil)
				checkEnvelope(t, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
				var allow []string
				for m := range strings.SplitSeq(r.Header.Get("Allow"), ",") {
					if m = strings.TrimSpace(m); m != "" {
						allow = append(allow, m)
					}
				}
				// HEAD and OPTIONS may be offered too; what the path serves must be there and nothing it does not.
				allow = slices.DeleteFunc(allow, func(m string) bool { return m == "HEAD" || m == "OPTIONS" })
				if !sameSet(allow, tc.allow) {
					t.Errorf("%s %s: Allow %q, want %v", tc.method, tc.path, r.Header.Get("Allow"), tc.allow)
				}
			}
		})

		t.Run("successes carry a request id", func(t *testing.T) {
			seen := map[string]bool{}
			for _, path := range []string{"/v1.0/me", "/v1.0/conversations", "/v1.0/conversations/" + conv, "/v1.0/agents", "/v1.0/customer"} {
				r := call(t, "GET", ts.URL()+path, ts.AdminKey, nil)
				if r.Status != http.StatusOK {
					t.Fatalf("GET %s: status %d\n%s", path, r.Status, r.Body)
				}
				id := r.Header.Get("X-Request-Id")
				if id == "" || seen[id] {
					t.Errorf("GET %s: X-Request-Id %q, want a fresh non-empty id", path, id)
				}
				seen[id] = true
			}
		})
	})
}

// findKeys returns the keys named in names found anywhere in v.
func findKeys(v any, names ...string) []string {
	var found []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if slices.Contains(names, k) {
					found = append(found, k)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return found
}

func TestSecretsNeverShown(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b)
		key := ts.as(ts.AdminKey)
		secrets := map[string]string{
			"whatsapp token":      "wa-token-5ecret-0001",
			"whatsapp secret":     "wa-verify-5ecret-0002",
			"whatsapp app secret": "wa-app-5ecret-0003",
			"sms token":           "sms-token-5ecret-0004",
			"line token":          "line-token-5ecret-0005",
			"line secret":         "line-secret-5ecret-0006",
			"webhook secret":      "whsec-5ecret-0007",
			"agent password":      "agent-password-5ecret-0008",
			"changed token":       "sms-token-5ecret-0009",
		}
		var bodies []*response // every answer that must not show a secret
		record := func(r *response, code int) *response {
			t.Helper()
			if r.Status != code {
				t.Fatalf("status %d, want %d\n%s", r.Status, code, r.Body)
			}
			bodies = append(bodies, r)
			return r
		}
		do := func(method, path, cred string, body any) map[string]any {
			t.Helper()
			return record(call(t, method, ts.URL()+path, cred, body), http.StatusOK).JSON(t)
		}
		var accountIDs []string
		checkAccount := func(a map[string]any) {
			t.Helper()
			if found := findKeys(a, "secret", "token", "app_secret"); len(found) > 0 {
				t.Errorf("account answer holds write-only keys %v: %v", found, a)
			}
		}
		for _, body := range []map[string]any{
			{"type": "whatsapp", "name": "wa", "token": secrets["whatsapp token"], "secret": secrets["whatsapp secret"],
				"provider_data": map[string]any{"phone_number_id": "109876543210", "display_phone_number": "+1 555 010 2030", "app_secret": secrets["whatsapp app secret"]}},
			{"type": "sms", "name": "sms", "token": secrets["sms token"], "provider_data": map[string]any{"account_sid": "AC" + strings.Repeat("2", 32), "number": uniquePhone()}},
			{"type": "line", "name": "line", "token": secrets["line token"], "secret": secrets["line secret"]},
		} {
			a := do("POST", "/v1.0/conversation_accounts", ts.AdminKey, body)
			checkAccount(a)
			accountIDs = append(accountIDs, str(t, a, "id"))
		}
		for _, id := range accountIDs {
			checkAccount(do("GET", "/v1.0/conversation_accounts/"+id, ts.AdminKey, nil))
		}
		checkAccount(do("PUT", "/v1.0/conversation_accounts/"+accountIDs[1], ts.AdminKey, map[string]any{"name": "renamed", "token": secrets["changed token"]}))
		list := do("GET", "/v1.0/conversation_accounts", ts.AdminKey, nil)
		checkAccount(list)
		if n := len(rows(t, list)); n != 3 {
			t.Errorf("account list has %d rows, want 3", n)
		}

		// The access key and the login token may appear only in the answers that hand them out.
		created := call(t, "POST", ts.URL()+"/v1.0/accesskeys", ts.AdminKey, map[string]any{"name": "ci"})
		if created.Status != http.StatusOK {
			t.Fatalf("create access key: %d\n%s", created.Status, created.Body)
		}
		newKey := str(t, created.JSON(t), "token")
		newKeyID := str(t, created.JSON(t), "id")
		secrets["access key"] = newKey
		agentName := unique("secret-agent")
		do("POST", "/v1.0/agents", newKey, map[string]any{"username": agentName, "password": secrets["agent password"]})
		login := call(t, "POST", ts.URL()+"/v1.0/auth/login", "", map[string]any{"username": agentName, "password": secrets["agent password"]})
		if login.Status != http.StatusOK {
			t.Fatalf("login: %d\n%s", login.Status, login.Body)
		}
		loginToken := str(t, login.JSON(t), "token")
		secrets["login token"] = loginToken
		adminToken := ts.login(t, "admin", ts.AdminPassword)
		secrets["admin login token"] = adminToken

		do("PUT", "/v1.0/customer", ts.AdminKey, map[string]any{"webhook_uri": webhookSink(t), "webhook_secret": secrets["webhook secret"]})
		do("GET", "/v1.0/customer", ts.AdminKey, nil)
		do("GET", "/v1.0/customers/"+ts.CustomerID, adminToken, nil)
		do("GET", "/v1.0/customers", adminToken, nil)
		// Credentials in the query string.
		do("GET", "/v1.0/me?accesskey="+url.QueryEscape(newKey), "", nil)
		do("GET", "/v1.0/accesskeys?accesskey="+url.QueryEscape(newKey), "", nil)
		do("GET", "/v1.0/accesskeys/"+newKeyID+"?accesskey="+url.QueryEscape(newKey), "", nil)
		do("GET", "/v1.0/me?token="+url.QueryEscape(loginToken), "", nil)
		record(call(t, "GET", ts.URL()+"/v1.0/conversations?token="+url.QueryEscape(loginToken), "", nil), http.StatusForbidden)
		record(call(t, "GET", ts.URL()+"/v1.0/nowhere?accesskey="+url.QueryEscape(newKey), "", nil), http.StatusNotFound)
		record(call(t, "GET", ts.URL()+"/v1.0/me?accesskey="+url.QueryEscape(newKey+"x"), "", nil), http.StatusUnauthorized)
		do("GET", "/v1.0/agents", ts.AdminKey, nil)
		do("PUT", "/v1.0/accesskeys/"+newKeyID, newKey, map[string]any{"name": "renamed"})

		for name, secret := range secrets {
			for _, r := range bodies {
				if strings.Contains(string(r.Body), secret) {
					t.Errorf("the %s appears in an answer: %s", name, r.Body)
				}
			}
			if strings.Contains(ts.Log.String(), secret) {
				t.Errorf("the %s appears in the server log", name)
			}
			if strings.Contains(ts.Stdout.String(), secret) {
				t.Errorf("the %s appears on standard output", name)
			}
		}
		if !strings.Contains(ts.Log.String(), "/v1.0/accesskeys") {
			t.Errorf("the server log does not show the requests at all; the check above proves nothing:\n%s", ts.Log.String())
		}
		// Later reads of the key show only its prefix.
		k := key.ok("GET", "/v1.0/accesskeys/"+newKeyID, nil)
		if _, ok := k["token"]; ok {
			t.Errorf("GET access key shows its token: %v", k)
		}
		if p := str(t, k, "token_prefix"); p == "" || !strings.HasPrefix(newKey, p) || len(p) >= len(newKey)/2 {
			t.Errorf("token_prefix %q is not a short prefix of the key", p)
		}
	})
}
