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

var addressKeys = []string{"type", "target", "target_name", "name", "detail"}

// checkConversationShape checks the keys and JSON types of a rendered
// conversation against the seed document.
func checkConversationShape(t testing.TB, c map[string]any) {
	t.Helper()
	if !sameSet(keysOf(c), seedConversationKeys) {
		t.Errorf("conversation keys %v, want exactly the seed's %v", keysOf(c), seedConversationKeys)
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

func TestConversationAssignment(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		clock := newSettableClock(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC))
		ts := startServer(t, b, withClock(clock))
		admin := ts.as(ts.AdminKey)
		account := admin.newSMSAccount()
		ownerID, ownerToken := admin.newAgent(convo.PermissionCustomerAgent)
		owner := ts.as(ownerToken)
		_, otherKey := ts.superAdmin(t).newCustomer()
		foreignAgent, _ := ts.as(otherKey).newAgent(convo.PermissionCustomerAgent)

		conv := admin.newConversation(account)
		id := str(t, conv, "id")
		path := "/v1.0/conversations/" + id

		// put sends a PUT at a later moment and checks the answer is what the next GET shows.
		put := func(t *testing.T, body any) map[string]any {
			t.Helper()
			clock.Advance(time.Second)
			got := admin.in(t).ok("PUT", path, body)
			if again := admin.in(t).ok("GET", path, nil); !jsonEqual(again, got) {
				t.Fatalf("the next GET differs from the PUT answer:\nGET %v\nPUT %v", again, got)
			}
			return got
		}
		owned := func(t *testing.T, c map[string]any, ownerType, ownerID string) {
			t.Helper()
			if c["owner_type"] != ownerType || c["owner_id"] != ownerID {
				t.Fatalf("owner_type %q owner_id %q, want %q %q", c["owner_type"], c["owner_id"], ownerType, ownerID)
			}
		}

		t.Run("owner_type alone is ignored", func(t *testing.T) {
			before := admin.in(t).ok("GET", path, nil)
			c := put(t, map[string]any{"owner_type": "agent"})
			owned(t, c, "", convo.NilID)
			if c["tm_update"] != before["tm_update"] {
				t.Errorf("tm_update moved from %v to %v on a change that changes nothing", before["tm_update"], c["tm_update"])
			}
		})
		t.Run("owner_id of an agent assigns", func(t *testing.T) {
			c := put(t, map[string]any{"owner_id": ownerID})
			owned(t, c, "agent", ownerID)
			if c["tm_update"] != wire(clock.Now()) {
				t.Errorf("tm_update %v, want the moment of the change %s", c["tm_update"], wire(clock.Now()))
			}
			if c["tm_create"] == c["tm_update"] {
				t.Errorf("tm_update did not move")
			}
		})
		t.Run("nil owner_id unassigns whatever owner_type says", func(t *testing.T) {
			c := put(t, map[string]any{"owner_id": convo.NilID, "owner_type": "agent"})
			owned(t, c, "", convo.NilID)
		})
		t.Run("empty owner_id unassigns", func(t *testing.T) {
			put(t, map[string]any{"owner_id": ownerID})
			c := put(t, map[string]any{"owner_id": ""})
			owned(t, c, "", convo.NilID)
		})
		t.Run("owner_id that is no agent of the customer", func(t *testing.T) {
			put(t, map[string]any{"owner_id": ownerID})
			before := admin.in(t).ok("GET", path, nil)
			var reasons []string
			for _, bad := range []string{foreignAgent, convo.NewID()} {
				e := admin.in(t).fails("PUT", path, map[string]any{"owner_id": bad, "name": "changed"}, http.StatusBadRequest, "AGENT_NOT_FOUND")
				reasons = append(reasons, e["reason"].(string))
			}
			if reasons[0] != reasons[1] {
				t.Errorf("another customer's agent gives %s, a missing one %s: want the same", reasons[0], reasons[1])
			}
			if after := admin.in(t).ok("GET", path, nil); !jsonEqual(after, before) {
				t.Errorf("a refused PUT changed the conversation:\nbefore %v\nafter  %v", before, after)
			}
		})
		t.Run("the owning agent", func(t *testing.T) {
			owner := owner.in(t)
			put(t, map[string]any{"owner_id": ownerID})
			owner.fails("PUT", path, map[string]any{"name": "mine"}, http.StatusForbidden, convo.ReasonPermission)
			owner.fails("GET", "/v1.0/conversations", nil, http.StatusForbidden, convo.ReasonPermission)
			if got := ids(t, owner.ok("GET", "/v1.0/conversations"+q("owner_id", ownerID), nil)); !slices.Equal(got, []string{id}) {
				t.Errorf("owner's filtered list %v, want [%s]", got, id)
			}
			if c := owner.ok("GET", path, nil); c["name"] == "mine" {
				t.Errorf("an agent's refused PUT changed the name")
			}
			clock.Advance(time.Second)
			c := owner.ok("POST", path+"/unassign", nil)
			owned(t, c, "", convo.NilID)
			owned(t, admin.in(t).ok("GET", path, nil), "", convo.NilID)
			// No longer the owner, the agent loses sight of it.
			owner.fails("GET", path, nil, http.StatusForbidden, convo.ReasonPermission)
			if got := ids(t, owner.ok("GET", "/v1.0/conversations"+q("owner_id", ownerID), nil)); len(got) != 0 {
				t.Errorf("owner's filtered list after unassign %v, want none", got)
			}
		})
		t.Run("name and detail", func(t *testing.T) {
			c := put(t, map[string]any{"name": "Refund #77", "detail": "escalated"})
			if c["name"] != "Refund #77" || c["detail"] != "escalated" {
				t.Errorf("name %q detail %q after PUT", c["name"], c["detail"])
			}
		})
		t.Run("empty PUT changes nothing", func(t *testing.T) {
			put(t, map[string]any{"owner_id": ownerID})
			before := admin.in(t).ok("GET", path, nil)
			for _, body := range []any{nil, "{}", map[string]any{}} {
				clock.Advance(time.Second)
				got := admin.in(t).ok("PUT", path, body)
				if !jsonEqual(got, before) {
					t.Errorf("PUT %v answered\n%v\nwant the unchanged conversation\n%v", body, got, before)
				}
			}
			if after := admin.in(t).ok("GET", path, nil); !jsonEqual(after, before) {
				t.Errorf("empty PUTs changed the conversation:\nbefore %v\nafter  %v", before, after)
			}
		})
		t.Run("POST for the same peer returns the live conversation", func(t *testing.T) {
			peer := obj(t, conv, "peer")["target"].(string)
			again := admin.in(t).startConversation(account, peer)
			if again["id"] != id {
				t.Errorf("second POST for peer %s gave %v, want %s", peer, again["id"], id)
			}
		})
		t.Run("delete, then a new conversation for the same peer", func(t *testing.T) {
			admin := admin.in(t)
			peer := obj(t, conv, "peer")["target"].(string)
			deletedAt := clock.Advance(time.Minute)
			d := admin.ok("DELETE", path, nil)
			if d["tm_delete"] != wire(deletedAt) {
				t.Errorf("DELETE answered tm_delete %v, want %s", d["tm_delete"], wire(deletedAt))
			}
			if g := admin.ok("GET", path, nil); g["tm_delete"] != wire(deletedAt) {
				t.Errorf("GET after DELETE shows tm_delete %v, want %s", g["tm_delete"], wire(deletedAt))
			}
			if got := ids(t, admin.ok("GET", "/v1.0/conversations", nil)); slices.Contains(got, id) {
				t.Errorf("deleted conversation %s is in the default list %v", id, got)
			}
			if got := ids(t, admin.ok("GET", "/v1.0/conversations"+q("deleted", "true"), nil)); !slices.Contains(got, id) {
				t.Errorf("deleted conversation %s is not in the deleted=true list %v", id, got)
			}
			clock.Advance(time.Second)
			fresh := admin.startConversation(account, peer)
			if fresh["id"] == id {
				t.Fatalf("POST after DELETE returned the deleted conversation %s", id)
			}
			if fresh["tm_delete"] != neverTime || fresh["owner_id"] != convo.NilID {
				t.Errorf("new conversation %v is not live and unassigned", fresh)
			}
			if got := ids(t, admin.ok("GET", "/v1.0/conversations"+q("dialog_id", peer), nil)); !slices.Equal(got, []string{str(t, fresh, "id")}) {
				t.Errorf("live conversations with %s: %v, want only the new one", peer, got)
			}
		})
	})
}

func TestConversationPagination(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		older := time.Date(2023, 1, 2, 3, 4, 5, 600000000, time.UTC)
		shared := older.Add(time.Hour)
		clock := newSettableClock(older)
		ts := startServer(t, b, withClock(clock))
		admin := ts.as(ts.AdminKey)
		account := admin.newSMSAccount()

		var olderIDs []string
		for range 2 {
			olderIDs = append(olderIDs, str(t, admin.newConversation(account), "id"))
		}
		clock.Set(shared)
		const n = 250
		for range n {
			admin.newConversation(account)
		}
		total := n + len(olderIDs)

		t.Run("walk all pages", func(t *testing.T) {
			admin := admin.in(t)
			var all []map[string]any
			token := ""
			for pages := 0; ; pages++ {
				if pages > total {
					t.Fatalf("more pages than rows; paging does not end")
				}
				page := admin.ok("GET", "/v1.0/conversations"+q("page_size", "100", "page_token", token), nil)
				rs := rows(t, page)
				if len(rs) > 100 {
					t.Fatalf("page of %d rows, want at most 100", len(rs))
				}
				if len(rs) == 0 {
					if page["next_page_token"] != "" {
						t.Errorf("empty page has next_page_token %v, want \"\"", page["next_page_token"])
					}
					break
				}
				all = append(all, rs...)
				token = str(t, page, "next_page_token")
				if token == "" {
					t.Fatalf("a page of %d rows has an empty next_page_token", len(rs))
				}
			}
			if len(all) != total {
				t.Errorf("walked %d rows, want %d", len(all), total)
			}
			seen := map[string]bool{}
			for i, r := range all {
				id := str(t, r, "id")
				if seen[id] {
					t.Errorf("row %s appears twice", id)
				}
				seen[id] = true
				if i == 0 {
					continue
				}
				prev := all[i-1]
				pc, c := str(t, prev, "tm_create"), str(t, r, "tm_create")
				if c > pc || (c == pc && id > str(t, prev, "id")) {
					t.Errorf("row %d (%s, %s) comes after (%s, %s): not newest first", i, c, id, pc, prev["id"])
				}
			}
			for _, id := range olderIDs {
				if !seen[id] {
					t.Errorf("older row %s was never listed", id)
				}
			}
		})

		t.Run("page_size", func(t *testing.T) {
			for _, tc := range []struct {
				size string
				want int
			}{{"5", 5}, {"100", 100}, {"0", 100}, {"-1", 100}, {"1000", 100}, {"101", 100}, {"abc", 100}, {"", 100}} {
				got := rows(t, admin.in(t).ok("GET", "/v1.0/conversations"+q("page_size", tc.size), nil))
				if len(got) != tc.want {
					t.Errorf("page_size=%q: %d rows, want %d", tc.size, len(got), tc.want)
				}
			}
		})

		t.Run("bare timestamp token", func(t *testing.T) {
			for _, token := range []string{wire(shared), shared.Format(time.RFC3339Nano), shared.In(time.FixedZone("UTC-7", -7*3600)).Format(time.RFC3339Nano)} {
				got := ids(t, admin.in(t).ok("GET", "/v1.0/conversations"+q("page_token", token), nil))
				if !sameSet(got, olderIDs) {
					t.Errorf("page_token %q: %v, want exactly the rows strictly older: %v", token, got, olderIDs)
				}
			}
		})

		t.Run("malformed token", func(t *testing.T) {
			for _, token := range []string{"garbage", "2023-13-45 00:00:00.000000", wire(shared) + "|not-a-uuid"} {
				admin.in(t).fails("GET", "/v1.0/conversations"+q("page_token", token), nil, http.StatusBadRequest, convo.ReasonInvalidToken)
			}
		})

		t.Run("empty page", func(t *testing.T) {
			r := admin.in(t).do("GET", "/v1.0/conversations"+q("page_token", "2000-01-01 00:00:00.000000"), nil)
			if r.Status != http.StatusOK {
				t.Fatalf("status %d\n%s", r.Status, r.Body)
			}
			var raw map[string]json.RawMessage
			r.Decode(t, &raw)
			if string(raw["result"]) != "[]" || string(raw["next_page_token"]) != `""` {
				t.Errorf("empty page is %s, want result [] and next_page_token \"\"", r.Body)
			}
		})
	})
}

func TestConversationFilters(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b)
		admin := ts.as(ts.AdminKey)
		acc1, acc2 := admin.newSMSAccount(), admin.newSMSAccount()
		agentID, _ := admin.newAgent(convo.PermissionCustomerAgent)
		peer3 := uniquePhone()
		c1 := str(t, admin.newConversation(acc1), "id")
		c2 := str(t, admin.newConversation(acc1), "id")
		c3 := str(t, admin.startConversation(acc2, peer3), "id")
		c4conv := admin.newConversation(acc2)
		c4 := str(t, c4conv, "id")
		admin.ok("PUT", "/v1.0/conversations/"+c2, map[string]any{"owner_id": agentID})
		admin.ok("DELETE", "/v1.0/conversations/"+c4, nil)

		for _, tc := range []struct {
			query string
			want  []string
		}{
			{q(), []string{c1, c2, c3}},
			{q("owner_id", agentID), []string{c2}},
			{q("owner_id", convo.NilID), []string{c1, c2, c3}},
			{q("owner_id", convo.NewID()), nil},
			{q("account_id", acc1), []string{c1, c2}},
			{q("account_id", acc2), []string{c3}},
			{q("account_id", acc1, "owner_id", agentID), []string{c2}},
			{q("account_id", acc2, "owner_id", agentID), nil},
			{q("type", "message"), []string{c1, c2, c3}},
			{q("type", "line"), nil},
			{q("dialog_id", peer3), []string{c3}},
			{q("dialog_id", obj(t, c4conv, "peer")["target"].(string)), nil},
			{q("deleted", "true"), []string{c4}},
			{q("deleted", "false"), []string{c1, c2, c3}},
			{q("deleted", "true", "account_id", acc1), nil},
			{q("deleted", "true", "account_id", acc2), []string{c4}},
		} {
			got := ids(t, admin.ok("GET", "/v1.0/conversations"+tc.query, nil))
			if !sameSet(got, tc.want) {
				t.Errorf("GET /v1.0/conversations%s: %v, want %v", tc.query, got, tc.want)
			}
		}
	})
}
