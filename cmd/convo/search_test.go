package main

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// This file tests GET /v1.0/search: substring matching in any script,
// tenancy and a plain agent's view, deleted conversations, paging, bad input.

// searchHit is one result as a test looks at it.
type searchHit struct {
	typ, conv, msg, field, fragment string
	match                           []any
}

// key names a hit: its message's id, or its conversation's.
func (h searchHit) key() string { return h.typ + ":" + h.conv + ":" + h.msg }

func hitsOf(t testing.TB, page map[string]any) []searchHit {
	t.Helper()
	var hits []searchHit
	for _, r := range rows(t, page) {
		h := searchHit{typ: sget(r, "type"), field: sget(r, "field"), fragment: sget(r, "fragment")}
		h.conv = sget(r["conversation"].(map[string]any), "id")
		if m, ok := r["message"].(map[string]any); ok {
			h.msg = sget(m, "id")
		}
		h.match, _ = r["match"].([]any)
		hits = append(hits, h)
	}
	return hits
}

// search returns every hit of q (one page of 100) for a.
func search(a *api, query string, kv ...string) []searchHit {
	a.t.Helper()
	return hitsOf(a.t, a.ok("GET", "/v1.0/search"+q(append([]string{"q", query}, kv...)...), nil))
}

// matched returns the text a hit's match marks in its fragment (UTF-16 offsets).
func matched(t testing.TB, h searchHit) string {
	t.Helper()
	if len(h.match) != 2 {
		t.Fatalf("hit %+v has no match", h)
	}
	u := utf16.Encode([]rune(h.fragment))
	start, end := int(h.match[0].(float64)), int(h.match[1].(float64))
	if start < 0 || end > len(u) || start > end {
		t.Fatalf("match %v outside fragment %q", h.match, h.fragment)
	}
	return string(utf16.Decode(u[start:end]))
}

func TestSearch(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		admin := e.admin(t)
		acc := e.newAccount(admin, convo.AccountLine)
		ownerID, ownerToken := admin.newAgent(convo.PermissionCustomerAgent)
		otherID, otherToken := admin.newAgent(convo.PermissionCustomerAgent)
		_, managerToken := admin.newAgent(convo.PermissionCustomerManager)

		// say posts an inbound LINE text from user and returns its conversation's id.
		say := func(t *testing.T, user, text string) string {
			t.Helper()
			wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(user), lineText(text)))), http.StatusOK)
			return str(t, convWith(admin.in(t), acc.ID, user), "id")
		}
		// messageHit returns the hits of q for a that are messages of conv.
		messageHits := func(a *api, query, conv string) []searchHit {
			var found []searchHit
			for _, h := range search(a, query) {
				if h.typ == convo.SearchMessage && h.conv == conv {
					found = append(found, h)
				}
			}
			return found
		}

		t.Run("any script, as a substring, ignoring Latin case", func(t *testing.T) {
			a := admin.in(t)
			conv := say(t, lineID('U'), "こんにちは、注文の件です")
			thai := say(t, lineID('U'), "สวัสดีครับ ผมอยากสอบถามเรื่องพัสดุ")
			chinese := say(t, lineID('U'), "你好，我想查询一下订单状态")
			latin := say(t, lineID('U'), "Where is my PARCEL, please? It's Urgent.")
			for _, c := range []struct{ q, conv, want string }{
				{"にちは", conv, "にちは"}, {"注文の件", conv, "注文の件"},
				{"ดีครับ", thai, "ดีครับ"}, {"สอบถามเรื่อง", thai, "สอบถามเรื่อง"},
				{"订单状态", chinese, "订单状态"}, {"查询一", chinese, "查询一"},
				{"parcel", latin, "PARCEL"}, {"URGENT", latin, "Urgent"}, {"s my p", latin, "s my P"},
			} {
				hits := messageHits(a, c.q, c.conv)
				if len(hits) != 1 {
					t.Errorf("q %q: %d hits in its conversation, want 1", c.q, len(hits))
					continue
				}
				if got := matched(t, hits[0]); got != c.want || hits[0].field != "text" {
					t.Errorf("q %q marks %q in %q (field %s), want %q", c.q, got, hits[0].fragment, hits[0].field, c.want)
				}
			}
			if hits := search(a, "こんばんは"); len(hits) != 0 {
				t.Errorf("a text nobody wrote finds %v", hits)
			}
		})

		t.Run("LIKE's metacharacters are literal", func(t *testing.T) {
			a := admin.in(t)
			conv := say(t, lineID('U'), `we are 100% sure_thing at C:\tmp\x`)
			decoy := say(t, lineID('U'), "we are 1000 sureXthing at C:/tmp/x")
			for _, c := range []struct {
				q    string
				want bool
			}{{"0% s", true}, {"e_th", true}, {`:\tmp\`, true}, {"00%", true}, {"%%%", false}, {"___", false}, {`\\\`, false}} {
				hits := search(a, c.q)
				if got := slices.ContainsFunc(hits, func(h searchHit) bool { return h.conv == conv }); got != c.want {
					t.Errorf("q %q finds the message: %v, want %v", c.q, got, c.want)
				}
				if slices.ContainsFunc(hits, func(h searchHit) bool { return h.conv == decoy }) {
					t.Errorf("q %q finds the decoy, as a wildcard would", c.q)
				}
			}
		})

		t.Run("conversations by name, peer name, peer target and dialog id", func(t *testing.T) {
			a := admin.in(t)
			user := lineID('U')
			e.line.AddProfile(user, "Ms Nakamura Haruka")
			conv := say(t, user, "hi")
			a.ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"name": "Zephyr refund case"})
			// The peer's name is learnt from LINE after the hook is answered.
			eventually(t, 5*time.Second, func() error {
				if len(search(a, "Haruka", "type", "conversations")) != 1 {
					return errors.New("the peer's display name is not found")
				}
				return nil
			})
			for _, c := range []struct{ q, field string }{
				{"zephyr REF", "name"}, {"nakamura", "peer.target_name"}, {user[5:17], "peer.target"},
			} {
				var found []searchHit
				for _, h := range search(a, c.q, "type", "conversation") {
					if h.conv != conv || h.typ != convo.SearchConversation || h.msg != "" {
						t.Errorf("q %q finds %+v", c.q, h)
					}
					found = append(found, h)
				}
				if len(found) != 1 || found[0].field != c.field || !strings.EqualFold(matched(t, found[0]), c.q) {
					t.Errorf("q %q: hits %+v, want the conversation by %s", c.q, found, c.field)
				}
			}
		})

		t.Run("a deleted conversation and its messages are never found", func(t *testing.T) {
			a := admin.in(t)
			word := "vanish" + randomHexString(4)
			conv := say(t, lineID('U'), "please "+word+" this")
			a.ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"name": "topic " + word})
			if n := len(search(a, word)); n != 2 {
				t.Fatalf("%d hits before the delete, want the conversation and its message", n)
			}
			a.ok("DELETE", "/v1.0/conversations/"+conv, nil)
			if hits := search(a, word); len(hits) != 0 {
				t.Errorf("after the delete: %+v", hits)
			}
		})

		t.Run("a plain agent finds only what it may see; another customer's never", func(t *testing.T) {
			a := admin.in(t)
			word := "kiwi" + randomHexString(4)
			mine, theirs, nobodys := say(t, lineID('U'), "mine "+word), say(t, lineID('U'), "theirs "+word), say(t, lineID('U'), "free "+word)
			a.ok("PUT", "/v1.0/conversations/"+mine, map[string]any{"owner_id": ownerID, "name": "name " + word})
			a.ok("PUT", "/v1.0/conversations/"+theirs, map[string]any{"owner_id": otherID, "name": "name " + word})
			a.ok("PUT", "/v1.0/conversations/"+nobodys, map[string]any{"name": "name " + word})
			theirPeer := sget(a.ok("GET", "/v1.0/conversations/"+theirs, nil)["peer"].(map[string]any), "target")

			convsOfHits := func(hits []searchHit) []string {
				var cs []string
				for _, h := range hits {
					cs = append(cs, h.conv)
				}
				slices.Sort(cs)
				return slices.Compact(cs)
			}
			for _, c := range []struct {
				who  *api
				want []string
			}{
				// The unassigned queue is every agent's while the customer lets agents take from it.
				{e.as(t, ownerToken), []string{mine, nobodys}}, {e.as(t, otherToken), []string{theirs, nobodys}},
				{e.as(t, managerToken), []string{mine, theirs, nobodys}}, {a, []string{mine, theirs, nobodys}},
			} {
				want := slices.Clone(c.want)
				slices.Sort(want)
				if got := convsOfHits(search(c.who, word)); !slices.Equal(got, want) {
					t.Errorf("finds conversations %v, want %v", got, want)
				}
			}
			a.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": false})
			if got := convsOfHits(search(e.as(t, ownerToken), word)); !slices.Equal(got, []string{mine}) {
				t.Errorf("with the queue kept from agents, a plain agent finds %v, want only %v", got, mine)
			}
			a.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": true})
			owner := e.as(t, ownerToken)
			if hits := search(owner, theirPeer[3:20]); len(hits) != 0 {
				t.Errorf("a plain agent finds another's conversation by its peer: %+v", hits)
			}
			_, foreignKey := e.ts.superAdmin(t).newCustomer()
			if hits := search(e.as(t, foreignKey), word); len(hits) != 0 {
				t.Errorf("another customer finds %+v", hits)
			}
		})

		t.Run("pages walk every hit once, conversations first, newest first", func(t *testing.T) {
			a := admin.in(t)
			word := "pager" + randomHexString(4)
			var convs []string
			for i := range 3 {
				user := lineID('U')
				convs = append(convs, say(t, user, word+" one"))
				say(t, user, "and "+word+" two")
				a.ok("PUT", "/v1.0/conversations/"+convs[i], map[string]any{"name": word})
			}
			all := search(a, word)
			if len(all) != 9 {
				t.Fatalf("%d hits, want 3 conversations and 6 messages", len(all))
			}
			for i, h := range all {
				if want := i < 3; (h.typ == convo.SearchConversation) != want {
					t.Errorf("hit %d is a %s", i, h.typ)
				}
			}
			if all[0].conv != convs[2] || all[3].conv != convs[2] || all[8].conv != convs[0] {
				t.Errorf("hits are not newest first: %+v", all)
			}
			for _, size := range []string{"1", "2", "4"} {
				var walked []string
				token := ""
				for range 20 {
					page := a.ok("GET", "/v1.0/search"+q("q", word, "page_size", size, "page_token", token), nil)
					hits := hitsOf(t, page)
					if len(hits) == 0 {
						break
					}
					for _, h := range hits {
						walked = append(walked, h.key())
					}
					token = str(t, page, "next_page_token")
				}
				var want []string
				for _, h := range all {
					want = append(want, h.key())
				}
				if !slices.Equal(walked, want) {
					t.Errorf("pages of %s walk %v, want %v", size, walked, want)
				}
			}
			if got := search(a, word, "type", "messages"); len(got) != 6 || got[0].typ != convo.SearchMessage {
				t.Errorf("type=messages gives %+v", got)
			}
		})

		t.Run("a fragment is the match with up to 40 characters each side", func(t *testing.T) {
			a := admin.in(t)
			before, after := strings.Repeat("😀 ab", 30), strings.Repeat(" xyz", 30)
			conv := say(t, lineID('U'), before+"NEEDLE-in-hay"+after)
			hits := messageHits(a, "needle-IN", conv)
			if len(hits) != 1 {
				t.Fatalf("hits %+v", hits)
			}
			h := hits[0]
			if got := matched(t, h); got != "NEEDLE-in" {
				t.Errorf("match marks %q", got)
			}
			if want := string([]rune(before)[len([]rune(before))-40:]) + "NEEDLE-in" + string([]rune("-hay" + after)[:40]); h.fragment != want {
				t.Errorf("fragment %q, want %q", h.fragment, want)
			}
		})

		t.Run("bad queries are 400 and change nothing", func(t *testing.T) {
			a := admin.in(t)
			for _, c := range []struct{ query, reason string }{
				{"ab", convo.ReasonQueryTooShort}, {"  ab  ", convo.ReasonQueryTooShort}, {"", convo.ReasonQueryTooShort},
				{"にち", convo.ReasonQueryTooShort}, {strings.Repeat("x", 257), convo.ReasonTooLong},
				{"ab\x07cd", convo.ReasonInvalidQuery}, {"ab\ncd", convo.ReasonInvalidQuery}, {"ab\xffcd", convo.ReasonInvalidQuery},
			} {
				a.fails("GET", "/v1.0/search"+q("q", c.query), nil, http.StatusBadRequest, c.reason)
			}
			a.fails("GET", "/v1.0/search"+q("q", "abc", "type", "notes"), nil, http.StatusBadRequest, convo.ReasonInvalidSearchType)
			a.fails("GET", "/v1.0/search"+q("q", "abc", "page_token", "yesterday"), nil, http.StatusBadRequest, convo.ReasonInvalidToken)
			a.ok("GET", "/v1.0/search"+q("q", strings.Repeat("x", 256), "page_token", "2022-06-23 05:05:40.950834|"+convo.NewID()), nil)
			a.ok("GET", "/v1.0/search"+q("q", `"*:^-`), nil)
			e.ts.as("").fails("GET", "/v1.0/search?q=abc", nil, http.StatusUnauthorized, convo.ReasonUnauthenticated)
		})
	})
}
