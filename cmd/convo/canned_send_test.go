package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// This file tests sending a canned response: POST .../messages
// {"canned_response_id"}, its text sent with its variables replaced.

func TestCannedResponseSend(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		admin := e.admin(t)
		admin.ok("PUT", "/v1.0/customer", map[string]any{"name": "Acme Travel"})
		keyID := sget(admin.ok("GET", "/v1.0/me", nil), "accesskey_id")
		_, foreignKey := e.ts.superAdmin(t).newCustomer()
		foreign := e.as(t, foreignKey)
		acc := e.newAccount(admin, convo.AccountLine)
		ownerID, ownerToken := admin.newAgent(convo.PermissionCustomerAgent)
		ownerName := sget(admin.ok("GET", "/v1.0/agents/"+ownerID, nil), "name")
		_, strangerToken := admin.newAgent(convo.PermissionCustomerAgent)

		// The peer's display name comes from its LINE profile.
		user := lineID('U')
		e.line.AddProfile(user, "Ann")
		conv := str(t, admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "line", "target": user}}), "id")
		eventually(t, 10*time.Second, func() error {
			if got := obj(t, admin.ok("GET", "/v1.0/conversations/"+conv, nil), "peer")["target_name"]; got != "Ann" {
				return fmt.Errorf("the peer's target_name is %v, want Ann", got)
			}
			return nil
		})
		admin.ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"owner_id": ownerID})
		canned := func(a *api, text string) string {
			a.t.Helper()
			return str(a.t, a.ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": unique("c"), "text": text}), "id")
		}
		greeting := canned(admin, "Hi ${voipbin.conversation.peer.target_name}, this is ${voipbin.agent.name} of ${voipbin.customer.name}."+
			"${voipbin.no_such_variable} Ref ${ voipbin.conversation.id }")
		pushed := func() []string {
			var texts []string
			for _, p := range e.line.Sent() {
				for _, m := range p.Messages {
					if p.To == user && m.Type == "text" {
						texts = append(texts, m.Text)
					}
				}
			}
			return texts
		}

		t.Run("sends the text with its variables replaced", func(t *testing.T) {
			owner, admin := e.as(t, ownerToken), admin.in(t)
			want := "Hi Ann, this is " + ownerName + " of Acme Travel. Ref " + conv
			m := owner.ok("POST", "/v1.0/conversations/"+conv+"/messages", map[string]any{"canned_response_id": greeting})
			if m["text"] != want || senderOf(m) != "agent "+ownerID || m["direction"] != convo.DirectionOutgoing {
				t.Errorf("sent %q by %s, want %q by the agent", m["text"], senderOf(m), want)
			}
			waitStatus(admin, conv, sget(m, "id"), convo.MessageDone)
			if got := msgOf(admin, conv, sget(m, "id"))["text"]; got != want {
				t.Errorf("the list shows %q, want %q", got, want)
			}
			if got := pushed(); len(got) == 0 || got[len(got)-1] != want {
				t.Errorf("LINE received %q, want %q last", got, want)
			}

			// On the service agents' surface, with medias; by an access key,
			// which is no agent: its variables are empty.
			withImage := owner.ok("POST", "/v1.0/service_agents/conversations/"+conv+"/messages", map[string]any{"canned_response_id": greeting,
				"medias": []any{map[string]any{"type": "image", "filename": "https://example.com/map.png"}}})
			checkMessage(t, withImage, admin.ok("GET", "/v1.0/conversations/"+conv, nil), convo.DirectionOutgoing, sget(withImage, "status"), want,
				wantMedia{"image", "https://example.com/map.png"})
			byKey := admin.ok("POST", "/v1.0/conversations/"+conv+"/messages", map[string]any{"canned_response_id": greeting})
			if want := "Hi Ann, this is  of Acme Travel. Ref " + conv; byKey["text"] != want || senderOf(byKey) != "accesskey "+keyID {
				t.Errorf("the access key sent %q by %s, want %q by itself", byKey["text"], senderOf(byKey), want)
			}

			// A text without variables is sent as it is; the nil UUID names no canned response.
			plain := "50% off {today}, $5 ${ unclosed"
			if got := owner.ok("POST", "/v1.0/conversations/"+conv+"/messages", map[string]any{"canned_response_id": canned(admin, plain)}); got["text"] != plain {
				t.Errorf("sent %q, want %q unchanged", got["text"], plain)
			}
			if got := owner.ok("POST", "/v1.0/conversations/"+conv+"/messages", map[string]any{"text": "typed", "canned_response_id": convo.NilID}); got["text"] != "typed" {
				t.Errorf("with the nil UUID as canned_response_id sent %q, want the text", got["text"])
			}
		})

		t.Run("refused sends are 4xx and send nothing", func(t *testing.T) {
			owner, admin := e.as(t, ownerToken), admin.in(t)
			deleted := canned(admin, "gone")
			admin.ok("DELETE", "/v1.0/canned_responses/"+deleted, nil)
			foreignCanned := canned(foreign.in(t), "theirs")
			blank := canned(admin, "${voipbin.no_such_variable}  ${voipbin.agent.name}")
			long := canned(admin, strings.Repeat("x", convo.MaxText-len("${voipbin.conversation.id}"))+"${voipbin.conversation.id}")
			path := "/v1.0/conversations/" + conv + "/messages"
			before, sent := string(admin.do("GET", path, nil).Body), len(pushed())
			for _, c := range []struct {
				who    *api
				path   string
				body   any
				code   int
				reason string
			}{
				{owner, path, map[string]any{"text": "hi", "canned_response_id": greeting}, http.StatusBadRequest, convo.ReasonTextAndCannedResponse},
				{owner, "/v1.0/service_agents" + path[5:], map[string]any{"text": "hi", "canned_response_id": greeting}, http.StatusBadRequest, convo.ReasonTextAndCannedResponse},
				{owner, path, map[string]any{"canned_response_id": "not-an-id"}, http.StatusBadRequest, convo.ReasonInvalidID},
				{owner, path, map[string]any{"canned_response_id": 7}, http.StatusBadRequest, convo.ReasonInvalidJSON},
				{owner, path, map[string]any{"canned_response_id": convo.NewID()}, http.StatusBadRequest, convo.ReasonCannedResponseNotFound},
				{owner, path, map[string]any{"canned_response_id": deleted}, http.StatusBadRequest, convo.ReasonCannedResponseNotFound},
				{admin, path, map[string]any{"canned_response_id": foreignCanned}, http.StatusBadRequest, convo.ReasonCannedResponseNotFound},
				// Variables that stand for nothing (the key is no agent) leave only blanks to send.
				{admin, path, map[string]any{"canned_response_id": blank}, http.StatusBadRequest, convo.ReasonEmptyMessage},
				{owner, path, map[string]any{"canned_response_id": long}, http.StatusBadRequest, convo.ReasonTooLong},
				// Who may not send on the conversation may not send a canned response on it either.
				{e.as(t, strangerToken), path, map[string]any{"canned_response_id": greeting}, http.StatusForbidden, convo.ReasonPermission},
				{foreign.in(t), path, map[string]any{"canned_response_id": greeting}, http.StatusNotFound, convo.ReasonConversationNotFound},
			} {
				c.who.fails("POST", c.path, c.body, c.code, c.reason)
			}
			if after := string(admin.do("GET", path, nil).Body); after != before {
				t.Errorf("refused sends changed the messages:\n%s\n%s", before, after)
			}
			if got := pushed(); len(got) != sent {
				t.Errorf("refused sends reached LINE: %q", got[sent:])
			}
		})

		t.Run("another customer's canned response is unknown on its own conversation too", func(t *testing.T) {
			foreign := foreign.in(t)
			theirConv := startThread(foreign, e.newAccount(foreign, convo.AccountLine))
			foreign.fails("POST", "/v1.0/conversations/"+theirConv+"/messages", map[string]any{"canned_response_id": greeting}, http.StatusBadRequest, convo.ReasonCannedResponseNotFound)
			want := sget(foreign.ok("GET", "/v1.0/customer", nil), "name") + "!"
			if got := foreign.ok("POST", "/v1.0/conversations/"+theirConv+"/messages", map[string]any{"canned_response_id": canned(foreign, "${voipbin.customer.name}!")}); got["text"] != want {
				t.Errorf("the other customer's canned response rendered %q, want %q, its own customer's name", got["text"], want)
			}
		})
	})
}
