package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
)

func TestWebhookRetries(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withWebhooks())
		rcv := webhooktest.New(t)
		admin := ts.as(ts.AdminKey)
		setWebhook(admin, "POST", rcv.URL(), "retry-secret")
		acc := newSMSHookAccount(admin)

		t.Run("failures are retried with one webhook-id", func(t *testing.T) {
			peer := uniquePhone()
			rcv.SetAnswer(func(r webhooktest.Request, earlier int) (int, http.Header) {
				if r.Type == convo.EventConversationCreated && r.Peer() == peer && earlier < 3 {
					return webhooktest.AnswerWith(http.StatusInternalServerError)
				}
				return webhooktest.AnswerWith(http.StatusOK)
			})
			defer rcv.SetAnswer(nil)
			conv := admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": peer}})
			convID := sget(conv, "id")
			// Later events of the conversation are answered 200 at once.
			var updated []map[string]any
			for i := range 5 {
				updated = append(updated, webhookForm(admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"name": fmt.Sprintf("name %d", i)})))
			}
			updated = append(updated, webhookForm(admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"detail": "last"})))
			eventually(t, 10*time.Second, func() error {
				for _, r := range rcv.Find(convo.EventConversationUpdated, convID) {
					if r.Data["detail"] == "last" {
						return nil
					}
				}
				return fmt.Errorf("the last update has not arrived; got %s", rcv.Summary())
			})
			created := rcv.Find(convo.EventConversationCreated, convID)
			if len(created) != 4 {
				t.Fatalf("conversation_created arrived %d times, want 4 (3 failures, then success)", len(created))
			}
			for _, r := range created[1:] {
				if r.ID != created[0].ID || !bytes.Equal(r.Body, created[0].Body) {
					t.Errorf("a retry changed the webhook: id %s body %s, first id %s body %s", r.ID, r.Body, created[0].ID, created[0].Body)
				}
			}
			d := deliveryByID(admin, created[0].ID)
			var codes []int
			for _, a := range d.Attempts {
				codes = append(codes, a.HTTPStatus)
			}
			if d.Status != convo.DeliveryDelivered || d.AttemptCount != 4 || !slices.Equal(codes, []int{500, 500, 500, 200}) {
				t.Errorf("delivery after 3 failures: status %s, %d attempts %v, want delivered after 500,500,500,200", d.Status, d.AttemptCount, codes)
			}
			// A receiver answering 200 gets each event once: count over a
			// quiet period after the last expected event.
			time.Sleep(300 * time.Millisecond)
			updates := rcv.Find(convo.EventConversationUpdated, convID)
			if len(updates) != len(updated) {
				t.Fatalf("%d updates answered 200 arrived %d times", len(updated), len(updates))
			}
			for i, r := range updates {
				// In commit order, each after the created event succeeded.
				if !sameJSON(r.Data, updated[i]) {
					t.Errorf("update %d arrived as %v, want %v", i, r.Data, updated[i])
				}
				if !r.At.After(created[3].At) {
					t.Errorf("update %d arrived before its conversation_created succeeded", i)
				}
			}
			if got := len(rcv.Find(convo.EventConversationCreated, convID)); got != 4 {
				t.Errorf("conversation_created arrived %d times after success, want 4", got)
			}
			if got := len(rcv.Find(convo.EventAccountCreated, acc.ID)); got != 1 {
				t.Errorf("account_created answered 200 arrived %d times", got)
			}
		})

		t.Run("Retry-After is honoured", func(t *testing.T) {
			conv := admin.newConversation(acc.ID)
			convID := sget(conv, "id")
			rcv.SetAnswer(func(r webhooktest.Request, earlier int) (int, http.Header) {
				if r.Type == convo.EventConversationUpdated && r.Subject() == convID && earlier == 0 {
					return webhooktest.AnswerWith(http.StatusServiceUnavailable, "Retry-After", "1")
				}
				return webhooktest.AnswerWith(http.StatusOK)
			})
			defer rcv.SetAnswer(nil)
			admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"name": "busy receiver"})
			var got []webhooktest.Request
			eventually(t, 10*time.Second, func() error {
				if got = rcv.Find(convo.EventConversationUpdated, convID); len(got) < 2 {
					return fmt.Errorf("the update arrived %d times, want a retry", len(got))
				}
				return nil
			})
			if gap := got[1].At.Sub(got[0].At); gap < 900*time.Millisecond {
				t.Errorf("the retry came %v after a 503 with Retry-After: 1", gap)
			}
			var d hookDelivery
			eventually(t, 5*time.Second, func() error {
				if d = deliveryByID(admin, got[0].ID); d.Status != convo.DeliveryDelivered || len(d.Attempts) != 2 {
					return fmt.Errorf("delivery %s: status %s with %d attempts", d.ID, d.Status, len(d.Attempts))
				}
				return nil
			})
			first, err1 := convo.ParseTime(d.Attempts[0].TMAttempt)
			second, err2 := convo.ParseTime(d.Attempts[1].TMAttempt)
			if err1 != nil || err2 != nil {
				t.Fatalf("attempt times %q %q: %v %v", d.Attempts[0].TMAttempt, d.Attempts[1].TMAttempt, err1, err2)
			}
			if gap := second.Sub(first.Time); gap < time.Second {
				t.Errorf("attempts %s and %s are %v apart after Retry-After: 1", d.Attempts[0].TMAttempt, d.Attempts[1].TMAttempt, gap)
			}
			if d.Attempts[0].HTTPStatus != 503 || d.Attempts[1].HTTPStatus != 200 {
				t.Errorf("attempt statuses %d, %d, want 503, 200", d.Attempts[0].HTTPStatus, d.Attempts[1].HTTPStatus)
			}
		})

		t.Run("one conversation waits, others do not", func(t *testing.T) {
			// The receiver refuses everything about X until released.
			xPeer := uniquePhone()
			var blocked atomic.Bool
			blocked.Store(true)
			rcv.SetAnswer(func(r webhooktest.Request, _ int) (int, http.Header) {
				if blocked.Load() && r.Peer() == xPeer {
					return webhooktest.AnswerWith(http.StatusInternalServerError)
				}
				return webhooktest.AnswerWith(http.StatusOK)
			})
			defer rcv.SetAnswer(nil)
			x := admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": xPeer}})
			xID := sget(x, "id")
			admin.ok("PUT", "/v1.0/conversations/"+xID, map[string]any{"name": "x second"})
			admin.ok("PUT", "/v1.0/conversations/"+xID, map[string]any{"name": "x third"})
			y := admin.newConversation(acc.ID)
			yID := sget(y, "id")
			admin.ok("PUT", "/v1.0/conversations/"+yID, map[string]any{"name": "y second"})

			rcv.WaitFor(t, convo.EventConversationUpdated, yID)
			eventually(t, 10*time.Second, func() error {
				if n := len(rcv.Find(convo.EventConversationCreated, xID)); n < 2 {
					return fmt.Errorf("X's first event was tried %d times", n)
				}
				return nil
			})
			if got := rcv.Find(convo.EventConversationUpdated, xID); len(got) != 0 {
				t.Fatalf("X's later events were sent while its first event was failing: %v", got[0].Data)
			}
			xDeliveries := oldestFirst(listDeliveries(admin, url.Values{"conversation_id": {xID}}))
			if len(xDeliveries) != 3 || xDeliveries[0].Status != convo.DeliveryFailed || xDeliveries[1].Status != convo.DeliveryPending || xDeliveries[2].Status != convo.DeliveryPending {
				t.Errorf("X's deliveries while blocked: %+v", xDeliveries)
			}
			blocked.Store(false)
			eventually(t, 10*time.Second, func() error {
				got := rcv.Find(convo.EventConversationUpdated, xID)
				if len(got) != 2 {
					return fmt.Errorf("X's updates arrived %d times, want 2", len(got))
				}
				if got[0].Data["name"] != "x second" || got[1].Data["name"] != "x third" {
					return fmt.Errorf("X's updates arrived as %v then %v", got[0].Data["name"], got[1].Data["name"])
				}
				return nil
			})
			created := rcv.Find(convo.EventConversationCreated, xID)
			firstUpdate := rcv.Find(convo.EventConversationUpdated, xID)[0]
			if last := created[len(created)-1]; !firstUpdate.At.After(last.At) {
				t.Errorf("X's update arrived before its created event was delivered")
			}
		})
	})
}

func TestWebhookTargetsRefused(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		t.Run("private networks", func(t *testing.T) {
			ts := startServer(t, b, withFastEvents())
			rcv := webhooktest.New(t)
			admin := ts.as(ts.AdminKey)
			_, port, _ := strings.Cut(strings.TrimPrefix(rcv.URL(), "http://"), ":")
			for _, target := range []string{rcv.URL(), "http://localhost:" + port + "/hook"} {
				setWebhook(admin, "POST", target, "secret")
				acc := newSMSHookAccount(admin)
				var d hookDelivery
				eventually(t, 10*time.Second, func() error {
					list := listDeliveries(admin, url.Values{"type": {convo.EventAccountCreated}})
					for _, x := range list {
						if sget(x.data(t), "id") == acc.ID {
							d = x
						}
					}
					if len(d.Attempts) < 2 {
						return fmt.Errorf("the event to %s has %d attempts", target, len(d.Attempts))
					}
					return nil
				})
				if d.Status != convo.DeliveryFailed {
					t.Errorf("event to %s: status %s, want failed", target, d.Status)
				}
				for _, a := range d.Attempts {
					msg := strings.ToLower(a.Error)
					if a.HTTPStatus != 0 || !(strings.Contains(msg, "private") || strings.Contains(msg, "loopback")) {
						t.Errorf("attempt to %s: status %d error %q, want a refusal naming private/loopback networks", target, a.HTTPStatus, a.Error)
					}
				}
				if n := len(rcv.Requests()); n != 0 {
					t.Errorf("the private receiver at %s was called %d times", target, n)
				}
			}
		})

		t.Run("redirects are not followed", func(t *testing.T) {
			ts := startServer(t, freshBackend(t, b), withWebhooks())
			other := webhooktest.New(t)
			rcv := webhooktest.New(t)
			rcv.SetAnswer(func(webhooktest.Request, int) (int, http.Header) {
				return webhooktest.AnswerWith(http.StatusFound, "Location", other.URL()+"/elsewhere")
			})
			admin := ts.as(ts.AdminKey)
			setWebhook(admin, "POST", rcv.URL(), "secret")
			acc := newSMSHookAccount(admin)
			var d hookDelivery
			eventually(t, 10*time.Second, func() error {
				if reqs := rcv.Find(convo.EventAccountCreated, acc.ID); len(reqs) < 2 {
					return fmt.Errorf("the redirecting receiver got %d requests", len(reqs))
				}
				d = deliveryByID(admin, rcv.Find(convo.EventAccountCreated, acc.ID)[0].ID)
				if len(d.Attempts) < 2 {
					return fmt.Errorf("%d attempts recorded", len(d.Attempts))
				}
				return nil
			})
			if d.Status != convo.DeliveryFailed {
				t.Errorf("a 302 answer left the event %s, want failed", d.Status)
			}
			for _, a := range d.Attempts {
				if a.HTTPStatus != http.StatusFound {
					t.Errorf("attempt recorded with status %d, want 302", a.HTTPStatus)
				}
			}
			if n := len(other.Requests()); n != 0 {
				t.Errorf("the redirect target was called %d times", n)
			}
		})
	})
}
