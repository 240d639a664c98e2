package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
)

func TestWebhookDeliveries(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		clock := &offsetClock{}
		ts := startServer(t, b, withWebhooks(), withClock(clock))
		rcv := webhooktest.New(t)
		admin := ts.as(ts.AdminKey)
		setWebhook(admin, "POST", rcv.URL(), "deliveries")

		// Everything about a conversation with the refused peer fails with
		// a long Retry-After.
		var refused atomic.Value
		refused.Store("")
		rcv.SetAnswer(func(r webhooktest.Request, _ int) (int, http.Header) {
			if p := refused.Load().(string); p != "" && r.Peer() == p {
				return webhooktest.AnswerWith(http.StatusServiceUnavailable, "Retry-After", "3600")
			}
			return webhooktest.AnswerWith(http.StatusOK)
		})
		acc := newSMSHookAccount(admin)
		conv1 := sget(admin.newConversation(acc.ID), "id")
		admin.ok("PUT", "/v1.0/conversations/"+conv1, map[string]any{"name": "one"})
		peer2 := uniquePhone()
		refused.Store(peer2)
		conv2 := sget(admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": peer2}}), "id")
		admin.ok("PUT", "/v1.0/conversations/"+conv2, map[string]any{"name": "two"})

		var failedEvent hookDelivery
		eventually(t, 10*time.Second, func() error {
			for _, d := range listDeliveries(admin, url.Values{"conversation_id": {conv1}}) {
				if d.Status != convo.DeliveryDelivered {
					return fmt.Errorf("conv1's %s is %s", d.Type, d.Status)
				}
			}
			// The account's event travels on a stream of its own.
			for _, d := range listDeliveries(admin, url.Values{"type": {convo.EventAccountCreated}}) {
				if d.Status != convo.DeliveryDelivered {
					return fmt.Errorf("the account's %s is %s", d.Type, d.Status)
				}
			}
			conv2Events := oldestFirst(listDeliveries(admin, url.Values{"conversation_id": {conv2}}))
			if len(conv2Events) != 2 || conv2Events[0].Status != convo.DeliveryFailed {
				return fmt.Errorf("conv2's events: %+v", conv2Events)
			}
			if conv2Events[1].Status != convo.DeliveryPending {
				t.Errorf("conv2's update is %s while its first event is failing, want pending", conv2Events[1].Status)
			}
			failedEvent = conv2Events[0]
			return nil
		})

		t.Run("admin only", func(t *testing.T) {
			_, agentToken := admin.newAgent(convo.PermissionCustomerAgent)
			ts.as(agentToken).fails("GET", "/v1.0/webhook_deliveries", nil, http.StatusForbidden, "")
			ts.as(agentToken).fails("POST", "/v1.0/webhook_deliveries/"+failedEvent.ID+"/retry", nil, http.StatusForbidden, "")
			ts.as("").fails("GET", "/v1.0/webhook_deliveries", nil, http.StatusUnauthorized, "")
		})

		t.Run("filters", func(t *testing.T) {
			all := listDeliveries(admin, nil)
			if len(all) != 5 {
				t.Fatalf("%d events, want 5 (an account and two conversations, each created and updated)", len(all))
			}
			check := func(query url.Values, keep func(hookDelivery) bool) {
				t.Helper()
				var want []string
				for _, d := range all {
					if keep(d) {
						want = append(want, d.ID)
					}
				}
				var got []string
				for _, d := range listDeliveries(admin, query) {
					got = append(got, d.ID)
				}
				if len(want) == 0 || !slices.Equal(got, want) {
					t.Errorf("filter %v: got %v, want %v (non-empty)", query, got, want)
				}
			}
			check(url.Values{"status": {"failed"}}, func(d hookDelivery) bool { return d.ID == failedEvent.ID })
			check(url.Values{"status": {"pending"}}, func(d hookDelivery) bool {
				return d.ConversationID == conv2 && d.Type == convo.EventConversationUpdated
			})
			check(url.Values{"status": {"delivered"}}, func(d hookDelivery) bool { return d.Status == convo.DeliveryDelivered })
			check(url.Values{"type": {convo.EventConversationUpdated}}, func(d hookDelivery) bool { return d.Type == convo.EventConversationUpdated })
			check(url.Values{"conversation_id": {conv1}}, func(d hookDelivery) bool { return d.ConversationID == conv1 })
			check(url.Values{"conversation_id": {conv1}, "type": {convo.EventConversationCreated}}, func(d hookDelivery) bool {
				return d.ConversationID == conv1 && d.Type == convo.EventConversationCreated
			})
			check(url.Values{"type": {convo.EventAccountCreated}, "status": {"delivered"}}, func(d hookDelivery) bool { return d.Type == convo.EventAccountCreated })
			admin.fails("GET", "/v1.0/webhook_deliveries?status=bogus", nil, http.StatusBadRequest, "")
			admin.fails("GET", "/v1.0/webhook_deliveries?conversation_id=not-a-uuid", nil, http.StatusBadRequest, "")
			if got := listDeliveries(admin, url.Values{"page_size": {"2"}}); len(got) != len(all) {
				t.Errorf("paging by 2 lists %d events, want %d", len(got), len(all))
			}
		})

		t.Run("attempts", func(t *testing.T) {
			d := deliveryByID(admin, failedEvent.ID)
			if d.AttemptCount < 1 || len(d.Attempts) != d.AttemptCount || d.LastError == "" {
				t.Fatalf("failed delivery: %+v", d)
			}
			for _, a := range d.Attempts {
				if _, err := convo.ParseTime(a.TMAttempt); err != nil || a.TMAttempt == "9999-01-01 00:00:00.000000" {
					t.Errorf("tm_attempt %q: %v", a.TMAttempt, err)
				}
				if a.HTTPStatus != http.StatusServiceUnavailable || a.Error == "" || a.LatencyMS == nil || *a.LatencyMS < 0 {
					t.Errorf("attempt %+v, want http_status 503, an error and latency_ms", a)
				}
			}
			ok := deliveryByID(admin, rcv.Find(convo.EventConversationUpdated, conv1)[0].ID)
			if ok.Status != convo.DeliveryDelivered || len(ok.Attempts) != 1 || ok.Attempts[0].HTTPStatus != 200 || ok.Attempts[0].Error != "" || ok.Attempts[0].LatencyMS == nil {
				t.Errorf("delivered event: %+v", ok)
			}
		})

		t.Run("tenancy", func(t *testing.T) {
			super := loginAdmin(t, ts)
			_, otherKey := super.newCustomer()
			other := ts.as(otherKey)
			otherAcc := newSMSHookAccount(other)
			theirs := listDeliveries(other, nil)
			if len(theirs) != 1 || theirs[0].Type != convo.EventAccountCreated || sget(theirs[0].data(t), "id") != otherAcc.ID {
				t.Errorf("the other customer lists %+v, want only its own account_created", theirs)
			}
			if got := listDeliveries(other, url.Values{"conversation_id": {conv1}}); len(got) != 0 {
				t.Errorf("the other customer sees %d events of our conversation", len(got))
			}
			other.fails("POST", "/v1.0/webhook_deliveries/"+failedEvent.ID+"/retry", nil, http.StatusNotFound, "")
			for _, d := range listDeliveries(admin, nil) {
				if d.ID == theirs[0].ID {
					t.Error("our list shows the other customer's event")
				}
			}
		})

		t.Run("retry", func(t *testing.T) {
			admin.fails("POST", "/v1.0/webhook_deliveries/"+convo.NewID()+"/retry", nil, http.StatusNotFound, "")
			delivered := rcv.Find(convo.EventConversationUpdated, conv1)[0].ID
			admin.fails("POST", "/v1.0/webhook_deliveries/"+delivered+"/retry", nil, http.StatusConflict, "")

			before := len(rcv.ByID(failedEvent.ID))
			firstID := rcv.ByID(failedEvent.ID)[0].ID
			refused.Store("")
			// Without the retry the next attempt is an hour away.
			admin.ok("POST", "/v1.0/webhook_deliveries/"+failedEvent.ID+"/retry", nil)
			eventually(t, 10*time.Second, func() error {
				if d := deliveryByID(admin, failedEvent.ID); d.Status != convo.DeliveryDelivered {
					return fmt.Errorf("retried event is %s", d.Status)
				}
				return nil
			})
			got := rcv.ByID(failedEvent.ID)
			if len(got) != before+1 || got[len(got)-1].ID != firstID {
				t.Errorf("after retry the event arrived %d times (before %d)", len(got), before)
			}
			// conv2's later event was waiting behind it and follows.
			eventually(t, 10*time.Second, func() error {
				for _, d := range listDeliveries(admin, url.Values{"conversation_id": {conv2}}) {
					if d.Status != convo.DeliveryDelivered {
						return fmt.Errorf("conv2 event %s is %s", d.Type, d.Status)
					}
				}
				return nil
			})
		})

		t.Run("retry a dead event", func(t *testing.T) {
			peer3 := uniquePhone()
			refused.Store(peer3)
			rcv.SetAnswer(func(r webhooktest.Request, _ int) (int, http.Header) {
				if p := refused.Load().(string); p != "" && r.Peer() == p {
					return webhooktest.AnswerWith(http.StatusInternalServerError)
				}
				return webhooktest.AnswerWith(http.StatusOK)
			})
			conv3 := sget(admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": peer3}}), "id")
			var id string
			eventually(t, 10*time.Second, func() error {
				got := rcv.Find(convo.EventConversationCreated, conv3)
				if len(got) < 2 {
					return fmt.Errorf("conv3 tried %d times", len(got))
				}
				id = got[0].ID
				return nil
			})
			// A day later than its creation, the next failure gives up.
			clock.advance(26 * time.Hour)
			eventually(t, 10*time.Second, func() error {
				if d := deliveryByID(admin, id); d.Status != convo.DeliveryDead {
					return fmt.Errorf("event %s after 26 h of failures is %s", id, d.Status)
				}
				return nil
			})
			listedDead := func() bool {
				return slices.ContainsFunc(listDeliveries(admin, url.Values{"status": {convo.DeliveryDead}}), func(d hookDelivery) bool { return d.ID == id })
			}
			if !listedDead() {
				t.Errorf("the dead event %s is not listed by status=dead", id)
			}
			before := len(rcv.ByID(id))
			refused.Store("")
			retried := admin.ok("POST", "/v1.0/webhook_deliveries/"+id+"/retry", nil)
			if retried["id"] != id || (retried["status"] != convo.DeliveryFailed && retried["status"] != convo.DeliveryPending) {
				t.Errorf("retry answered %v", retried)
			}
			eventually(t, 10*time.Second, func() error {
				if d := deliveryByID(admin, id); d.Status != convo.DeliveryDelivered {
					return fmt.Errorf("retried dead event is %s", d.Status)
				}
				return nil
			})
			if got := rcv.ByID(id); len(got) != before+1 || got[len(got)-1].Type != convo.EventConversationCreated {
				t.Errorf("the retried dead event arrived %d times (before %d)", len(got), before)
			}
			if listedDead() {
				t.Errorf("the retried and delivered event %s is still listed by status=dead", id)
			}
			admin.fails("POST", "/v1.0/webhook_deliveries/"+id+"/retry", nil, http.StatusConflict, "")
		})
	})
}
