package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
)

// This file tests /v1.0/labels and the labels of conversations.

// labelsOf returns a conversation's labels as rendered.
func labelsOf(t testing.TB, conv map[string]any) []string {
	t.Helper()
	raw, ok := conv["labels"].([]any)
	if !ok {
		t.Fatalf("labels is %T (%v), want an array", conv["labels"], conv["labels"])
	}
	out := make([]string, len(raw))
	for i, v := range raw {
		out[i] = v.(string)
	}
	return out
}

func TestLabels(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b, withWebhooks())
		admin := e.admin(t)
		rcv := webhooktest.New(t)
		setWebhook(admin, "POST", rcv.URL(), "labels")
		acc := e.newAccount(admin, convo.AccountLine)
		ownerID, ownerToken := admin.newAgent(convo.PermissionCustomerAgent)
		_, strangerToken := admin.newAgent(convo.PermissionCustomerAgent)
		_, managerToken := admin.newAgent(convo.PermissionCustomerManager)
		_, foreignKey := e.ts.superAdmin(t).newCustomer()

		// newConv starts a LINE conversation owned by owner ("" for nobody).
		newConv := func(t *testing.T, owner string) string {
			id := str(t, admin.in(t).ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "line", "target": lineID('U')}}), "id")
			if owner != "" {
				admin.in(t).ok("PUT", "/v1.0/conversations/"+id, map[string]any{"owner_id": owner})
			}
			return id
		}
		newLabel := func(t *testing.T, a *api, name string) string {
			return str(t, a.in(t).ok("POST", "/v1.0/labels", map[string]any{"name": name}), "id")
		}
		setLabels := func(a *api, conv string, names ...string) map[string]any {
			return a.ok("PUT", "/v1.0/conversations/"+conv+"/labels", map[string]any{"labels": append([]string{}, names...)})
		}
		wantLabels := func(t *testing.T, what string, conv map[string]any, want ...string) {
			t.Helper()
			if got := labelsOf(t, conv); !slices.Equal(got, append([]string{}, want...)) {
				t.Errorf("%s: labels %q, want %q", what, got, want)
			}
		}

		t.Run("create, read, list, change, delete", func(t *testing.T) {
			admin, plain := admin.in(t), e.as(t, ownerToken)
			name := unique("Billing")
			made := admin.ok("POST", "/v1.0/labels", map[string]any{"name": "  " + name + " ", "color": "#1F77B4", "detail": " money "})
			id := str(t, made, "id")
			if made["name"] != name || made["color"] != "#1f77b4" || made["detail"] != "money" || made["customer_id"] != e.ts.CustomerID ||
				made["tm_delete"] != convo.Never.String() || made["tm_create"] != made["tm_update"] {
				t.Errorf("created %v", made)
			}
			if plain := admin.ok("POST", "/v1.0/labels", map[string]any{"name": unique("plain")}); plain["color"] != convo.DefaultLabelColor {
				t.Errorf("a label made without a color has %v, want %s", plain["color"], convo.DefaultLabelColor)
			}
			// Every agent reads them.
			for _, who := range []*api{admin, plain, e.as(t, managerToken)} {
				if got := who.ok("GET", "/v1.0/labels/"+id, nil); !sameJSON(got, made) {
					t.Errorf("GET %v, want %v", got, made)
				}
				if !slices.Contains(ids(t, who.ok("GET", "/v1.0/labels", nil)), id) {
					t.Error("the list lacks the label")
				}
			}
			changed := e.as(t, managerToken).ok("PUT", "/v1.0/labels/"+id, map[string]any{"name": name + "-x", "color": "#00ff00"})
			if changed["name"] != name+"-x" || changed["color"] != "#00ff00" || changed["detail"] != "money" || changed["tm_create"] != made["tm_create"] {
				t.Errorf("changed %v", changed)
			}
			if got := admin.ok("PUT", "/v1.0/labels/"+id, map[string]any{}); !sameJSON(got["name"], changed["name"]) || got["color"] != "#00ff00" {
				t.Errorf("an empty PUT changed it: %v", got)
			}
			admin.deleteAndCheckGone("/v1.0/labels", id, convo.ReasonLabelNotFound, "label", map[string]any{"name": "again"})
			// A plain agent reads but may not write.
			plain.fails("POST", "/v1.0/labels", map[string]any{"name": unique("x")}, http.StatusForbidden, "")
			other := newLabel(t, admin, unique("ro"))
			plain.fails("PUT", "/v1.0/labels/"+other, map[string]any{"name": "x"}, http.StatusForbidden, "")
			plain.fails("DELETE", "/v1.0/labels/"+other, nil, http.StatusForbidden, "")
		})

		t.Run("names are unique among live labels, ignoring case", func(t *testing.T) {
			admin := admin.in(t)
			name := unique("dup")
			first := newLabel(t, admin, name)
			admin.fails("POST", "/v1.0/labels", map[string]any{"name": strings.ToUpper(name)}, http.StatusConflict, convo.ReasonLabelNameTaken)
			second := newLabel(t, admin, unique("dup"))
			admin.fails("PUT", "/v1.0/labels/"+second, map[string]any{"name": " " + strings.ToUpper(name)}, http.StatusConflict, convo.ReasonLabelNameTaken)
			// Its own name in another case is a rename.
			if got := admin.ok("PUT", "/v1.0/labels/"+first, map[string]any{"name": strings.ToUpper(name)}); got["name"] != strings.ToUpper(name) {
				t.Errorf("recased %v", got)
			}
			e.as(t, foreignKey).ok("POST", "/v1.0/labels", map[string]any{"name": name})
			admin.ok("DELETE", "/v1.0/labels/"+first, nil)
			admin.ok("PUT", "/v1.0/labels/"+second, map[string]any{"name": name})
		})

		t.Run("lists page", func(t *testing.T) {
			admin := admin.in(t)
			var made []string
			for range 3 {
				made = append(made, newLabel(t, admin, unique("paged")))
			}
			seen := admin.walkPages("/v1.0/labels", "page_size", "2")
			for _, id := range made {
				if n := len(slices.DeleteFunc(slices.Clone(seen), func(s string) bool { return s != id })); n != 1 {
					t.Errorf("label %s listed %d times over the pages", id, n)
				}
			}
		})

		t.Run("a conversation's labels show everywhere, renamed and deleted with the label", func(t *testing.T) {
			admin, owner := admin.in(t), e.as(t, ownerToken)
			vip, billing := unique("VIP"), unique("billing")
			vipID, billingID := newLabel(t, admin, vip), newLabel(t, admin, billing)
			conv := newConv(t, ownerID)
			fresh := admin.ok("GET", "/v1.0/conversations/"+conv, nil)
			wantLabels(t, "a new conversation", fresh, []string{}...)

			set := setLabels(owner, conv, strings.ToLower(vip), billing, " "+vip+" ")
			wantLabels(t, "the answer", set, billing, vip)
			if set["tm_update"] == fresh["tm_update"] {
				t.Error("labelling left tm_update as it was")
			}
			wantLabels(t, "GET", admin.ok("GET", "/v1.0/conversations/"+conv, nil), billing, vip)
			wantLabels(t, "the owner's GET", owner.ok("GET", "/v1.0/service_agents/conversations/"+conv, nil), billing, vip)
			for _, list := range []map[string]any{
				admin.ok("GET", "/v1.0/conversations"+q("account_id", acc.ID), nil),
				owner.ok("GET", "/v1.0/service_agents/conversations", nil),
				owner.ok("GET", "/v1.0/conversations"+q("owner_id", ownerID), nil),
			} {
				found := false
				for _, c := range rows(t, list) {
					if c["id"] == conv {
						found = true
						wantLabels(t, "a list", c, billing, vip)
					}
				}
				if !found {
					t.Errorf("a list lacks the conversation: %v", ids(t, list))
				}
			}
			// The webhook's conversation_updated carries them.
			eventually(t, 10*time.Second, func() error {
				for _, r := range rcv.Find(convo.EventConversationUpdated, conv) {
					if slices.Equal(labelsOf(t, r.Data), []string{billing, vip}) && r.Data["unread_count"] == float64(0) {
						return nil
					}
				}
				return fmt.Errorf("no conversation_updated with the labels; got %s", rcv.Summary())
			})

			// A rename shows at once; a deleted label leaves the conversation.
			gold := unique("gold")
			admin.ok("PUT", "/v1.0/labels/"+vipID, map[string]any{"name": gold})
			wantLabels(t, "after the rename", admin.ok("GET", "/v1.0/conversations/"+conv, nil), billing, gold)
			admin.ok("DELETE", "/v1.0/labels/"+billingID, nil)
			wantLabels(t, "after the delete", admin.ok("GET", "/v1.0/conversations/"+conv, nil), gold)
			// A label made again with the deleted one's name is a new label, not on the conversation.
			newLabel(t, admin, billing)
			wantLabels(t, "after a new label of the old name", admin.ok("GET", "/v1.0/conversations/"+conv, nil), gold)
			wantLabels(t, "cleared", setLabels(admin, conv), []string{}...)
		})

		t.Run("who may label a conversation", func(t *testing.T) {
			admin, owner, stranger, manager := admin.in(t), e.as(t, ownerToken), e.as(t, strangerToken), e.as(t, managerToken)
			name := unique("who")
			newLabel(t, admin, name)
			conv := newConv(t, ownerID)
			stranger.fails("PUT", "/v1.0/conversations/"+conv+"/labels", map[string]any{"labels": []string{name}}, http.StatusForbidden, "")
			stranger.fails("PUT", "/v1.0/service_agents/conversations/"+conv+"/labels", map[string]any{"labels": []string{name}}, http.StatusForbidden, "")
			wantLabels(t, "after the stranger", admin.ok("GET", "/v1.0/conversations/"+conv, nil), []string{}...)
			wantLabels(t, "by the owner", owner.ok("PUT", "/v1.0/service_agents/conversations/"+conv+"/labels", map[string]any{"labels": []string{name}}), name)
			wantLabels(t, "by a manager", setLabels(manager, conv), []string{}...)
			wantLabels(t, "by the access key", setLabels(admin, conv, name), name)
			// Unassigned, the former owner may not.
			admin.ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"owner_id": ""})
			owner.fails("PUT", "/v1.0/conversations/"+conv+"/labels", map[string]any{"labels": []string{}}, http.StatusForbidden, "")
			// A deleted conversation takes no labels.
			admin.ok("DELETE", "/v1.0/conversations/"+conv, nil)
			admin.fails("PUT", "/v1.0/conversations/"+conv+"/labels", map[string]any{"labels": []string{}}, http.StatusConflict, "CONVERSATION_DELETED")
		})

		t.Run("labelling many conversations at once with the same labels, while one is deleted", func(t *testing.T) {
			admin := admin.in(t)
			a, bb, doomed := unique("ca"), unique("cb"), unique("doomed")
			newLabel(t, admin, a)
			newLabel(t, admin, bb)
			doomedID := newLabel(t, admin, doomed)
			convs := make([]string, 8)
			for i := range convs {
				convs[i] = newConv(t, "")
			}
			var wg sync.WaitGroup
			codes := make([]int, len(convs)+1)
			for i, conv := range convs {
				names := []string{a, bb, doomed}
				if i%2 == 1 {
					slices.Reverse(names)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					codes[i] = call(t, "PUT", e.ts.URL()+"/v1.0/conversations/"+conv+"/labels", e.ts.AdminKey, map[string]any{"labels": names}).Status
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[len(convs)] = call(t, "DELETE", e.ts.URL()+"/v1.0/labels/"+doomedID, e.ts.AdminKey, nil).Status
			}()
			wg.Wait()
			for i, code := range codes[:len(convs)] {
				// Before the delete a set succeeds; after it, the doomed name is unknown.
				if code != http.StatusOK && code != http.StatusBadRequest {
					t.Errorf("labelling conversation %d answered %d", i, code)
				}
			}
			if codes[len(convs)] != http.StatusOK {
				t.Errorf("the delete answered %d", codes[len(convs)])
			}
			for i, conv := range convs {
				got := labelsOf(t, admin.ok("GET", "/v1.0/conversations/"+conv, nil))
				want := []string{a, bb}
				if codes[i] == http.StatusBadRequest {
					want = []string{}
				}
				if !slices.Equal(got, want) {
					t.Errorf("conversation %d (answered %d) has %q, want %q: a deleted label never stays", i, codes[i], got, want)
				}
			}
		})

		t.Run("the label filter keeps conversations holding every label named", func(t *testing.T) {
			admin, owner := admin.in(t), e.as(t, ownerToken)
			a, bb := unique("fa"), unique("fb")
			newLabel(t, admin, a)
			newLabel(t, admin, bb)
			both, onlyA, ownedA := newConv(t, ""), newConv(t, ""), newConv(t, ownerID)
			newConv(t, "") // unlabelled: in no list below
			setLabels(admin, both, a, bb)
			setLabels(admin, onlyA, a)
			setLabels(admin, ownedA, a)
			list := func(who *api, path string, kv ...string) []string {
				return ids(t, who.ok("GET", path+q(append([]string{"account_id", acc.ID}, kv...)...), nil))
			}
			if got, want := list(admin, "/v1.0/conversations", "label", a), []string{ownedA, onlyA, both}; !slices.Equal(got, want) {
				t.Errorf("label %s: %v, want %v", a, got, want)
			}
			if got, want := list(admin, "/v1.0/conversations", "label", strings.ToUpper(bb), "label", a), []string{both}; !slices.Equal(got, want) {
				t.Errorf("labels %s and %s: %v, want %v", bb, a, got, want)
			}
			if got := list(admin, "/v1.0/conversations", "label", a, "label", "no-such-label"); len(got) != 0 {
				t.Errorf("an unknown label matched %v", got)
			}
			if got, want := list(owner, "/v1.0/conversations", "owner_id", ownerID, "label", a), []string{ownedA}; !slices.Equal(got, want) {
				t.Errorf("the owner's %s: %v, want %v", a, got, want)
			}
			if got, want := ids(t, owner.ok("GET", "/v1.0/service_agents/conversations"+q("label", a), nil)), []string{ownedA}; !slices.Equal(got, want) {
				t.Errorf("the service-agent list of %s: %v, want %v", a, got, want)
			}
			if got := ids(t, admin.ok("GET", "/v1.0/service_agents/conversations"+q("label", bb), nil)); !slices.Equal(got, []string{both}) {
				t.Errorf("the admin's service-agent list of %s: %v, want [%s]", bb, got, both)
			}
		})

		t.Run("unknown labels are 400 and change nothing", func(t *testing.T) {
			admin := admin.in(t)
			keep, gone := unique("keep"), unique("gone")
			newLabel(t, admin, keep)
			admin.ok("DELETE", "/v1.0/labels/"+newLabel(t, admin, gone), nil)
			theirs := unique("theirs")
			e.as(t, foreignKey).ok("POST", "/v1.0/labels", map[string]any{"name": theirs})
			conv := newConv(t, "")
			before := setLabels(admin, conv, keep)
			for _, names := range [][]string{{keep, "nope"}, {gone}, {theirs}} {
				e := admin.fails("PUT", "/v1.0/conversations/"+conv+"/labels", map[string]any{"labels": names}, http.StatusBadRequest, convo.ReasonUnknownLabel)
				if !strings.Contains(sget(e, "message"), names[len(names)-1]) {
					t.Errorf("the refusal of %q does not name the unknown label: %v", names, e)
				}
			}
			if after := admin.ok("GET", "/v1.0/conversations/"+conv, nil); !sameJSON(after, before) {
				t.Errorf("refused labels changed the conversation:\n%v\n%v", before, after)
			}
		})

		t.Run("another customer's labels and conversations are missing", func(t *testing.T) {
			admin, foreign := admin.in(t), e.as(t, foreignKey)
			ours := unique("ours")
			oursID := newLabel(t, admin, ours)
			conv := newConv(t, "")
			setLabels(admin, conv, ours)
			foreign.fails("GET", "/v1.0/labels/"+oursID, nil, http.StatusNotFound, convo.ReasonLabelNotFound)
			foreign.fails("PUT", "/v1.0/labels/"+oursID, map[string]any{"name": "mine"}, http.StatusNotFound, convo.ReasonLabelNotFound)
			foreign.fails("DELETE", "/v1.0/labels/"+oursID, nil, http.StatusNotFound, convo.ReasonLabelNotFound)
			foreign.fails("PUT", "/v1.0/conversations/"+conv+"/labels", map[string]any{"labels": []string{}}, http.StatusNotFound, convo.ReasonConversationNotFound)
			if slices.Contains(ids(t, foreign.ok("GET", "/v1.0/labels", nil)), oursID) {
				t.Error("our label is in another customer's list")
			}
			if got := ids(t, foreign.ok("GET", "/v1.0/conversations"+q("label", ours), nil)); len(got) != 0 {
				t.Errorf("another customer's label filter found %v", got)
			}
			wantLabels(t, "after the refused requests", admin.ok("GET", "/v1.0/conversations/"+conv, nil), ours)
			if got := admin.ok("GET", "/v1.0/labels/"+oursID, nil); got["name"] != ours {
				t.Errorf("the refused requests changed our label: %v", got)
			}
		})

		t.Run("bad input is 400 and changes nothing", func(t *testing.T) {
			admin := admin.in(t)
			id := newLabel(t, admin, unique("bad"))
			conv := newConv(t, "")
			labelsBefore := string(admin.do("GET", "/v1.0/labels", nil).Body)
			convBefore := string(admin.do("GET", "/v1.0/conversations/"+conv, nil).Body)
			tooMany := make([]string, convo.MaxConversationLabels+1)
			var tooManyFilters []string
			for i := range tooMany {
				tooMany[i] = unique("many")
				tooManyFilters = append(tooManyFilters, "label", tooMany[i])
			}
			for _, c := range []struct {
				method, path string
				body         any
				reason       string
			}{
				{"POST", "/v1.0/labels", map[string]any{}, convo.ReasonInvalidLabelName},
				{"POST", "/v1.0/labels", map[string]any{"name": "  "}, convo.ReasonInvalidLabelName},
				{"POST", "/v1.0/labels", map[string]any{"name": "a,b"}, convo.ReasonInvalidLabelName},
				{"POST", "/v1.0/labels", map[string]any{"name": "a\tb"}, convo.ReasonInvalidLabelName},
				{"POST", "/v1.0/labels", map[string]any{"name": strings.Repeat("x", convo.MaxLabelName+1)}, convo.ReasonTooLong},
				{"POST", "/v1.0/labels", map[string]any{"name": unique("c"), "color": "red"}, convo.ReasonInvalidLabelColor},
				{"POST", "/v1.0/labels", map[string]any{"name": unique("c"), "color": "#12345"}, convo.ReasonInvalidLabelColor},
				{"POST", "/v1.0/labels", map[string]any{"name": unique("c"), "color": ""}, convo.ReasonInvalidLabelColor},
				{"POST", "/v1.0/labels", map[string]any{"name": unique("c"), "detail": strings.Repeat("x", convo.MaxText+1)}, convo.ReasonTooLong},
				{"POST", "/v1.0/labels", map[string]any{"name": 7}, convo.ReasonInvalidJSON},
				{"POST", "/v1.0/labels", `{"name":`, convo.ReasonInvalidJSON},
				{"PUT", "/v1.0/labels/" + id, map[string]any{"name": ""}, convo.ReasonInvalidLabelName},
				{"PUT", "/v1.0/labels/" + id, map[string]any{"color": "#GGGGGG"}, convo.ReasonInvalidLabelColor},
				{"GET", "/v1.0/labels/not-an-id", nil, convo.ReasonInvalidID},
				{"PUT", "/v1.0/labels/not-an-id", map[string]any{"name": "x"}, convo.ReasonInvalidID},
				{"DELETE", "/v1.0/labels/not-an-id", nil, convo.ReasonInvalidID},
				{"GET", "/v1.0/labels" + q("page_token", "nonsense"), nil, convo.ReasonInvalidToken},
				{"PUT", "/v1.0/conversations/" + conv + "/labels", map[string]any{}, convo.ReasonInvalidLabels},
				{"PUT", "/v1.0/conversations/" + conv + "/labels", map[string]any{"labels": nil}, convo.ReasonInvalidLabels},
				{"PUT", "/v1.0/conversations/" + conv + "/labels", map[string]any{"labels": "vip"}, convo.ReasonInvalidJSON},
				{"PUT", "/v1.0/conversations/" + conv + "/labels", map[string]any{"labels": []any{1}}, convo.ReasonInvalidJSON},
				{"PUT", "/v1.0/conversations/" + conv + "/labels", map[string]any{"labels": []string{" "}}, convo.ReasonInvalidLabelName},
				{"PUT", "/v1.0/conversations/" + conv + "/labels", map[string]any{"labels": tooMany}, convo.ReasonInvalidLabels},
				{"PUT", "/v1.0/conversations/not-an-id/labels", map[string]any{"labels": []string{}}, convo.ReasonInvalidID},
				{"GET", "/v1.0/conversations" + q("label", " "), nil, convo.ReasonInvalidLabelName},
				{"GET", "/v1.0/conversations" + q("label", strings.Repeat("x", convo.MaxLabelName+1)), nil, convo.ReasonTooLong},
				{"GET", "/v1.0/service_agents/conversations" + q("label", ""), nil, convo.ReasonInvalidLabelName},
				{"GET", "/v1.0/conversations" + q(tooManyFilters...), nil, convo.ReasonInvalidLabels},
			} {
				admin.fails(c.method, c.path, c.body, http.StatusBadRequest, c.reason)
			}
			admin.fails("GET", "/v1.0/labels/"+convo.NewID(), nil, http.StatusNotFound, convo.ReasonLabelNotFound)
			admin.fails("PUT", "/v1.0/conversations/"+convo.NewID()+"/labels", map[string]any{"labels": []string{}}, http.StatusNotFound, convo.ReasonConversationNotFound)
			if after := string(admin.do("GET", "/v1.0/labels", nil).Body); after != labelsBefore {
				t.Errorf("refused requests changed the labels:\n%s\n%s", labelsBefore, after)
			}
			if after := string(admin.do("GET", "/v1.0/conversations/"+conv, nil).Body); after != convBefore {
				t.Errorf("refused requests changed the conversation:\n%s\n%s", convBefore, after)
			}
		})
	})
}
