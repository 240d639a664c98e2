package main

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
)

// lineInbound posts a text from user to a LINE account with a reply token
// the fake LINE issued, and returns the conversation and the token.
func (e *channelEnv) lineInbound(t *testing.T, acc *testAccount, user, text string) (string, string) {
	t.Helper()
	token := e.line.ReplyToken(user)
	ev := lineMessage(lineUser(user), lineText(text))
	ev["replyToken"] = token
	wantStatus(t, e.postLine(t, acc, lineWebhook(ev)), http.StatusOK)
	return str(t, convWith(e.admin(t), acc.ID, user), "id"), token
}

// lineSent waits for a message to be done and returns it.
func lineSent(a *api, convID string, m map[string]any) map[string]any {
	a.t.Helper()
	waitStatus(a, convID, str(a.t, m, "id"), convo.MessageDone)
	return msgOf(a, convID, str(a.t, m, "id"))
}

func wantMethod(t testing.TB, m map[string]any, want string) {
	t.Helper()
	if m["line_send_method"] != want {
		t.Errorf("message %q went by %q, want %q", m["text"], m["line_send_method"], want)
	}
}

// A LINE event's reply token answers it once, for free: the first send
// within its validity replies, every other pushes.
func TestLineReplyTokens(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		clock := &offsetClock{}
		e := newChannelEnv(t, b, withClock(clock))
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountLine)
		replies := func(to string) []fakeprovider.LineReply {
			var out []fakeprovider.LineReply
			for _, r := range e.line.Replies() {
				if r.To == to {
					out = append(out, r)
				}
			}
			return out
		}
		pushes := func(to string) int {
			n := 0
			for _, p := range e.line.Sent() {
				if p.To == to {
					n++
				}
			}
			return n
		}

		t.Run("the first answer replies, the next pushes", func(t *testing.T) {
			user := lineID('U')
			conv, token := e.lineInbound(t, acc, user, "hello")
			first := lineSent(a, conv, send(a, conv, map[string]any{"text": "hi, how can I help?"}))
			wantMethod(t, first, convo.LineReply)
			if r := replies(user); len(r) != 1 || r[0].ReplyToken != token || r[0].Token != acc.Token || r[0].Messages[0].Text != "hi, how can I help?" {
				t.Errorf("LINE got replies %+v, want one with the event's token", r)
			}
			second := lineSent(a, conv, send(a, conv, map[string]any{"text": "anything else?"}))
			wantMethod(t, second, convo.LinePush)
			if pushes(user) != 1 || len(replies(user)) != 1 {
				t.Errorf("LINE got %d pushes and %d replies, want 1 each", pushes(user), len(replies(user)))
			}
			// convo knows the token is spent: it does not try it again.
			if n := e.line.ReplyAttempts(user); n != 1 {
				t.Errorf("convo tried %d replies, want 1", n)
			}
			// A new event brings a new token.
			e.lineInbound(t, acc, user, "one more question")
			wantMethod(t, lineSent(a, conv, send(a, conv, map[string]any{"text": "sure"})), convo.LineReply)
		})

		t.Run("a follow's token answers too", func(t *testing.T) {
			user := lineID('U')
			token := e.line.ReplyToken(user)
			ev := lineEvent("follow", lineUser(user))
			ev["replyToken"] = token
			wantStatus(t, e.postLine(t, acc, lineWebhook(ev)), http.StatusOK)
			conv := str(t, convWith(a, acc.ID, user), "id")
			wantMethod(t, lineSent(a, conv, send(a, conv, map[string]any{"text": "welcome"})), convo.LineReply)
		})

		t.Run("an expired token is not tried", func(t *testing.T) {
			user := lineID('U')
			conv, _ := e.lineInbound(t, acc, user, "hello?")
			clock.advance(time.Minute)
			defer clock.advance(-time.Minute)
			// LINE would still take it: only convo's clock says it is too old.
			wantMethod(t, lineSent(a, conv, send(a, conv, map[string]any{"text": "sorry for the wait"})), convo.LinePush)
			if len(replies(user)) != 0 {
				t.Errorf("an expired token was used: %+v", replies(user))
			}
		})

		t.Run("a token LINE refuses falls back to push", func(t *testing.T) {
			user := lineID('U')
			conv, token := e.lineInbound(t, acc, user, "hello?")
			e.line.AgeReplyToken(token, 2*time.Minute)
			m := lineSent(a, conv, send(a, conv, map[string]any{"text": "here I am"}))
			wantMethod(t, m, convo.LinePush)
			if pushes(user) != 1 || len(replies(user)) != 0 {
				t.Errorf("LINE got %d pushes and %d replies, want the push only", pushes(user), len(replies(user)))
			}
		})

		t.Run("concurrent sends use the token once", func(t *testing.T) {
			user := lineID('U')
			conv, _ := e.lineInbound(t, acc, user, "hello")
			const n = 6
			var wg sync.WaitGroup
			sent := make([]map[string]any, n)
			for i := range n {
				wg.Go(func() { sent[i] = send(a, conv, map[string]any{"text": fmt.Sprint("answer ", i)}) })
			}
			wg.Wait()
			methods := map[any]int{}
			for _, m := range sent {
				methods[lineSent(a, conv, m)["line_send_method"]]++
			}
			if methods[convo.LineReply] != 1 || methods[convo.LinePush] != n-1 || len(replies(user)) != 1 || pushes(user) != n-1 {
				t.Errorf("methods %v, LINE got %d replies and %d pushes; want 1 reply and %d pushes", methods, len(replies(user)), pushes(user), n-1)
			}
			if tried := e.line.ReplyAttempts(user); tried != 1 {
				t.Errorf("concurrent sends tried the token %d times, want once", tried)
			}
		})

		t.Run("a flow's answer replies", func(t *testing.T) {
			flowAcc := e.newAccount(a, convo.AccountLine)
			flowID := flowCreate(a, flowSendAction("", "You said: ${voipbin.conversation_message.text}"))
			a.ok("PUT", "/v1.0/conversation_accounts/"+flowAcc.ID, map[string]any{"message_flow_id": flowID})
			user := lineID('U')
			conv, token := e.lineInbound(t, flowAcc, user, "ping")
			eventually(t, 10*time.Second, func() error {
				if r := replies(user); len(r) != 1 || r[0].ReplyToken != token || r[0].Messages[0].Text != "You said: ping" {
					return fmt.Errorf("LINE got replies %+v, want the flow's answer with the token", r)
				}
				return nil
			})
			for _, m := range msgsOf(a, conv) {
				if m["direction"] == convo.DirectionOutgoing {
					wantMethod(t, lineSent(a, conv, m), convo.LineReply)
				} else if m["line_send_method"] != "" {
					t.Errorf("incoming message has line_send_method %q", m["line_send_method"])
				}
			}
		})
	})
}
