package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

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
