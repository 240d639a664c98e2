package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// This file tests conversation status: POST /conversations/{id}/status,
// snoozes that end by a durable job, and what an inbound message does to a
// conversation that is not open.

// statusEnv is a server with a clock the test moves, a LINE account and
// helpers to talk to it as a peer.
type statusEnv struct {
	*channelEnv
	clock *settableClock
	acc   *testAccount
}

func newStatusEnv(t *testing.T, b testdb.Backend) *statusEnv {
	clock := newSettableClock(time.Now())
	e := newChannelEnv(t, b, withClock(clock))
	return &statusEnv{channelEnv: e, clock: clock, acc: e.newAccount(e.admin(t), convo.AccountLine)}
}

// restart restarts the server on the same database; the account's hook
// moves with the server's address.
func (e *statusEnv) restart(t *testing.T) {
	t.Helper()
	e.ts.restart(t)
	e.acc.Hook = e.ts.Config.PublicURL + "/v1.0/conversation/accounts/" + e.acc.ID
}

// say posts a text message from LINE user to the account's hook.
func (e *statusEnv) say(t testing.TB, user, text string) {
	t.Helper()
	if r := e.postLine(t, e.acc, lineWebhook(lineMessage(lineUser(user), lineText(text)))); r.Status != http.StatusOK {
		t.Fatalf("inbound LINE message: status %d %s", r.Status, r.Body)
	}
}

// conversationsOf lists the conversations with LINE user, newest first.
func (e *statusEnv) conversationsOf(t testing.TB, user string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, c := range e.admin(t).ok("GET", "/v1.0/conversations"+q("dialog_id", user), nil)["result"].([]any) {
		out = append(out, c.(map[string]any))
	}
	return out
}

// newPeer starts a conversation with a fresh LINE user by a message from
// them, owned by owner ("" for nobody), and returns its id and the user.
func (e *statusEnv) newPeer(t testing.TB, owner string) (id, user string) {
	t.Helper()
	user = lineID('U')
	e.say(t, user, "hello")
	convs := e.conversationsOf(t, user)
	if len(convs) != 1 {
		t.Fatalf("a first message made %d conversations", len(convs))
	}
	id = sget(convs[0], "id")
	if owner != "" {
		e.admin(t).ok("PUT", "/v1.0/conversations/"+id, map[string]any{"owner_id": owner})
	}
	return id, user
}

// statusUpdates returns the statuses the conversation_updated events of
// conv carried, oldest first.
func statusUpdates(a *api, conv string) []string {
	var out []string
	for _, d := range listDeliveries(a, url.Values{"conversation_id": {conv}, "type": {convo.EventConversationUpdated}}) {
		out = append(out, sget(d.data(a.t), "status"))
	}
	slices.Reverse(out)
	return out
}

// statusOf returns a conversation's status and snoozed_until.
func statusOf(a *api, conv string) (string, string) {
	c := a.ok("GET", "/v1.0/conversations/"+conv, nil)
	return sget(c, "status"), sget(c, "snoozed_until")
}

func TestConversationStatus(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newStatusEnv(t, b)
		admin := e.admin(t)
		ownerID, ownerToken := admin.newAgent(convo.PermissionCustomerAgent)
		_, strangerToken := admin.newAgent(convo.PermissionCustomerAgent)
		_, managerToken := admin.newAgent(convo.PermissionCustomerManager)
		_, foreignKey := e.ts.superAdmin(t).newCustomer()

		t.Run("a new conversation is open", func(t *testing.T) {
			conv, _ := e.newPeer(t, "")
			c := e.admin(t).ok("GET", "/v1.0/conversations/"+conv, nil)
			if c["status"] != convo.StatusOpen || c["snoozed_until"] != neverTime {
				t.Errorf("new conversation: status %v, snoozed_until %v", c["status"], c["snoozed_until"])
			}
			made := e.admin(t).newConversation(newSMSHookAccount(e.admin(t)).ID)
			if made["status"] != convo.StatusOpen || made["last_message"] != nil || made["tm_last_message"] != neverTime {
				t.Errorf("conversation made by POST: %v", made)
			}
		})

		t.Run("who may set it, and bad input", func(t *testing.T) {
			admin, owner, stranger, manager, foreign := e.admin(t), e.as(t, ownerToken), e.as(t, strangerToken), e.as(t, managerToken), e.as(t, foreignKey)
			conv, _ := e.newPeer(t, ownerID)
			path := "/v1.0/conversations/" + conv + "/status"
			if c := owner.ok("POST", path, map[string]any{"status": "pending"}); c["status"] != convo.StatusPending || c["id"] != conv {
				t.Errorf("the owner's change answered %v", c)
			}
			if c := manager.ok("POST", "/v1.0/service_agents/conversations/"+conv+"/status", map[string]any{"status": "resolved"}); c["status"] != convo.StatusResolved {
				t.Errorf("the manager's change answered %v", c)
			}
			stranger.fails("POST", path, map[string]any{"status": "open"}, http.StatusForbidden, convo.ReasonPermission)
			foreign.fails("POST", path, map[string]any{"status": "open"}, http.StatusNotFound, convo.ReasonConversationNotFound)
			future := wire(e.clock.Now().Add(time.Hour))
			for _, bad := range []struct {
				body   any
				reason string
			}{
				{map[string]any{}, convo.ReasonInvalidStatus},
				{map[string]any{"status": "closed"}, convo.ReasonInvalidStatus},
				{map[string]any{"status": "snoozed"}, convo.ReasonInvalidSnoozedUntil},
				{map[string]any{"status": "snoozed", "snoozed_until": wire(e.clock.Now().Add(-time.Minute))}, convo.ReasonInvalidSnoozedUntil},
				{map[string]any{"status": "open", "snoozed_until": future}, convo.ReasonInvalidSnoozedUntil},
				{map[string]any{"status": "snoozed", "snoozed_until": "tomorrow"}, convo.ReasonInvalidJSON},
				{`{"status": `, convo.ReasonInvalidJSON},
			} {
				admin.fails("POST", path, bad.body, http.StatusBadRequest, bad.reason)
			}
			admin.fails("POST", "/v1.0/conversations/not-an-id/status", map[string]any{"status": "open"}, http.StatusBadRequest, convo.ReasonInvalidID)
			if st, until := statusOf(admin, conv); st != convo.StatusResolved || until != neverTime {
				t.Errorf("after refused changes: %s until %s", st, until)
			}
			// The same status again changes nothing and tells nobody.
			admin.ok("POST", path, map[string]any{"status": "resolved"})
			// The first is the assignment's.
			if got := statusUpdates(admin, conv); !slices.Equal(got, []string{convo.StatusOpen, convo.StatusPending, convo.StatusResolved}) {
				t.Errorf("conversation_updated events carried %v, want open, pending, resolved", got)
			}
			entries := auditLog(admin, url.Values{"resource_id": {conv}, "action": {convo.AuditStatusChanged}})
			if len(entries) != 2 || entries[0].Actor.Type != convo.ActorAgent {
				t.Errorf("audit of the status changes: %v", entries)
			}
			admin.ok("DELETE", "/v1.0/conversations/"+conv, nil)
			admin.fails("POST", path, map[string]any{"status": "open"}, http.StatusConflict, "CONVERSATION_DELETED")
		})

		t.Run("a snooze ends at its time, also after a restart", func(t *testing.T) {
			admin := e.admin(t)
			conv, _ := e.newPeer(t, "")
			until := e.clock.Now().Add(time.Hour)
			c := admin.ok("POST", "/v1.0/conversations/"+conv+"/status", map[string]any{"status": "snoozed", "snoozed_until": wire(until)})
			if c["status"] != convo.StatusSnoozed || c["snoozed_until"] != wire(until) {
				t.Fatalf("snoozed: %v until %v", c["status"], c["snoozed_until"])
			}
			e.restart(t)
			admin = e.admin(t)
			e.clock.Advance(59 * time.Minute)
			time.Sleep(1500 * time.Millisecond) // a job poll or more
			if st, _ := statusOf(admin, conv); st != convo.StatusSnoozed {
				t.Fatalf("before its end the snooze is %s", st)
			}
			e.clock.Advance(2 * time.Minute)
			eventually(t, 10*time.Second, func() error {
				if st, until := statusOf(admin, conv); st != convo.StatusOpen || until != neverTime {
					return fmt.Errorf("after its end: %s until %s", st, until)
				}
				return nil
			})
			if got := statusUpdates(admin, conv); !slices.Equal(got, []string{convo.StatusSnoozed, convo.StatusOpen}) {
				t.Errorf("conversation_updated events carried %v", got)
			}
		})

		t.Run("a later snooze or another status makes an earlier snooze's job do nothing", func(t *testing.T) {
			admin := e.admin(t)
			again, _ := e.newPeer(t, "")
			changed, _ := e.newPeer(t, "")
			now := e.clock.Now()
			for _, conv := range []string{again, changed} {
				admin.ok("POST", "/v1.0/conversations/"+conv+"/status", map[string]any{"status": "snoozed", "snoozed_until": wire(now.Add(time.Hour))})
			}
			admin.ok("POST", "/v1.0/conversations/"+again+"/status", map[string]any{"status": "snoozed", "snoozed_until": wire(now.Add(3 * time.Hour))})
			admin.ok("POST", "/v1.0/conversations/"+changed+"/status", map[string]any{"status": "pending"})
			e.clock.Advance(2 * time.Hour)
			time.Sleep(2 * time.Second) // the first snoozes' jobs run
			if st, until := statusOf(admin, again); st != convo.StatusSnoozed || until != wire(now.Add(3*time.Hour)) {
				t.Errorf("snoozed again: %s until %s", st, until)
			}
			if st, _ := statusOf(admin, changed); st != convo.StatusPending {
				t.Errorf("set pending after a snooze: %s", st)
			}
			e.clock.Advance(2 * time.Hour)
			eventually(t, 10*time.Second, func() error {
				if st, _ := statusOf(admin, again); st != convo.StatusOpen {
					return fmt.Errorf("after the second snooze's end: %s", st)
				}
				return nil
			})
		})

		t.Run("an inbound message reopens", func(t *testing.T) {
			admin := e.admin(t)
			for _, status := range []string{convo.StatusPending, convo.StatusSnoozed, convo.StatusResolved} {
				conv, user := e.newPeer(t, "")
				body := map[string]any{"status": status}
				if status == convo.StatusSnoozed {
					body["snoozed_until"] = wire(e.clock.Now().Add(time.Hour))
				}
				admin.ok("POST", "/v1.0/conversations/"+conv+"/status", body)
				e.say(t, user, "back again")
				convs := e.conversationsOf(t, user)
				if len(convs) != 1 || convs[0]["id"] != conv || convs[0]["status"] != convo.StatusOpen || convs[0]["snoozed_until"] != neverTime {
					t.Errorf("%s, then a message: %v", status, convs)
				}
				if got := statusUpdates(admin, conv); !slices.Equal(got, []string{status, convo.StatusOpen}) {
					t.Errorf("%s, then a message: conversation_updated events carried %v", status, got)
				}
			}
		})
	})
}
