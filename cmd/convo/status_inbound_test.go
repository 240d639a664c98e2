package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// This file tests the account settings resolved_inbound and
// auto_resolve_after, and the last message a conversation keeps.

func TestResolvedInboundNew(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newStatusEnv(t, b)
		admin := e.admin(t)
		ownerID, _ := admin.newAgent(convo.PermissionCustomerAgent)
		flow := admin.ok("POST", "/v1.0/flows", map[string]any{"name": "greet", "actions": []any{
			flowAction("", convo.ActionVariableSet, map[string]any{"key": "seen", "value": "yes"})}})["id"].(string)
		acc := admin.ok("PUT", "/v1.0/conversation_accounts/"+e.acc.ID, map[string]any{"resolved_inbound": "new", "message_flow_id": flow})
		if acc["resolved_inbound"] != convo.ResolvedNew {
			t.Fatalf("account after the change: %v", acc)
		}
		runsOf := func(t *testing.T, conv string) int {
			return len(ids(t, e.admin(t).ok("GET", "/v1.0/activeflows?reference_id="+conv, nil)))
		}

		t.Run("a resolved conversation stays; the message starts a new one", func(t *testing.T) {
			admin := e.admin(t)
			old, user := e.newPeer(t, ownerID)
			admin.ok("POST", "/v1.0/conversations/"+old+"/status", map[string]any{"status": "resolved"})
			e.say(t, user, "a new question")
			convs := e.conversationsOf(t, user)
			if len(convs) != 2 || convs[1]["id"] != old {
				t.Fatalf("after the message: %v", convs)
			}
			fresh := convs[0]
			if fresh["status"] != convo.StatusOpen || fresh["owner_id"] != convo.NilID || obj(t, fresh, "last_message")["text"] != "a new question" {
				t.Errorf("the new conversation: %v", fresh)
			}
			if st, _ := statusOf(admin, old); st != convo.StatusResolved {
				t.Errorf("the old conversation is %s", st)
			}
			if obj(t, admin.ok("GET", "/v1.0/conversations/"+old, nil), "last_message")["text"] != "hello" {
				t.Errorf("the old conversation's last message changed")
			}
			// The new one is the live one: the next message goes to it, and
			// being unassigned it runs the account's flow as a new one does.
			e.say(t, user, "and another")
			if convs := e.conversationsOf(t, user); len(convs) != 2 || obj(t, convs[0], "last_message")["text"] != "and another" {
				t.Errorf("the next message: %v", convs)
			}
			if n := runsOf(t, sget(fresh, "id")); n != 2 {
				t.Errorf("the new conversation ran the flow %d times, want 2", n)
			}
			if n := runsOf(t, old); n != 1 {
				t.Errorf("the old, owned conversation ran the flow %d times, want only its unowned first message's", n)
			}
			// POST /conversations answers the live one too.
			got := admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": e.acc.ID, "peer": map[string]any{"type": "line", "target": user}})
			if got["id"] != fresh["id"] {
				t.Errorf("POST /conversations answered %v, want the new conversation", got["id"])
			}
		})

		t.Run("pending and snoozed reopen whatever the setting; owned ones skip the flow", func(t *testing.T) {
			admin := e.admin(t)
			for _, status := range []string{convo.StatusPending, convo.StatusSnoozed} {
				conv, user := e.newPeer(t, ownerID)
				body := map[string]any{"status": status}
				if status == convo.StatusSnoozed {
					body["snoozed_until"] = wire(e.clock.Now().Add(time.Hour))
				}
				admin.ok("POST", "/v1.0/conversations/"+conv+"/status", body)
				e.say(t, user, "back")
				if convs := e.conversationsOf(t, user); len(convs) != 1 || convs[0]["status"] != convo.StatusOpen {
					t.Errorf("%s, then a message: %v", status, convs)
				}
				if n := runsOf(t, conv); n != 1 {
					t.Errorf("%s and owned: the flow ran %d times, want only for the first, unowned message", status, n)
				}
			}
		})

		t.Run("concurrent messages to a resolved conversation make exactly one new one", func(t *testing.T) {
			admin := e.admin(t)
			for round := range 3 {
				old, user := e.newPeer(t, "")
				admin.ok("POST", "/v1.0/conversations/"+old+"/status", map[string]any{"status": "resolved"})
				const n = 12
				var wg sync.WaitGroup
				errs := make(chan error, n)
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						body := lineWebhook(lineMessage(lineUser(user), lineText(fmt.Sprintf("burst %d", i))))
						r, err := hookPost(e.acc.Hook, "application/json; charset=utf-8", body, header("X-Line-Signature", lineSignature(e.acc.Secret, body)))
						if err == nil && r.Status != http.StatusOK {
							err = fmt.Errorf("status %d %s", r.Status, r.Body)
						}
						errs <- err
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatalf("round %d: a concurrent message: %v", round, err)
					}
				}
				convs := e.conversationsOf(t, user)
				if len(convs) != 2 || convs[1]["id"] != old || convs[1]["status"] != convo.StatusResolved || convs[0]["status"] != convo.StatusOpen {
					t.Fatalf("round %d: conversations after %d concurrent messages: %v", round, n, convs)
				}
				msgs := ids(t, admin.ok("GET", "/v1.0/conversations/"+sget(convs[0], "id")+"/messages?page_size=100", nil))
				if len(msgs) != n {
					t.Errorf("round %d: the new conversation holds %d messages, want %d", round, len(msgs), n)
				}
			}
		})
	})
}

func TestAutoResolve(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newStatusEnv(t, b)
		admin := e.admin(t)
		acc := admin.ok("PUT", "/v1.0/conversation_accounts/"+e.acc.ID, map[string]any{"auto_resolve_after": "90m"})
		if acc["auto_resolve_after"] != "90m" || acc["resolved_inbound"] != convo.ResolvedReopen {
			t.Fatalf("account after the change: %v", acc)
		}
		quiet, _ := e.newPeer(t, "")
		pending, _ := e.newPeer(t, "")
		admin.ok("POST", "/v1.0/conversations/"+pending+"/status", map[string]any{"status": "pending"})
		snoozed, _ := e.newPeer(t, "")
		admin.ok("POST", "/v1.0/conversations/"+snoozed+"/status", map[string]any{"status": "snoozed", "snoozed_until": wire(e.clock.Now().Add(48 * time.Hour))})
		talking, talker := e.newPeer(t, "")
		// Another account, without the setting, keeps its conversations open.
		other := e.newAccount(admin, convo.AccountLine)
		otherUser := lineID('U')
		if r := e.postLine(t, other, lineWebhook(lineMessage(lineUser(otherUser), lineText("hi")))); r.Status != http.StatusOK {
			t.Fatalf("inbound on the other account: %d", r.Status)
		}
		untouched := sget(e.conversationsOf(t, otherUser)[0], "id")

		e.clock.Advance(60 * time.Minute)
		e.say(t, talker, "still here")
		e.clock.Advance(45 * time.Minute)
		eventually(t, 15*time.Second, func() error {
			for conv, want := range map[string]string{quiet: convo.StatusResolved, pending: convo.StatusResolved} {
				if st, _ := statusOf(admin, conv); st != want {
					return fmt.Errorf("%s after 105 idle minutes is %s, want %s", conv, st, want)
				}
			}
			return nil
		})
		for conv, want := range map[string]string{snoozed: convo.StatusSnoozed, talking: convo.StatusOpen, untouched: convo.StatusOpen} {
			if st, _ := statusOf(admin, conv); st != want {
				t.Errorf("%s is %s, want %s", conv, st, want)
			}
		}
		if got := statusUpdates(admin, quiet); len(got) != 1 || got[0] != convo.StatusResolved {
			t.Errorf("conversation_updated events of the resolved one: %v", got)
		}
		// The job goes on after a restart.
		e.restart(t)
		admin = e.admin(t)
		e.clock.Advance(2 * time.Hour)
		eventually(t, 15*time.Second, func() error {
			if st, _ := statusOf(admin, talking); st != convo.StatusResolved {
				return fmt.Errorf("the talking conversation after a restart and 2h more is %s", st)
			}
			return nil
		})
	})
}

func TestAccountAndCustomerSettings(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b)
		admin := ts.as(ts.AdminKey)
		acc := admin.ok("POST", "/v1.0/conversation_accounts", map[string]any{"type": "line", "name": "l", "token": "t", "secret": "s"})
		path := "/v1.0/conversation_accounts/" + sget(acc, "id")
		if acc["resolved_inbound"] != convo.ResolvedReopen || acc["auto_resolve_after"] != "" {
			t.Errorf("defaults: %v %v", acc["resolved_inbound"], acc["auto_resolve_after"])
		}
		made := admin.ok("POST", "/v1.0/conversation_accounts", map[string]any{"type": "line", "name": "l2", "token": "t", "secret": "s",
			"resolved_inbound": "new", "auto_resolve_after": "48h"})
		if made["resolved_inbound"] != convo.ResolvedNew || made["auto_resolve_after"] != "48h" {
			t.Errorf("set on creation: %v %v", made["resolved_inbound"], made["auto_resolve_after"])
		}
		for in, want := range map[string]string{"90m": "90m", "1m": "1m", "8760h": "8760h", "1h30m": "90m", " 2h ": "2h", "": ""} {
			if got := admin.ok("PUT", path, map[string]any{"auto_resolve_after": in}); got["auto_resolve_after"] != want {
				t.Errorf("auto_resolve_after %q reads back %v, want %q", in, got["auto_resolve_after"], want)
			}
		}
		admin.ok("PUT", path, map[string]any{"auto_resolve_after": "2h", "resolved_inbound": "new"})
		for _, bad := range []string{"59s", "8761h", "-1h", "two hours", "1.5s", "0"} {
			admin.fails("PUT", path, map[string]any{"auto_resolve_after": bad}, http.StatusBadRequest, convo.ReasonInvalidAutoResolve)
		}
		admin.fails("PUT", path, map[string]any{"resolved_inbound": "close"}, http.StatusBadRequest, convo.ReasonInvalidResolvedInbound)
		admin.fails("POST", "/v1.0/conversation_accounts", map[string]any{"type": "line", "name": "l", "token": "t", "secret": "s", "auto_resolve_after": "1s"},
			http.StatusBadRequest, convo.ReasonInvalidAutoResolve)
		// A VoIPbin client's PUT leaves the settings out and keeps them.
		got := admin.ok("PUT", path, map[string]any{"name": "renamed", "detail": "d"})
		if got["auto_resolve_after"] != "2h" || got["resolved_inbound"] != convo.ResolvedNew {
			t.Errorf("after a PUT without them: %v %v", got["auto_resolve_after"], got["resolved_inbound"])
		}
		if got := admin.ok("GET", path, nil); got["auto_resolve_after"] != "2h" || got["resolved_inbound"] != convo.ResolvedNew {
			t.Errorf("GET: %v %v", got["auto_resolve_after"], got["resolved_inbound"])
		}

		_, agentToken := admin.newAgent(convo.PermissionCustomerAgent)
		agent := ts.as(agentToken)
		if c := admin.ok("GET", "/v1.0/customer", nil); c["agents_take_unassigned"] != true {
			t.Errorf("agents_take_unassigned by default: %v", c["agents_take_unassigned"])
		}
		if c := admin.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": false}); c["agents_take_unassigned"] != false {
			t.Errorf("after turning it off: %v", c["agents_take_unassigned"])
		}
		if c := agent.ok("GET", "/v1.0/service_agents/customer", nil); c["agents_take_unassigned"] != false {
			t.Errorf("the agent's view: %v", c["agents_take_unassigned"])
		}
		if c := admin.ok("PUT", "/v1.0/customer", map[string]any{"name": "kept"}); c["agents_take_unassigned"] != false {
			t.Errorf("a PUT without it changed it: %v", c["agents_take_unassigned"])
		}
		admin.fails("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": "yes"}, http.StatusBadRequest, convo.ReasonInvalidJSON)
	})
}

func TestLastMessage(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newStatusEnv(t, b)
		admin := e.admin(t)
		conv, user := e.newPeer(t, "")
		long := strings.Repeat("é", 100) + strings.Repeat("日本", 30) // 160 characters, 260 bytes
		e.clock.Advance(time.Second)
		e.say(t, user, long)
		msgs := admin.ok("GET", "/v1.0/conversations/"+conv+"/messages?page_size=1", nil)["result"].([]any)
		in := msgs[0].(map[string]any)
		c := admin.ok("GET", "/v1.0/conversations/"+conv, nil)
		last := obj(t, c, "last_message")
		if want := string([]rune(long)[:140]); last["text"] != want || last["id"] != in["id"] || last["direction"] != "incoming" || last["tm_create"] != in["tm_create"] {
			t.Errorf("last_message %v, want the message %v cut to 140 characters", last, in["id"])
		}
		if c["tm_last_message"] != in["tm_create"] {
			t.Errorf("tm_last_message %v, want %v", c["tm_last_message"], in["tm_create"])
		}
		e.clock.Advance(time.Second)
		sent := admin.ok("POST", "/v1.0/conversations/"+conv+"/messages", map[string]any{"text": "we are on it"})
		c = admin.ok("GET", "/v1.0/conversations/"+conv, nil)
		if last := obj(t, c, "last_message"); last["id"] != sent["id"] || last["direction"] != "outgoing" || c["tm_last_message"] != sent["tm_create"] {
			t.Errorf("after a send: %v", c)
		}
		// Messages tell of themselves: no conversation_updated for them.
		if got := statusUpdates(admin, conv); len(got) != 0 {
			t.Errorf("messages emitted conversation_updated: %v", got)
		}
		// A change of the conversation keeps the last message, and a
		// message keeps the change.
		admin.ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"name": "renamed"})
		e.say(t, user, "thanks")
		c = admin.ok("GET", "/v1.0/conversations/"+conv, nil)
		if c["name"] != "renamed" || obj(t, c, "last_message")["text"] != "thanks" {
			t.Errorf("after a rename and a message: %v", c)
		}
	})
}
