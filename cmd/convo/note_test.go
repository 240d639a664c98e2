package main

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
)

// This file tests agents' notes on conversations: /v1.0/conversations/{id}/notes and /v1.0/notes/{id}.

func TestNotes(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b, withWebhooks())
		admin := e.admin(t)
		rcv := webhooktest.New(t)
		setWebhook(admin, "POST", rcv.URL(), "notes")
		acc := e.newAccount(admin, convo.AccountLine)
		ownerID, ownerToken := admin.newAgent(convo.PermissionCustomerAgent)
		strangerID, strangerToken := admin.newAgent(convo.PermissionCustomerAgent)
		_, managerToken := admin.newAgent(convo.PermissionCustomerManager)
		_, foreignKey := e.ts.superAdmin(t).newCustomer()
		keyID := sget(admin.ok("GET", "/v1.0/me", nil), "accesskey_id")

		// newConv starts a LINE conversation owned by owner ("" for nobody).
		newConv := func(t *testing.T, owner string) (id, user string) {
			user = lineID('U')
			id = str(t, admin.in(t).ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "line", "target": user}}), "id")
			if owner != "" {
				admin.in(t).ok("PUT", "/v1.0/conversations/"+id, map[string]any{"owner_id": owner})
			}
			return id, user
		}
		notesOf := func(a *api, conv string) []string {
			return ids(a.t, a.ok("GET", "/v1.0/conversations/"+conv+"/notes", nil))
		}
		author := func(t *testing.T, n map[string]any, typ, id string) {
			t.Helper()
			a, _ := n["author"].(map[string]any)
			if a["type"] != typ || a["id"] != id {
				t.Errorf("author %v, want %s %s", n["author"], typ, id)
			}
		}

		t.Run("add, list, edit and delete", func(t *testing.T) {
			admin, owner := admin.in(t), e.as(t, ownerToken)
			conv, _ := newConv(t, ownerID)
			mine := owner.ok("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": "  call back after 5pm\n"})
			if mine["text"] != "  call back after 5pm\n" || mine["conversation_id"] != conv || mine["customer_id"] != e.ts.CustomerID ||
				mine["tm_delete"] != convo.Never.String() || mine["tm_create"] != mine["tm_update"] {
				t.Errorf("created note %v", mine)
			}
			author(t, mine, "agent", ownerID)
			byKey := admin.ok("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": "escalated"})
			author(t, byKey, "accesskey", keyID)
			if got, want := notesOf(owner, conv), []string{sget(byKey, "id"), sget(mine, "id")}; !slices.Equal(got, want) {
				t.Errorf("the owner lists %v, want newest first %v", got, want)
			}
			edited := owner.ok("PUT", "/v1.0/notes/"+sget(mine, "id"), map[string]any{"text": "call back tomorrow"})
			if edited["text"] != "call back tomorrow" || edited["tm_create"] != mine["tm_create"] || edited["id"] != mine["id"] {
				t.Errorf("edited note %v", edited)
			}
			author(t, edited, "agent", ownerID)
			listed := owner.ok("GET", "/v1.0/conversations/"+conv+"/notes", nil)["result"].([]any)
			if !sameJSON(listed[1], edited) {
				t.Errorf("listed %v, want the edit %v", listed[1], edited)
			}
			deleted := owner.ok("DELETE", "/v1.0/notes/"+sget(mine, "id"), nil)
			if deleted["tm_delete"] == convo.Never.String() || deleted["text"] != "call back tomorrow" {
				t.Errorf("deleted note %v", deleted)
			}
			if got := notesOf(owner, conv); !slices.Equal(got, []string{sget(byKey, "id")}) {
				t.Errorf("after the delete the list is %v", got)
			}
			owner.fails("PUT", "/v1.0/notes/"+sget(mine, "id"), map[string]any{"text": "again"}, http.StatusNotFound, convo.ReasonNoteNotFound)
			owner.fails("DELETE", "/v1.0/notes/"+sget(mine, "id"), nil, http.StatusNotFound, convo.ReasonNoteNotFound)

			// A deleted conversation keeps its notes readable but takes no new one.
			admin.ok("DELETE", "/v1.0/conversations/"+conv, nil)
			admin.fails("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": "late"}, http.StatusConflict, "CONVERSATION_DELETED")
			if got := notesOf(admin, conv); !slices.Equal(got, []string{sget(byKey, "id")}) {
				t.Errorf("the deleted conversation lists %v", got)
			}
		})

		t.Run("lists page without skipping", func(t *testing.T) {
			admin := admin.in(t)
			conv, _ := newConv(t, "")
			var made []string
			for i := range 5 {
				made = append(made, sget(admin.ok("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": unique("n") + strings.Repeat("!", i)}), "id"))
			}
			seen := admin.walkPages("/v1.0/conversations/"+conv+"/notes", "page_size", "2")
			slices.Reverse(made)
			if !slices.Equal(seen, made) {
				t.Errorf("pages listed %v, want newest first %v", seen, made)
			}
		})

		t.Run("who may read, add, edit and delete", func(t *testing.T) {
			admin, owner, stranger, manager := admin.in(t), e.as(t, ownerToken), e.as(t, strangerToken), e.as(t, managerToken)
			conv, _ := newConv(t, ownerID)
			byOwner := sget(owner.ok("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": "mine"}), "id")
			byAdmin := sget(admin.ok("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": "the admin's"}), "id")
			byManager := sget(manager.ok("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": "the manager's"}), "id")

			// Another plain agent may not see the conversation: every route is 404.
			stranger.fails("GET", "/v1.0/conversations/"+conv+"/notes", nil, http.StatusNotFound, convo.ReasonConversationNotFound)
			stranger.fails("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": "hi"}, http.StatusNotFound, convo.ReasonConversationNotFound)
			stranger.fails("PUT", "/v1.0/notes/"+byOwner, map[string]any{"text": "taken"}, http.StatusNotFound, convo.ReasonNoteNotFound)
			stranger.fails("DELETE", "/v1.0/notes/"+byOwner, nil, http.StatusNotFound, convo.ReasonNoteNotFound)
			// Its own conversation's notes stay its own.
			strangerConv, _ := newConv(t, strangerID)
			stranger.ok("POST", "/v1.0/conversations/"+strangerConv+"/notes", map[string]any{"text": "own"})
			owner.fails("GET", "/v1.0/conversations/"+strangerConv+"/notes", nil, http.StatusNotFound, convo.ReasonConversationNotFound)

			// The owner may not change others' notes on its conversation.
			owner.fails("PUT", "/v1.0/notes/"+byAdmin, map[string]any{"text": "mine now"}, http.StatusForbidden, "")
			owner.fails("DELETE", "/v1.0/notes/"+byManager, nil, http.StatusForbidden, "")
			// A manager and an admin may change anyone's.
			if got := manager.ok("PUT", "/v1.0/notes/"+byOwner, map[string]any{"text": "fixed by the manager"}); got["text"] != "fixed by the manager" {
				t.Errorf("manager's edit: %v", got)
			}
			admin.ok("PUT", "/v1.0/notes/"+byManager, map[string]any{"text": "fixed by the admin"})
			manager.ok("DELETE", "/v1.0/notes/"+byAdmin, nil)
			admin.ok("DELETE", "/v1.0/notes/"+byOwner, nil)
			listed := owner.ok("GET", "/v1.0/conversations/"+conv+"/notes", nil)["result"].([]any)
			if len(listed) != 1 || sget(listed[0].(map[string]any), "id") != byManager || sget(listed[0].(map[string]any), "text") != "fixed by the admin" {
				t.Errorf("after the changes the owner lists %v", listed)
			}
			// Unassigned, the conversation's notes stay in the former owner's
			// sight as the unassigned queue's, and leave it once its customer
			// turns that off.
			admin.ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"owner_id": ""})
			owner.ok("GET", "/v1.0/conversations/"+conv+"/notes", nil)
			admin.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": false})
			owner.fails("GET", "/v1.0/conversations/"+conv+"/notes", nil, http.StatusNotFound, convo.ReasonConversationNotFound)
			admin.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": true})
		})

		t.Run("another customer's notes are missing", func(t *testing.T) {
			admin, foreign := admin.in(t), e.as(t, foreignKey)
			conv, _ := newConv(t, "")
			note := sget(admin.ok("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": "ours"}), "id")
			before := string(admin.do("GET", "/v1.0/conversations/"+conv+"/notes", nil).Body)
			foreign.fails("GET", "/v1.0/conversations/"+conv+"/notes", nil, http.StatusNotFound, convo.ReasonConversationNotFound)
			foreign.fails("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": "theirs"}, http.StatusNotFound, convo.ReasonConversationNotFound)
			foreign.fails("PUT", "/v1.0/notes/"+note, map[string]any{"text": "theirs"}, http.StatusNotFound, convo.ReasonNoteNotFound)
			foreign.fails("DELETE", "/v1.0/notes/"+note, nil, http.StatusNotFound, convo.ReasonNoteNotFound)
			if after := string(admin.do("GET", "/v1.0/conversations/"+conv+"/notes", nil).Body); after != before {
				t.Errorf("another customer's requests changed the notes:\n%s\n%s", before, after)
			}
		})

		t.Run("notes are never sent nor among the messages", func(t *testing.T) {
			admin := admin.in(t)
			conv, user := newConv(t, "")
			note := sget(admin.ok("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": "private remark"}), "id")
			m := send(admin, conv, map[string]any{"text": "hello there"})
			waitStatus(admin, conv, sget(m, "id"), "done")
			admin.ok("PUT", "/v1.0/notes/"+note, map[string]any{"text": "private remark, edited"})
			var pushed []string
			for _, p := range e.line.Sent() {
				if p.To == user {
					for _, msg := range p.Messages {
						pushed = append(pushed, msg.Text)
					}
				}
			}
			if !slices.Equal(pushed, []string{"hello there"}) {
				t.Errorf("LINE received %q for the peer, want the message alone", pushed)
			}
			messages := admin.ok("GET", "/v1.0/conversations/"+conv+"/messages", nil)["result"].([]any)
			if len(messages) != 1 || sget(messages[0].(map[string]any), "id") != sget(m, "id") {
				t.Errorf("the message list is %v, want the message alone", messages)
			}
		})

		t.Run("events reach the webhook and the streams of who may see them", func(t *testing.T) {
			admin := admin.in(t)
			conv, _ := newConv(t, ownerID)
			strangerConv, _ := newConv(t, strangerID)
			ownerStream := dialLive(t, admin, "token="+url.QueryEscape(ownerToken), nil)
			strangerStream := dialLive(t, admin, "token="+url.QueryEscape(strangerToken), nil)

			created := admin.ok("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": "first"})
			other := admin.ok("POST", "/v1.0/conversations/"+strangerConv+"/notes", map[string]any{"text": "elsewhere"})
			updated := admin.ok("PUT", "/v1.0/notes/"+sget(created, "id"), map[string]any{"text": "second"})
			otherDeleted := admin.ok("DELETE", "/v1.0/notes/"+sget(other, "id"), nil)
			deleted := admin.ok("DELETE", "/v1.0/notes/"+sget(created, "id"), nil)
			admin.ok("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": "marker"})
			admin.ok("POST", "/v1.0/conversations/"+strangerConv+"/notes", map[string]any{"text": "marker"})

			for _, want := range []struct {
				typ  string
				note map[string]any
			}{
				{convo.EventNoteCreated, created}, {convo.EventNoteUpdated, updated}, {convo.EventNoteDeleted, deleted},
				{convo.EventNoteCreated, other}, {convo.EventNoteDeleted, otherDeleted},
			} {
				got := rcv.WaitFor(t, want.typ, sget(want.note, "id"))
				if !sameJSON(got.Data, want.note) {
					t.Errorf("webhook %s: %v, want the note as answered %v", want.typ, got.Data, want.note)
				}
			}

			for _, c := range []struct {
				name, conv string
				stream     *streamClient
				want       []string
			}{
				{"owner", conv, ownerStream, []string{"created first", "updated second", "deleted second", "created marker"}},
				{"stranger", strangerConv, strangerStream, []string{"created elsewhere", "deleted elsewhere", "created marker"}},
			} {
				var got []string
				for _, ev := range c.stream.until(t, func(ev streamEvent) bool { return ev.Data["text"] == "marker" }) {
					if !strings.HasPrefix(ev.Type, "conversation_note_") {
						continue
					}
					if ev.Data["conversation_id"] != c.conv {
						t.Errorf("the %s's stream carried %v of conversation %v", c.name, ev.Type, ev.Data["conversation_id"])
					}
					got = append(got, strings.TrimPrefix(ev.Type, "conversation_note_")+" "+sget(ev.Data, "text"))
				}
				if !slices.Equal(got, c.want) {
					t.Errorf("the %s's stream carried %q, want %q", c.name, got, c.want)
				}
			}
		})

		t.Run("bad input is 400 and changes nothing", func(t *testing.T) {
			admin := admin.in(t)
			conv, _ := newConv(t, "")
			note := sget(admin.ok("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": "keep"}), "id")
			path := "/v1.0/conversations/" + conv + "/notes"
			before := string(admin.do("GET", path, nil).Body)
			for _, body := range []any{map[string]any{}, map[string]any{"text": ""}, map[string]any{"text": " \n "}, map[string]any{"text": nil}} {
				admin.fails("POST", path, body, http.StatusBadRequest, "INVALID_TEXT")
				admin.fails("PUT", "/v1.0/notes/"+note, body, http.StatusBadRequest, "INVALID_TEXT")
			}
			long := map[string]any{"text": strings.Repeat("x", convo.MaxText+1)}
			admin.fails("POST", path, long, http.StatusBadRequest, convo.ReasonTooLong)
			admin.fails("PUT", "/v1.0/notes/"+note, long, http.StatusBadRequest, convo.ReasonTooLong)
			admin.fails("POST", path, map[string]any{"text": "a\x00b"}, http.StatusBadRequest, "NUL_CHARACTER")
			admin.fails("PUT", "/v1.0/notes/"+note, map[string]any{"text": "a\x00b"}, http.StatusBadRequest, "NUL_CHARACTER")
			admin.fails("POST", path, `{"text":`, http.StatusBadRequest, convo.ReasonInvalidJSON)
			admin.fails("POST", path, map[string]any{"text": 7}, http.StatusBadRequest, convo.ReasonInvalidJSON)
			admin.fails("PUT", "/v1.0/notes/"+note, `[]`, http.StatusBadRequest, convo.ReasonInvalidJSON)
			admin.fails("GET", "/v1.0/conversations/not-an-id/notes", nil, http.StatusBadRequest, convo.ReasonInvalidID)
			admin.fails("POST", "/v1.0/conversations/not-an-id/notes", map[string]any{"text": "x"}, http.StatusBadRequest, convo.ReasonInvalidID)
			admin.fails("PUT", "/v1.0/notes/not-an-id", map[string]any{"text": "x"}, http.StatusBadRequest, convo.ReasonInvalidID)
			admin.fails("DELETE", "/v1.0/notes/not-an-id", nil, http.StatusBadRequest, convo.ReasonInvalidID)
			admin.fails("GET", "/v1.0/conversations/"+convo.NewID()+"/notes", nil, http.StatusNotFound, convo.ReasonConversationNotFound)
			admin.fails("DELETE", "/v1.0/notes/"+convo.NewID(), nil, http.StatusNotFound, convo.ReasonNoteNotFound)
			if after := string(admin.do("GET", path, nil).Body); after != before {
				t.Errorf("refused requests changed the notes:\n%s\n%s", before, after)
			}
		})
	})
}
