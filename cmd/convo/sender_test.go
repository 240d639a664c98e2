package main

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
)

// This file tests who sent a message: the sender of outgoing messages (an
// agent, an activeflow, an access key) and null for incoming ones, in the
// answer, the list, the webhook payloads and the stream.

// senderOf returns a message's sender as "type id", "null" when it is null,
// and "absent" when the key is missing.
func senderOf(m map[string]any) string {
	v, ok := m["sender"]
	switch {
	case !ok:
		return "absent"
	case v == nil:
		return "null"
	}
	s, _ := v.(map[string]any)
	return fmt.Sprintf("%v %v", s["type"], s["id"])
}

func TestMessageSenders(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b, withWebhooks())
		admin := e.admin(t)
		rcv := webhooktest.New(t)
		setWebhook(admin, "POST", rcv.URL(), "senders")
		keyID := sget(admin.ok("GET", "/v1.0/me", nil), "accesskey_id")
		agentID, agentToken := admin.newAgent(convo.PermissionCustomerAgent)
		agent := e.as(t, agentToken)
		acc := e.newAccount(admin, convo.AccountLine)
		admin.ok("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"message_flow_id": flowCreate(admin, flowSendAction("", "bot: hello"))})

		keyStream := dialLive(t, admin, "accesskey="+url.QueryEscape(e.ts.AdminKey), nil)
		agentStream := dialLive(t, admin, "token="+url.QueryEscape(agentToken), nil)

		// The peer writes; the account's flow answers.
		user := lineID('U')
		wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(user), lineText("hi")))), http.StatusOK)
		var conv string
		eventually(t, 10*time.Second, func() error {
			list := admin.ok("GET", "/v1.0/conversations?dialog_id="+user, nil)["result"].([]any)
			if len(list) != 1 {
				return fmt.Errorf("%d conversations with the peer", len(list))
			}
			conv = sget(list[0].(map[string]any), "id")
			return nil
		})
		var incoming, byFlow map[string]any
		eventually(t, 10*time.Second, func() error {
			incoming, byFlow = nil, nil
			for _, m := range msgsOf(admin, conv) {
				if m["direction"] == convo.DirectionIncoming {
					incoming = m
				} else if m["text"] == "bot: hello" {
					byFlow = m
				}
			}
			if incoming == nil || byFlow == nil {
				return fmt.Errorf("the conversation holds %d messages, want the peer's and the flow's", len(msgsOf(admin, conv)))
			}
			return nil
		})
		runs := flowActiveflows(admin, "?reference_id="+conv)
		if len(runs) != 1 {
			t.Fatalf("%d activeflows on the conversation, want 1", len(runs))
		}
		want := map[string]string{sget(incoming, "id"): "null", sget(byFlow, "id"): "flow " + sget(runs[0], "id")}
		var replies []string

		// The conversation's owner and the access key reply, on both surfaces.
		admin.ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"owner_id": agentID})
		for _, s := range []struct {
			who  *api
			path string
			want string
		}{
			{agent, "/v1.0/conversations/", "agent " + agentID},
			{agent, "/v1.0/service_agents/conversations/", "agent " + agentID},
			{admin, "/v1.0/conversations/", "accesskey " + keyID},
		} {
			m := s.who.ok("POST", s.path+conv+"/messages", map[string]any{"text": "reply " + s.want})
			if got := senderOf(m); got != s.want {
				t.Errorf("POST %s: the answer's sender is %s, want %s", s.path, got, s.want)
			}
			want[sget(m, "id")], replies = s.want, append(replies, sget(m, "id"))
			waitStatus(admin, conv, sget(m, "id"), convo.MessageDone)
		}

		// The list shows every sender, on both surfaces.
		for _, path := range []string{"/v1.0/conversations/", "/v1.0/service_agents/conversations/"} {
			listed := agent.ok("GET", path+conv+"/messages", nil)["result"].([]any)
			if len(listed) != len(want) {
				t.Errorf("%s lists %d messages, want %d", path, len(listed), len(want))
			}
			for _, raw := range listed {
				m := raw.(map[string]any)
				if got := senderOf(m); got != want[sget(m, "id")] {
					t.Errorf("%s lists message %q with sender %s, want %s", path, m["text"], got, want[sget(m, "id")])
				}
			}
		}

		// Every event of a message carries its sender: its creation, and
		// the status change when the provider took it.
		for _, typ := range []string{convo.EventMessageCreated, convo.EventMessageUpdated} {
			for id, sender := range want {
				if typ == convo.EventMessageUpdated && sender == "null" {
					continue // an incoming message is stored done, and never changes
				}
				eventually(t, 10*time.Second, func() error {
					for _, r := range rcv.Find(typ, conv) {
						if sget(r.Data, "id") == id {
							if got := senderOf(r.Data); got != sender {
								return fmt.Errorf("webhook %s of %s: sender %s, want %s", typ, id, got, sender)
							}
							return nil
						}
					}
					return fmt.Errorf("no webhook %s of message %s", typ, id)
				})
			}
		}

		// The streams carry them as well: the access key's all of them, the
		// agent's at least the replies on the conversation it owns.
		last := func(ev streamEvent) bool {
			return ev.Type == convo.EventMessageUpdated && senderOf(ev.Data) == "accesskey "+keyID
		}
		for name, c := range map[string]struct {
			stream *streamClient
			want   []string
		}{"access key": {keyStream, slices.Collect(maps.Keys(want))}, "agent": {agentStream, replies}} {
			seen := map[string]bool{}
			for _, ev := range c.stream.until(t, last) {
				if !strings.HasPrefix(ev.Type, "conversation_message_") {
					continue
				}
				id := sget(ev.Data, "id")
				if got := senderOf(ev.Data); got != want[id] {
					t.Errorf("the %s's stream: %s of %q with sender %s, want %s", name, ev.Type, ev.Data["text"], got, want[id])
				}
				seen[id] = true
			}
			for _, id := range c.want {
				if !seen[id] {
					t.Errorf("the %s's stream carried no event of message %s (sender %s)", name, id, want[id])
				}
			}
		}
	})
}
