package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// This file tests /v1.0/canned_responses.

func TestCannedResponses(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b)
		admin := ts.as(ts.AdminKey)
		super := ts.superAdmin(t)
		_, otherKey := super.newCustomer()
		other := ts.as(otherKey)
		_, plainToken := admin.newAgent(convo.PermissionCustomerAgent)
		_, managerToken := admin.newAgent(convo.PermissionCustomerManager)

		t.Run("create, read, list, change, delete", func(t *testing.T) {
			admin := admin.in(t)
			code := unique("greet")
			made := admin.ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": " " + code + " ", "text": " Hello, how can I help? "})
			id := str(t, made, "id")
			if made["short_code"] != code || made["text"] != "Hello, how can I help?" || made["customer_id"] != ts.CustomerID ||
				made["tm_delete"] != convo.Never.String() || made["tm_create"] != made["tm_update"] {
				t.Errorf("created %v", made)
			}
			if got := admin.ok("GET", "/v1.0/canned_responses/"+id, nil); !sameJSON(got, made) {
				t.Errorf("GET %v, want %v", got, made)
			}
			changed := admin.ok("PUT", "/v1.0/canned_responses/"+id, map[string]any{"text": "Hi! How can I help?"})
			if changed["short_code"] != code || changed["text"] != "Hi! How can I help?" || changed["tm_create"] != made["tm_create"] {
				t.Errorf("changed %v", changed)
			}
			if got := admin.ok("PUT", "/v1.0/canned_responses/"+id, map[string]any{}); !sameJSON(got["text"], changed["text"]) || got["short_code"] != code {
				t.Errorf("an empty PUT changed it: %v", got)
			}
			if !slices.Contains(ids(t, admin.ok("GET", "/v1.0/canned_responses", nil)), id) {
				t.Error("the list lacks it")
			}
			// A manager writes them too.
			byManager := str(t, ts.as(managerToken).in(t).ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": unique("m"), "text": "x"}), "id")
			ts.as(managerToken).in(t).ok("DELETE", "/v1.0/canned_responses/"+byManager, nil)

			admin.deleteAndCheckGone("/v1.0/canned_responses", id, convo.ReasonCannedResponseNotFound, "canned_response", map[string]any{"text": "again"})
		})

		t.Run("lists page", func(t *testing.T) {
			admin := admin.in(t)
			var made []string
			for range 3 {
				made = append(made, str(t, admin.ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": unique("paged"), "text": "paged"}), "id"))
			}
			seen := admin.walkPages("/v1.0/canned_responses", "q", "paged", "page_size", "2")
			for _, id := range made {
				if n := len(slices.DeleteFunc(slices.Clone(seen), func(s string) bool { return s != id })); n != 1 {
					t.Errorf("canned response %s listed %d times over the pages", id, n)
				}
			}
		})

		t.Run("short codes are unique among live ones, ignoring case", func(t *testing.T) {
			admin := admin.in(t)
			code := unique("dup")
			first := str(t, admin.ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": code, "text": "one"}), "id")
			admin.fails("POST", "/v1.0/canned_responses", map[string]any{"short_code": code, "text": "two"}, http.StatusConflict, convo.ReasonShortCodeTaken)
			admin.fails("POST", "/v1.0/canned_responses", map[string]any{"short_code": strings.ToUpper(code), "text": "two"}, http.StatusConflict, convo.ReasonShortCodeTaken)
			second := str(t, admin.ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": unique("dup"), "text": "two"}), "id")
			admin.fails("PUT", "/v1.0/canned_responses/"+second, map[string]any{"short_code": code}, http.StatusConflict, convo.ReasonShortCodeTaken)
			// Another customer may use the code; a deleted one frees it.
			other.in(t).ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": code, "text": "theirs"})
			admin.ok("DELETE", "/v1.0/canned_responses/"+first, nil)
			admin.ok("PUT", "/v1.0/canned_responses/"+second, map[string]any{"short_code": code})
		})

		t.Run("q finds by short code prefix or by words of the text", func(t *testing.T) {
			admin := admin.in(t)
			tag := unique("qq")
			thanks := str(t, admin.ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": tag + "Thanks", "text": "Thank you for your ORDER " + tag + ", it ships today."}), "id")
			ja := str(t, admin.ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": tag + "ja", "text": "ご連絡ありがとうございます。" + tag}), "id")
			hours := str(t, admin.ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": tag + "hours", "text": "Open 9 to 5. " + tag}), "id")
			theirs := str(t, other.in(t).ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": tag + "thanks", "text": "theirs " + tag}), "id")
			for _, c := range []struct {
				q    string
				want []string
			}{
				{strings.ToUpper(tag) + "TH", []string{thanks}},
				{tag, []string{hours, ja, thanks}},
				{"order SHIPS " + tag, []string{thanks}},
				{"ありがとう " + tag, []string{ja}},
				// Each word in one text: "open" is in another (a digit could be in the tag).
				{"order open " + tag, nil},
			} {
				got := ids(t, admin.ok("GET", "/v1.0/canned_responses"+q("q", c.q), nil))
				if c.want == nil {
					c.want = []string{}
				}
				if !slices.Equal(got, c.want) {
					t.Errorf("q %q: %v, want %v", c.q, got, c.want)
				}
			}
			// Japanese alone, without the distinguishing word.
			if got := ids(t, admin.ok("GET", "/v1.0/canned_responses"+q("q", "ありがとう"), nil)); !slices.Contains(got, ja) || slices.Contains(got, thanks) {
				t.Errorf("q ありがとう: %v, want %s and not %s", got, ja, thanks)
			}
			if got := ids(t, other.in(t).ok("GET", "/v1.0/canned_responses"+q("q", tag), nil)); !slices.Equal(got, []string{theirs}) {
				t.Errorf("another customer's q %q: %v, want [%s]", tag, got, theirs)
			}
		})

		t.Run("bad input is 400 and changes nothing", func(t *testing.T) {
			admin := admin.in(t)
			id := str(t, admin.ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": unique("keep"), "text": "keep"}), "id")
			before := string(admin.do("GET", "/v1.0/canned_responses", nil).Body)
			for _, c := range []struct {
				method, path string
				body         any
				reason       string
			}{
				{"POST", "/v1.0/canned_responses", map[string]any{"text": "no code"}, "INVALID_SHORT_CODE"},
				{"POST", "/v1.0/canned_responses", map[string]any{"short_code": "  ", "text": "x"}, "INVALID_SHORT_CODE"},
				{"POST", "/v1.0/canned_responses", map[string]any{"short_code": "two words", "text": "x"}, "INVALID_SHORT_CODE"},
				{"POST", "/v1.0/canned_responses", map[string]any{"short_code": strings.Repeat("x", convo.MaxShortCode+1), "text": "x"}, convo.ReasonTooLong},
				{"POST", "/v1.0/canned_responses", map[string]any{"short_code": unique("c")}, "INVALID_TEXT"},
				{"POST", "/v1.0/canned_responses", map[string]any{"short_code": unique("c"), "text": strings.Repeat("x", convo.MaxText+1)}, convo.ReasonTooLong},
				{"POST", "/v1.0/canned_responses", `{"short_code":`, convo.ReasonInvalidJSON},
				{"POST", "/v1.0/canned_responses", map[string]any{"short_code": 7, "text": "x"}, convo.ReasonInvalidJSON},
				{"PUT", "/v1.0/canned_responses/" + id, map[string]any{"short_code": ""}, "INVALID_SHORT_CODE"},
				{"PUT", "/v1.0/canned_responses/" + id, map[string]any{"short_code": "a\tb"}, "INVALID_SHORT_CODE"},
				{"PUT", "/v1.0/canned_responses/" + id, map[string]any{"text": " "}, "INVALID_TEXT"},
				{"PUT", "/v1.0/canned_responses/" + id, map[string]any{"text": strings.Repeat("x", convo.MaxText+1)}, convo.ReasonTooLong},
				{"GET", "/v1.0/canned_responses/not-an-id", nil, convo.ReasonInvalidID},
				{"PUT", "/v1.0/canned_responses/not-an-id", map[string]any{"text": "x"}, convo.ReasonInvalidID},
				{"DELETE", "/v1.0/canned_responses/not-an-id", nil, convo.ReasonInvalidID},
				{"GET", "/v1.0/canned_responses" + q("q", strings.Repeat("x", 257)), nil, convo.ReasonTooLong},
				{"GET", "/v1.0/canned_responses" + q("page_token", "nonsense"), nil, ""},
			} {
				admin.fails(c.method, c.path, c.body, http.StatusBadRequest, c.reason)
			}
			admin.fails("GET", "/v1.0/canned_responses/"+convo.NewID(), nil, http.StatusNotFound, convo.ReasonCannedResponseNotFound)
			if after := string(admin.do("GET", "/v1.0/canned_responses", nil).Body); after != before {
				t.Errorf("refused requests changed the canned responses:\n%s\n%s", before, after)
			}
		})

		t.Run("another customer's canned response is missing", func(t *testing.T) {
			admin, other := admin.in(t), other.in(t)
			theirs := other.ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": unique("theirs"), "text": "theirs"})
			theirsID := str(t, theirs, "id")
			ours := str(t, admin.ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": unique("ours"), "text": "ours"}), "id")
			plain := ts.as(plainToken).in(t)
			for _, who := range []*api{admin, plain} {
				who.fails("GET", "/v1.0/canned_responses/"+theirsID, nil, http.StatusNotFound, convo.ReasonCannedResponseNotFound)
				if slices.Contains(ids(t, who.ok("GET", "/v1.0/canned_responses", nil)), theirsID) {
					t.Error("another customer's canned response is in the list")
				}
			}
			admin.fails("PUT", "/v1.0/canned_responses/"+theirsID, map[string]any{"text": "mine now"}, http.StatusNotFound, convo.ReasonCannedResponseNotFound)
			admin.fails("DELETE", "/v1.0/canned_responses/"+theirsID, nil, http.StatusNotFound, convo.ReasonCannedResponseNotFound)
			if slices.Contains(ids(t, other.ok("GET", "/v1.0/canned_responses", nil)), ours) {
				t.Error("our canned response is in another customer's list")
			}
			if got := other.ok("GET", "/v1.0/canned_responses/"+theirsID, nil); !sameJSON(got, theirs) {
				t.Errorf("the refused requests changed the other customer's canned response: %v", got)
			}
		})

		t.Run("a plain agent reads but may not write", func(t *testing.T) {
			made := admin.in(t).ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": unique("ro"), "text": "read only"})
			id := str(t, made, "id")
			plain := ts.as(plainToken).in(t)
			if got := plain.ok("GET", "/v1.0/canned_responses/"+id, nil); !sameJSON(got, made) {
				t.Errorf("a plain agent reads %v, want %v", got, made)
			}
			if got := ids(t, plain.ok("GET", "/v1.0/canned_responses"+q("q", sget(made, "short_code")), nil)); !slices.Equal(got, []string{id}) {
				t.Errorf("a plain agent lists %v, want [%s]", got, id)
			}
			plain.fails("POST", "/v1.0/canned_responses", map[string]any{"short_code": unique("x"), "text": "x"}, http.StatusForbidden, "")
			plain.fails("PUT", "/v1.0/canned_responses/"+id, map[string]any{"text": "x"}, http.StatusForbidden, "")
			plain.fails("DELETE", "/v1.0/canned_responses/"+id, nil, http.StatusForbidden, "")
			if got := plain.ok("GET", "/v1.0/canned_responses/"+id, nil); !sameJSON(got, made) {
				t.Errorf("refused writes changed it: %v", got)
			}
		})
	})
}
