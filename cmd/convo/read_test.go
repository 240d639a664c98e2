package main

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
)

// This file tests read marks: POST /v1.0/conversations/{id}/read, unread_count,
// the unread filter and the conversation_read stream event.

func TestReadState(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b, withWebhooks())
		admin := e.admin(t)
		rcv := webhooktest.New(t)
		setWebhook(admin, "POST", rcv.URL(), "reads")
		acc := e.newAccount(admin, convo.AccountLine)
		ownerID, ownerToken := admin.newAgent(convo.PermissionCustomerAgent)
		_, strangerToken := admin.newAgent(convo.PermissionCustomerAgent)
		managerID, managerToken := admin.newAgent(convo.PermissionCustomerManager)
		_, foreignKey := e.ts.superAdmin(t).newCustomer()
		_, foreignAdminToken := e.as(t, foreignKey).newAgent(convo.PermissionCustomerAdmin)

		// inbound has the peer send texts and returns the conversation's
		// messages, oldest first.
		inbound := func(t *testing.T, user string, texts ...string) (conv string, msgs []map[string]any) {
			t.Helper()
			for _, text := range texts {
				wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(user), lineText(text)))), http.StatusOK)
			}
			conv = str(t, convWith(admin.in(t), acc.ID, user), "id")
			msgs = msgsOf(admin.in(t), conv)
			slices.Reverse(msgs)
			return conv, msgs
		}
		// ownedConv is a conversation owned by the owner with n incoming messages.
		ownedConv := func(t *testing.T, n int) (conv, user string, msgs []map[string]any) {
			user = lineID('U')
			texts := make([]string, n)
			for i := range texts {
				texts[i] = unique("in")
			}
			conv, msgs = inbound(t, user, texts...)
			admin.in(t).ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"owner_id": ownerID})
			return conv, user, msgs
		}
		unread := func(t *testing.T, a *api, path string) int {
			t.Helper()
			n, ok := a.ok("GET", path, nil)["unread_count"].(float64)
			if !ok {
				t.Fatalf("GET %s has no unread_count", path)
			}
			return int(n)
		}
		read := func(a *api, conv, msg string) map[string]any {
			return a.ok("POST", "/v1.0/conversations/"+conv+"/read", map[string]any{"message_id": msg})
		}
		wantState := func(t *testing.T, got map[string]any, conv, agent, msg string, n int) {
			t.Helper()
			want := map[string]any{"conversation_id": conv, "agent_id": agent, "message_id": msg, "unread_count": float64(n)}
			if !sameJSON(got, want) {
				t.Errorf("read state %v, want %v", got, want)
			}
		}

		t.Run("unread_count counts incoming messages after each agent's own mark", func(t *testing.T) {
			admin, owner, manager := admin.in(t), e.as(t, ownerToken), e.as(t, managerToken)
			conv, _, msgs := ownedConv(t, 3)
			reply := send(admin, conv, map[string]any{"text": "we are on it"})
			waitStatus(admin, conv, sget(reply, "id"), "done")
			path := "/v1.0/conversations/" + conv
			for who, a := range map[string]*api{"owner": owner, "manager": manager} {
				if n := unread(t, a, path); n != 3 {
					t.Errorf("the %s has %d unread before reading, want 3 (outgoing messages do not count)", who, n)
				}
			}
			if n := unread(t, admin, path); n != 0 {
				t.Errorf("an access key has %d unread, want 0", n)
			}

			wantState(t, read(owner, conv, sget(msgs[0], "id")), conv, ownerID, sget(msgs[0], "id"), 2)
			if n := unread(t, owner, path); n != 2 {
				t.Errorf("after reading the first message the owner has %d unread, want 2", n)
			}
			if n := unread(t, owner, "/v1.0/service_agents/conversations/"+conv); n != 2 {
				t.Errorf("on the service-agent surface the owner has %d unread, want 2", n)
			}
			if n := unread(t, manager, path); n != 3 {
				t.Errorf("the owner's read changed the manager's count to %d", n)
			}
			// Up to the reply, which is after every incoming message.
			wantState(t, read(owner, conv, sget(reply, "id")), conv, ownerID, sget(reply, "id"), 0)
			// Backwards is ignored: the mark stays where it was.
			wantState(t, read(owner, conv, sget(msgs[1], "id")), conv, ownerID, sget(reply, "id"), 0)
			if n := unread(t, owner, path); n != 0 {
				t.Errorf("after a read backwards the owner has %d unread, want 0", n)
			}
			// Lists count for the caller, on both surfaces.
			counts := map[string]float64{}
			for _, c := range rows(t, manager.ok("GET", "/v1.0/conversations"+q("account_id", acc.ID), nil)) {
				counts[sget(c, "id")] = c["unread_count"].(float64)
			}
			if counts[conv] != 3 {
				t.Errorf("the manager's list counts %v unread, want 3", counts[conv])
			}
			for _, c := range rows(t, owner.ok("GET", "/v1.0/service_agents/conversations", nil)) {
				if c["id"] == conv && c["unread_count"] != float64(0) {
					t.Errorf("the owner's list counts %v unread, want 0", c["unread_count"])
				}
			}
			// A new incoming message is unread again.
			inbound(t, sget(obj(t, admin.ok("GET", path, nil), "peer"), "target"), "one more")
			if n := unread(t, owner, path); n != 1 {
				t.Errorf("after a new message the owner has %d unread, want 1", n)
			}
			// Events are nobody's in particular: their conversations show 0.
			updated := rcv.WaitFor(t, convo.EventConversationUpdated, conv)
			if updated.Data["unread_count"] != float64(0) {
				t.Errorf("a webhook's conversation has unread_count %v, want 0", updated.Data["unread_count"])
			}
		})

		t.Run("the unread filter keeps what the caller has not read", func(t *testing.T) {
			admin, owner, manager := admin.in(t), e.as(t, ownerToken), e.as(t, managerToken)
			conv, user, msgs := ownedConv(t, 2)
			other, _, _ := ownedConv(t, 1)
			quiet, _, _ := ownedConv(t, 1)
			read(owner, quiet, sget(msgsOf(admin, quiet)[0], "id"))
			mine := func() []string {
				return ids(t, owner.ok("GET", "/v1.0/conversations"+q("owner_id", ownerID, "unread", "true"), nil))
			}
			if got := mine(); !slices.Contains(got, conv) || !slices.Contains(got, other) || slices.Contains(got, quiet) {
				t.Errorf("unread: %v, want %s and %s, not %s", got, conv, other, quiet)
			}
			read(owner, conv, sget(msgs[1], "id"))
			if got := mine(); slices.Contains(got, conv) || !slices.Contains(got, other) {
				t.Errorf("after reading %s, unread: %v", conv, got)
			}
			if got := ids(t, owner.ok("GET", "/v1.0/service_agents/conversations"+q("unread", "true"), nil)); slices.Contains(got, conv) || !slices.Contains(got, other) {
				t.Errorf("the service-agent list of unread: %v", got)
			}
			if got := ids(t, manager.ok("GET", "/v1.0/conversations"+q("account_id", acc.ID, "unread", "true"), nil)); !slices.Contains(got, conv) || !slices.Contains(got, quiet) {
				t.Errorf("the manager's unread %v lack what only the owner read", got)
			}
			if got := ids(t, admin.ok("GET", "/v1.0/conversations"+q("unread", "true"), nil)); len(got) != 0 {
				t.Errorf("an access key has unread conversations: %v", got)
			}
			if got := ids(t, owner.ok("GET", "/v1.0/conversations"+q("owner_id", ownerID, "unread", "false"), nil)); !slices.Contains(got, conv) {
				t.Errorf("unread=false filtered %s out: %v", conv, got)
			}
			inbound(t, user, "again")
			if got := mine(); !slices.Contains(got, conv) {
				t.Errorf("a new message did not make %s unread: %v", conv, got)
			}
		})

		t.Run("who may mark, and what", func(t *testing.T) {
			admin, owner, stranger, manager, foreign := admin.in(t), e.as(t, ownerToken), e.as(t, strangerToken), e.as(t, managerToken), e.as(t, foreignAdminToken)
			conv, _, msgs := ownedConv(t, 1)
			_, _, otherMsgs := ownedConv(t, 1)
			msg := sget(msgs[0], "id")
			path := "/v1.0/conversations/" + conv + "/read"
			admin.fails("POST", path, map[string]any{"message_id": msg}, http.StatusForbidden, convo.ReasonReadNeedsAgent)
			stranger.fails("POST", path, map[string]any{"message_id": msg}, http.StatusForbidden, "")
			foreign.fails("POST", path, map[string]any{"message_id": msg}, http.StatusNotFound, convo.ReasonConversationNotFound)
			// An access key has no read state; another customer's conversation is missing to it as to anybody.
			e.as(t, foreignKey).fails("POST", path, map[string]any{"message_id": msg}, http.StatusNotFound, convo.ReasonConversationNotFound)
			owner.fails("POST", path, map[string]any{"message_id": sget(otherMsgs[0], "id")}, http.StatusBadRequest, convo.ReasonMessageNotFound)
			owner.fails("POST", path, map[string]any{"message_id": convo.NewID()}, http.StatusBadRequest, convo.ReasonMessageNotFound)
			owner.fails("POST", path, map[string]any{}, http.StatusBadRequest, convo.ReasonInvalidID)
			owner.fails("POST", path, map[string]any{"message_id": "nope"}, http.StatusBadRequest, convo.ReasonInvalidID)
			owner.fails("POST", path, map[string]any{"message_id": 7}, http.StatusBadRequest, convo.ReasonInvalidJSON)
			owner.fails("POST", "/v1.0/conversations/nope/read", map[string]any{"message_id": msg}, http.StatusBadRequest, convo.ReasonInvalidID)
			owner.fails("POST", "/v1.0/conversations/"+convo.NewID()+"/read", map[string]any{"message_id": msg}, http.StatusNotFound, convo.ReasonConversationNotFound)
			owner.fails("GET", "/v1.0/conversations"+q("owner_id", ownerID, "unread", "yes"), nil, http.StatusBadRequest, convo.ReasonInvalidUnread)
			if n := unread(t, owner, "/v1.0/conversations/"+conv); n != 1 {
				t.Errorf("refused marks changed the owner's count to %d", n)
			}
			// The owner on the service-agent surface, and a manager, may.
			wantState(t, owner.ok("POST", "/v1.0/service_agents/conversations/"+conv+"/read", map[string]any{"message_id": msg}), conv, ownerID, msg, 0)
			wantState(t, read(manager, conv, msg), conv, managerID, msg, 0)
		})

		t.Run("a mark reaches the agent's own streams only, never a webhook", func(t *testing.T) {
			admin, owner, manager := admin.in(t), e.as(t, ownerToken), e.as(t, managerToken)
			conv, _, msgs := ownedConv(t, 2)
			tab1 := dialLive(t, admin, "token="+url.QueryEscape(ownerToken), nil)
			tab2 := dialLive(t, admin, "/v1.0/service_agents/ws?token="+url.QueryEscape(ownerToken), nil)
			managerTab := dialLive(t, admin, "token="+url.QueryEscape(managerToken), nil)
			keyTab := dialLive(t, admin, "accesskey="+url.QueryEscape(e.ts.AdminKey), nil)

			first, second := sget(msgs[0], "id"), sget(msgs[1], "id")
			read(owner, conv, first)
			read(owner, conv, first) // no move, no event
			read(manager, conv, second)
			read(owner, conv, second)
			marker := admin.ok("POST", "/v1.0/conversations/"+conv+"/notes", map[string]any{"text": "marker"})

			reads := func(s *streamClient) []map[string]any {
				var got []map[string]any
				for _, ev := range s.until(t, func(ev streamEvent) bool { return ev.Data["id"] == marker["id"] }) {
					// A live stream on PostgreSQL may also replay reads of earlier subtests.
					if ev.Type == convo.EventConversationRead && ev.Data["conversation_id"] == conv {
						got = append(got, ev.Data)
					}
				}
				return got
			}
			for name, tab := range map[string]*streamClient{"first tab": tab1, "second tab": tab2} {
				got := reads(tab)
				if len(got) != 2 {
					t.Fatalf("the owner's %s got %d conversation_read, want 2: %v", name, len(got), got)
				}
				wantState(t, got[0], conv, ownerID, first, 1)
				wantState(t, got[1], conv, ownerID, second, 0)
			}
			got := reads(managerTab)
			if len(got) != 1 {
				t.Fatalf("the manager's tab got %v, want its own read alone", got)
			}
			wantState(t, got[0], conv, managerID, second, 0)
			if got := reads(keyTab); len(got) != 0 {
				t.Errorf("an access key's stream got %v", got)
			}
			// The webhook got the marker and no read.
			rcv.WaitFor(t, convo.EventNoteCreated, sget(marker, "id"))
			for _, r := range rcv.Requests() {
				if r.Type == convo.EventConversationRead {
					t.Errorf("a webhook got %s %v", r.Type, r.Data)
				}
			}
			// Nor do the webhook deliveries list them.
			for _, d := range listDeliveries(admin, url.Values{"conversation_id": {conv}}) {
				if d.Type == convo.EventConversationRead {
					t.Errorf("the deliveries list %v", d)
				}
			}
		})
	})
}
