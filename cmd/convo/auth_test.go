package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// withConfig changes the server's configuration before it opens.
func withConfig(change func(*Config)) serverOption { return func(m *Main) { change(&m.Config) } }

// loginFrom logs in through a proxy that forwards for client (no
// X-Forwarded-For when client is empty).
func loginFrom(t testing.TB, ts *testServer, client, username, password string) *response {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	req, err := http.NewRequest("POST", ts.URL()+"/v1.0/auth/login", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if client != "" {
		req.Header.Set("X-Forwarded-For", client)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return &response{Status: res.StatusCode, Header: res.Header, Body: b.Bytes()}
}

// retryAfter is the answer's Retry-After in seconds, failing t when there is none.
func retryAfter(t testing.TB, r *response) int {
	t.Helper()
	n, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || n <= 0 {
		t.Fatalf("status %d with Retry-After %q, want a number of seconds", r.Status, r.Header.Get("Retry-After"))
	}
	return n
}

func TestLoginTokensEndOnCredentialChanges(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b)
		key := ts.as(ts.AdminKey)
		newAgent := func(perm convo.Permission) (id, username string) {
			username = unique("agent")
			id = str(t, key.ok("POST", "/v1.0/agents", map[string]any{"username": username, "password": "password-" + username, "permission": perm}), "id")
			return id, username
		}
		revoked := func(token, what string) {
			t.Helper()
			ts.as(token).in(t).fails("GET", "/v1.0/me", nil, http.StatusUnauthorized, convo.ReasonUnauthenticated)
		}

		t.Run("a password set by an admin", func(t *testing.T) {
			id, user := newAgent(convo.PermissionCustomerAgent)
			old1, old2 := ts.login(t, user, "password-"+user), ts.login(t, user, "password-"+user)
			key.in(t).ok("PUT", "/v1.0/agents/"+id+"/password", map[string]any{"password": "brand-new-pass"})
			revoked(old1, "first token")
			revoked(old2, "second token")
			fresh := ts.login(t, user, "brand-new-pass")
			ts.as(fresh).in(t).ok("GET", "/v1.0/me", nil)
		})

		t.Run("a password the agent sets itself", func(t *testing.T) {
			id, user := newAgent(convo.PermissionCustomerAgent)
			token, other := ts.login(t, user, "password-"+user), ts.login(t, user, "password-"+user)
			ts.as(token).in(t).ok("PUT", "/v1.0/agents/"+id+"/password", map[string]any{"password": "my-own-new-one"})
			revoked(token, "the token it changed it with")
			revoked(other, "its other session")
			ts.as(ts.login(t, user, "my-own-new-one")).in(t).ok("GET", "/v1.0/me", nil)
		})

		t.Run("a refused password change keeps the tokens", func(t *testing.T) {
			id, user := newAgent(convo.PermissionCustomerAgent)
			token := ts.login(t, user, "password-"+user)
			key.in(t).fails("PUT", "/v1.0/agents/"+id+"/password", map[string]any{"password": "short"}, http.StatusBadRequest, "INVALID_PASSWORD")
			ts.as(token).in(t).ok("GET", "/v1.0/me", nil)
		})

		t.Run("a permission change", func(t *testing.T) {
			id, user := newAgent(convo.PermissionCustomerManager)
			token := ts.login(t, user, "password-"+user)
			// Setting the permission it already has changes nothing.
			key.in(t).ok("PUT", "/v1.0/agents/"+id+"/permission", map[string]any{"permission": convo.PermissionCustomerManager})
			ts.as(token).in(t).ok("GET", "/v1.0/me", nil)
			key.in(t).ok("PUT", "/v1.0/agents/"+id+"/permission", map[string]any{"permission": convo.PermissionCustomerAgent})
			revoked(token, "the manager's token")
			me := ts.as(ts.login(t, user, "password-"+user)).in(t).ok("GET", "/v1.0/me", nil)
			if me["permission"] != float64(convo.PermissionCustomerAgent) {
				t.Errorf("after the change, /me shows permission %v, want %d", me["permission"], convo.PermissionCustomerAgent)
			}
		})

		t.Run("logout", func(t *testing.T) {
			_, user := newAgent(convo.PermissionCustomerAgent)
			token, other := ts.login(t, user, "password-"+user), ts.login(t, user, "password-"+user)
			if got := ts.as(token).in(t).ok("POST", "/v1.0/auth/logout", nil); len(got) != 0 {
				t.Errorf("logout answered %v, want {}", got)
			}
			revoked(token, "the token logged out")
			revoked(other, "the agent's earlier token")
			ts.as(token).in(t).fails("POST", "/v1.0/auth/logout", nil, http.StatusUnauthorized, convo.ReasonUnauthenticated)
			ts.as(ts.login(t, user, "password-"+user)).in(t).ok("GET", "/v1.0/me", nil)
			// Another agent's session is untouched.
			_, user2 := newAgent(convo.PermissionCustomerAgent)
			token2 := ts.login(t, user2, "password-"+user2)
			ts.as(ts.login(t, user, "password-"+user)).in(t).ok("POST", "/v1.0/auth/logout", nil)
			ts.as(token2).in(t).ok("GET", "/v1.0/me", nil)
		})

		t.Run("logout needs a login", func(t *testing.T) {
			key.in(t).fails("POST", "/v1.0/auth/logout", nil, http.StatusBadRequest, "NOT_A_LOGIN")
			ts.as("").in(t).fails("POST", "/v1.0/auth/logout", nil, http.StatusUnauthorized, convo.ReasonUnauthenticated)
			key.in(t).ok("GET", "/v1.0/me", nil)
		})
	})
}

func TestLoginThrottling(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		clock := newSettableClock(time.Now())
		// The test talks through a "proxy" on loopback that forwards for
		// the client addresses it names.
		ts := startServer(t, b, withClock(clock), withConfig(func(c *Config) { c.TrustedProxies = "127.0.0.1, ::1" }))
		key := ts.as(ts.AdminKey)
		newAgent := func() string {
			user := unique("agent")
			key.ok("POST", "/v1.0/agents", map[string]any{"username": user, "password": "password-" + user})
			return user
		}

		t.Run("a username is refused after five failures, for longer after each further one", func(t *testing.T) {
			user := newAgent()
			for i := range 5 {
				// Each guess from another address: the username alone counts here.
				if r := loginFrom(t, ts, "198.51.100."+strconv.Itoa(i+1), user, "wrong-password"); r.Status != http.StatusUnauthorized {
					t.Fatalf("failure %d: status %d, want 401\n%s", i+1, r.Status, r.Body)
				}
			}
			r := loginFrom(t, ts, "198.51.100.50", user, "password-"+user)
			if r.Status != http.StatusTooManyRequests {
				t.Fatalf("the right password after five failures: status %d, want 429\n%s", r.Status, r.Body)
			}
			if e := r.JSON(t)["error"].(map[string]any); e["status"] != convo.EExhausted || e["reason"] != "TOO_MANY_LOGIN_ATTEMPTS" {
				t.Errorf("refusal %v, want RESOURCE_EXHAUSTED TOO_MANY_LOGIN_ATTEMPTS", e)
			}
			first := retryAfter(t, r)
			if first < 2 || first > 60 {
				t.Errorf("first Retry-After %d s, want between 2 s and a minute", first)
			}
			clock.Advance(time.Duration(first) * time.Second)
			// The block is over; one more failure blocks again, for longer.
			if r := loginFrom(t, ts, "198.51.100.51", user, "wrong-password"); r.Status != http.StatusUnauthorized {
				t.Fatalf("a failure after the block: status %d, want 401", r.Status)
			}
			second := retryAfter(t, loginFrom(t, ts, "198.51.100.52", user, "password-"+user))
			if second <= first {
				t.Errorf("Retry-After %d s after a sixth failure, want more than the first %d s", second, first)
			}
			clock.Advance(time.Duration(second) * time.Second)
			token := loginFrom(t, ts, "198.51.100.53", user, "password-"+user)
			if token.Status != http.StatusOK {
				t.Fatalf("the right password after the block: status %d\n%s", token.Status, token.Body)
			}
		})

		t.Run("a success forgets the username's failures", func(t *testing.T) {
			user := newAgent()
			for round := range 3 {
				for i := range 4 {
					addr := "203.0.113." + strconv.Itoa(round*10+i+1)
					if r := loginFrom(t, ts, addr, user, "wrong-password"); r.Status != http.StatusUnauthorized {
						t.Fatalf("round %d failure %d: status %d, want 401", round, i+1, r.Status)
					}
				}
				if r := loginFrom(t, ts, "203.0.113.100", user, "password-"+user); r.Status != http.StatusOK {
					t.Fatalf("round %d: the right password after four failures: status %d\n%s", round, r.Status, r.Body)
				}
			}
		})

		t.Run("a client address is refused after five failures, whatever the username", func(t *testing.T) {
			users := []string{newAgent(), newAgent(), newAgent(), "nobody-" + unique("x"), "nobody-" + unique("y")}
			for _, u := range users {
				if r := loginFrom(t, ts, "192.0.2.7", u, "wrong-password"); r.Status != http.StatusUnauthorized {
					t.Fatalf("failure for %s: status %d, want 401", u, r.Status)
				}
			}
			fresh := newAgent()
			r := loginFrom(t, ts, "192.0.2.7", fresh, "password-"+fresh)
			if r.Status != http.StatusTooManyRequests {
				t.Fatalf("another username from the same address: status %d, want 429", r.Status)
			}
			retryAfter(t, r)
			// Another client is not held up by it.
			if r := loginFrom(t, ts, "192.0.2.8", fresh, "password-"+fresh); r.Status != http.StatusOK {
				t.Fatalf("the same login from another address: status %d\n%s", r.Status, r.Body)
			}
		})

		t.Run("an address written by the client is not believed", func(t *testing.T) {
			// Without trusted proxies, X-Forwarded-For is the client's own
			// claim: changing it must not buy more guesses.
			other := testdb.SQLite(t)
			if b.Name == "postgres" {
				other = testdb.Postgres(t)
			}
			direct := startServer(t, other, withClock(clock))
			user := unique("agent")
			direct.as(direct.AdminKey).ok("POST", "/v1.0/agents", map[string]any{"username": user, "password": "password-" + user})
			for i := range 5 {
				loginFrom(t, direct, "198.18.0."+strconv.Itoa(i+1), unique("ghost"), "wrong-password")
			}
			if r := loginFrom(t, direct, "198.18.0.99", user, "password-"+user); r.Status != http.StatusTooManyRequests {
				t.Fatalf("after five failures from one connection address with varied X-Forwarded-For: status %d, want 429", r.Status)
			}
		})
	})
}
