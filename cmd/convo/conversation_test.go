package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
)

// Helpers shared by the end-to-end tests of this package.

// neverTime is the wire form of a moment that has not happened.
const neverTime = "9999-01-01 00:00:00.000000"

var (
	wireTimePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$`)
	uuidPattern     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// wire renders t in the API's timestamp format.
func wire(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000") }

// settableClock is a convo.Clock the test moves by hand.
type settableClock struct {
	mu sync.Mutex
	at time.Time
}

func newSettableClock(at time.Time) *settableClock { return &settableClock{at: at} }

// Now returns the moment last set.
func (c *settableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

// Set moves the clock to at.
func (c *settableClock) Set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = at
}

// Advance moves the clock forward by d and returns the new moment.
func (c *settableClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
	return c.at
}

// in returns a copy of a that reports failures to t (typically a subtest).
func (a *api) in(t testing.TB) *api {
	c := *a
	c.t = t
	return &c
}

// login signs in an agent and returns its token.
func (s *testServer) login(t testing.TB, username, password string) string {
	t.Helper()
	r := call(t, "POST", s.URL()+"/v1.0/auth/login", "", map[string]any{"username": username, "password": password})
	if r.Status != http.StatusOK {
		t.Fatalf("login %s: status %d\n%s", username, r.Status, r.Body)
	}
	token, _ := r.JSON(t)["token"].(string)
	if token == "" {
		t.Fatalf("login %s: no token in %s", username, r.Body)
	}
	return token
}

// superAdmin returns a client logged in as the first-start agent "admin",
// a project super-admin of the customer "default".
func (s *testServer) superAdmin(t testing.TB) *api {
	t.Helper()
	return s.as(s.login(t, "admin", s.AdminPassword)).in(t)
}

// str returns the string field key of m, failing when it is not a string.
func str(t testing.TB, m map[string]any, key string) string {
	t.Helper()
	v, ok := m[key].(string)
	if !ok {
		t.Fatalf("field %q is %T (%v), want a string; in %v", key, m[key], m[key], m)
	}
	return v
}

// obj returns the object field key of m.
func obj(t testing.TB, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("field %q is %T (%v), want an object; in %v", key, m[key], m[key], m)
	}
	return v
}

// rows returns the result array of a list answer, failing when it is missing or null.
func rows(t testing.TB, list map[string]any) []map[string]any {
	t.Helper()
	raw, ok := list["result"].([]any)
	if !ok {
		t.Fatalf("result is %T (%v), want an array", list["result"], list["result"])
	}
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

// sameSet reports whether got and want hold the same strings, in any order.
func sameSet(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// q builds a query string from key/value pairs.
func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return "?" + v.Encode()
}

// webhookSink is a receiver that accepts every webhook, so that tests
// setting a customer's webhook_uri never reach out of the machine.
func webhookSink(t testing.TB) string { return webhooktest.New(t).URL() + "/convo" }

// newSMSAccountNumber creates an SMS account with a fresh number and returns its id and number.
func (a *api) newSMSAccountNumber() (id, number string) {
	a.t.Helper()
	number = uniquePhone()
	acc := a.ok("POST", "/v1.0/conversation_accounts", map[string]any{
		"type": "sms", "name": "sms", "detail": "test", "token": "auth-token",
		"provider_data": map[string]any{"account_sid": "AC" + strings.Repeat("1", 32), "number": number},
	})
	return str(a.t, acc, "id"), number
}

// startConversation POSTs a conversation with peer on account.
func (a *api) startConversation(accountID, peer string) map[string]any {
	a.t.Helper()
	return a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": accountID, "peer": map[string]any{"type": "tel", "target": peer}})
}

var seedConversationKeys = []string{"id", "customer_id", "owner_type", "owner_id", "account_id", "name", "detail", "type",
	"dialog_id", "self", "peer", "tm_create", "tm_update", "tm_delete"}

// ownConversationKeys are the fields convo adds to the seed's conversation
// for an agent's working set (VoIPbin's clients ignore them).
var ownConversationKeys = []string{"status", "snoozed_until", "tm_last_message", "last_message", "labels", "peer_opted_out", "unread_count", "whatsapp_window_expires"}

var addressKeys = []string{"type", "target", "target_name", "name", "detail"}

// checkConversationShape checks the keys and JSON types of a rendered
// conversation against the seed document.
func checkConversationShape(t testing.TB, c map[string]any) {
	t.Helper()
	if want := slices.Concat(seedConversationKeys, ownConversationKeys); !sameSet(keysOf(c), want) {
		t.Errorf("conversation keys %v, want exactly the seed's and convo's own %v", keysOf(c), want)
	}
	if _, ok := c["labels"].([]any); !ok {
		t.Errorf("labels = %v, want an array", c["labels"])
	}
	if n, ok := c["unread_count"].(float64); !ok || n < 0 {
		t.Errorf("unread_count = %v, want a count", c["unread_count"])
	}
	for _, k := range seedConversationKeys {
		switch k {
		case "self", "peer":
			addr := obj(t, c, k)
			if !sameSet(keysOf(addr), addressKeys) {
				t.Errorf("%s keys %v, want %v", k, keysOf(addr), addressKeys)
			}
			for _, ak := range addressKeys {
				str(t, addr, ak)
			}
		default:
			str(t, c, k)
		}
	}
	for _, k := range []string{"id", "customer_id", "owner_id", "account_id"} {
		if !uuidPattern.MatchString(str(t, c, k)) {
			t.Errorf("%s = %q, want a UUID", k, c[k])
		}
	}
	for _, k := range []string{"tm_create", "tm_update", "tm_delete"} {
		if !wireTimePattern.MatchString(str(t, c, k)) {
			t.Errorf("%s = %q, want the format 2022-06-23 05:05:40.950834", k, c[k])
		}
	}
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestConversationRendersAsSeed(t *testing.T) {
	at := time.Date(2022, 6, 23, 5, 5, 40, 950834000, time.UTC)
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withClock(convo.FixedClock{At: at}))
		admin := ts.as(ts.AdminKey)
		account, number := admin.newSMSAccountNumber()

		cases := []struct {
			name       string
			peer       map[string]any
			extra      map[string]any
			wantPeer   map[string]any
			wantName   string
			wantDetail string
		}{
			{
				name:     "number only, written loosely",
				peer:     map[string]any{"type": "tel", "target": " +1 555 012-3401 "},
				wantPeer: map[string]any{"type": "tel", "target": "+15550123401", "target_name": "", "name": "", "detail": ""},
				wantName: "SMS · +15550123401", wantDetail: "SMS conversation",
			},
			{
				name:     "number and display name",
				peer:     map[string]any{"type": "tel", "target": "+15550123402", "target_name": "Alice"},
				wantPeer: map[string]any{"type": "tel", "target": "+15550123402", "target_name": "Alice", "name": "", "detail": ""},
				wantName: "SMS · Alice (+15550123402)", wantDetail: "SMS conversation",
			},
			{
				name:     "explicit name and detail",
				peer:     map[string]any{"target": "+15550123403"},
				extra:    map[string]any{"name": "Order 1234", "detail": "refund"},
				wantPeer: map[string]any{"type": "tel", "target": "+15550123403", "target_name": "", "name": "", "detail": ""},
				wantName: "Order 1234", wantDetail: "refund",
			},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				admin := admin.in(t)
				body := map[string]any{"account_id": account, "peer": tc.peer}
				for k, v := range tc.extra {
					body[k] = v
				}
				c := admin.ok("POST", "/v1.0/conversations", body)
				checkConversationShape(t, c)
				dialog := tc.wantPeer["target"].(string)
				want := map[string]any{
					"customer_id": ts.CustomerID, "owner_type": "", "owner_id": convo.NilID, "account_id": account,
					"name": tc.wantName, "detail": tc.wantDetail, "type": "message", "dialog_id": dialog,
					"self": map[string]any{"type": "tel", "target": number, "target_name": "", "name": "", "detail": ""},
					"peer": tc.wantPeer,
					// The fixed clock makes every timestamp exact; creation sets both tm_create and tm_update.
					"tm_create": "2022-06-23 05:05:40.950834", "tm_update": "2022-06-23 05:05:40.950834", "tm_delete": neverTime,
				}
				for k, w := range want {
					if g := c[k]; !jsonEqual(g, w) {
						t.Errorf("%s = %v, want %v", k, g, w)
					}
				}
				got := admin.ok("GET", "/v1.0/conversations/"+str(t, c, "id"), nil)
				if !jsonEqual(got, c) {
					t.Errorf("GET renders differently from the POST answer:\nGET  %v\nPOST %v", got, c)
				}
			})
		}
	})
}

// jsonEqual compares two decoded JSON values.
func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
