package main

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// This file tests a message's delivery state as providers report it:
// provider_status, tm_delivered, tm_read and error, and the events of
// each change.

// wantError checks a failed message's error: its code, and a message
// that holds want[1].
func wantError(t testing.TB, msg map[string]any, want [2]string) {
	t.Helper()
	e, _ := msg["error"].(map[string]any)
	if msg["status"] != convo.MessageFailed || msg["provider_status"] != convo.ProviderFailed || e == nil ||
		e["code"] != want[0] || !strings.Contains(e["message"].(string), want[1]) {
		t.Errorf("message %v: status %v, provider_status %v, error %v; want failed with code %s and %q",
			msg["text"], msg["status"], msg["provider_status"], msg["error"], want[0], want[1])
	}
}

// waReport is Meta's status notification value for one message part, at a
// moment of Meta's (whole seconds), carrying the callback data the send set.
func waReport(wamid, status, recipient, callback string, at time.Time, errs ...map[string]any) map[string]any {
	s := map[string]any{"id": wamid, "status": status, "timestamp": strconv.FormatInt(at.Unix(), 10), "recipient_id": recipient}
	if callback != "" {
		s["biz_opaque_callback_data"] = callback
	}
	if len(errs) > 0 {
		s["errors"] = errs
	}
	return map[string]any{"statuses": []any{s}}
}

// messageUpdates returns the provider statuses that the
// conversation_message_updated events of a message carried, oldest first.
func messageUpdates(a *api, conv, msg string) []map[string]any {
	a.t.Helper()
	var out []map[string]any
	for _, d := range listDeliveries(a, url.Values{"conversation_id": {conv}, "type": {convo.EventMessageUpdated}}) {
		if m := d.data(a.t); m["id"] == msg {
			out = append([]map[string]any{m}, out...)
		}
	}
	return out
}

func TestDeliveryReceipts(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b, withSending(300*time.Millisecond))

		t.Run("WhatsApp", func(t *testing.T) {
			a := e.admin(t)
			acc := e.newAccount(a, convo.AccountWhatsApp)
			user := waID()
			wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Fay", waText("hi")))), http.StatusOK)
			conv := str(t, convWith(a, acc.ID, user), "id")
			msg := str(t, send(a, conv, map[string]any{"text": "your table is booked"}), "id")
			waitStatus(a, conv, msg, "done")
			m := msgOf(a, conv, msg)
			if m["provider_status"] != convo.ProviderAccepted || m["error"] != nil || m["tm_delivered"] != convo.Never.String() || m["tm_read"] != convo.Never.String() {
				t.Fatalf("an accepted message: %v", m)
			}
			sent := e.wa.Sent()[len(e.wa.Sent())-1]
			if sent.Callback != msg {
				t.Fatalf("the send's biz_opaque_callback_data is %q, want the message id %s", sent.Callback, msg)
			}
			// Meta reports read before delivered: the message ends read,
			// delivered at Meta's earlier moment, each change an event.
			base := time.Now().Add(-time.Minute).Truncate(time.Second).UTC()
			for _, r := range []struct {
				status string
				at     time.Time
				want   string
			}{
				{"sent", base, convo.ProviderSent},
				{"read", base.Add(20 * time.Second), convo.ProviderRead},
				{"delivered", base.Add(10 * time.Second), convo.ProviderRead},
				{"sent", base.Add(30 * time.Second), convo.ProviderRead},
			} {
				wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waReport(sent.WAMID, r.status, user, msg, r.at))), http.StatusOK)
				if got := msgOf(a, conv, msg); got["provider_status"] != r.want || got["status"] != convo.MessageDone {
					t.Fatalf("after %s the message is %v / %v, want done / %s", r.status, got["status"], got["provider_status"], r.want)
				}
			}
			m = msgOf(a, conv, msg)
			if m["tm_read"] != convo.NewTime(base.Add(20*time.Second)).String() || m["tm_delivered"] != convo.NewTime(base.Add(10*time.Second)).String() {
				t.Errorf("tm_delivered %v, tm_read %v; want Meta's moments %v and %v", m["tm_delivered"], m["tm_read"], base.Add(10*time.Second), base.Add(20*time.Second))
			}
			var seen []string
			for _, u := range messageUpdates(a, conv, msg) {
				seen = append(seen, u["provider_status"].(string))
			}
			if strings.Join(seen, ",") != "accepted,sent,read,read" {
				t.Errorf("message_updated events carried %v, want accepted,sent,read,read (the late delivered moves tm_delivered; the late sent changes nothing)", seen)
			}

			// Outside the customer service window Meta accepts, then fails with 131047.
			late := str(t, send(a, conv, map[string]any{"text": "are you still there?"}), "id")
			waitStatus(a, conv, late, "done")
			wamid := e.wa.Sent()[len(e.wa.Sent())-1].WAMID
			wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waReport(wamid, "failed", user, late, time.Now(), map[string]any{
				"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
				"error_data": map[string]any{"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
			}))), http.StatusOK)
			wantError(t, msgOf(a, conv, late), [2]string{"131047", "more than 24 hours have passed"})
		})

		t.Run("a WhatsApp failure that overtakes the send's answer is kept", func(t *testing.T) {
			a := e.admin(t)
			acc := e.newAccount(a, convo.AccountWhatsApp)
			user := waID()
			wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Gil", waText("hi")))), http.StatusOK)
			conv := str(t, convWith(a, acc.ID, user), "id")
			e.wa.SetDelay(2 * time.Second)
			defer e.wa.SetDelay(0)
			r := send(a, conv, map[string]any{"text": "slow answer"})
			msg := str(t, r, "id")
			if r["status"] != convo.MessageProgressing || r["provider_status"] != "" {
				t.Fatalf("a send still waiting for Meta answered %v / %v", r["status"], r["provider_status"])
			}
			eventually(t, 5*time.Second, func() error {
				if e.wa.Calls(acc.fakeKey()) == 0 {
					return errors.New("Meta has not been asked yet")
				}
				return nil
			})
			wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waReport(waMessageID(), "failed", user, msg, time.Now(), map[string]any{
				"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable", "error_data": map[string]any{"details": "Message Undeliverable."},
			}))), http.StatusOK)
			wantError(t, msgOf(a, conv, msg), [2]string{"131026", "Message Undeliverable."})
			// Meta's answer, recorded after, leaves the failure as it is.
			eventually(t, 10*time.Second, func() error {
				if len(e.wa.Sent()) == 0 || e.wa.Sent()[len(e.wa.Sent())-1].Callback != msg {
					return errors.New("Meta has not answered yet")
				}
				return nil
			})
			time.Sleep(300 * time.Millisecond)
			wantError(t, msgOf(a, conv, msg), [2]string{"131026", "Message Undeliverable."})
			if n := e.wa.Calls(acc.fakeKey()); n != 1 {
				t.Errorf("Meta was asked %d times, want once", n)
			}
		})

		t.Run("SMS", func(t *testing.T) {
			a := e.admin(t)
			acc := e.newAccount(a, convo.AccountSMS)
			conv := startThread(a, acc)
			peer := str(t, obj(t, a.ok("GET", "/v1.0/conversations/"+conv, nil), "peer"), "target")
			msg := str(t, send(a, conv, map[string]any{"text": "receipts please"}), "id")
			if got := msgOf(a, conv, msg); got["status"] != convo.MessageProgressing || got["provider_status"] != convo.ProviderAccepted {
				t.Fatalf("Twilio queued the message: %v / %v, want progressing / accepted", got["status"], got["provider_status"])
			}
			s := e.tw.Sent()[len(e.tw.Sent())-1]
			for _, r := range []struct{ report, status, provider string }{
				{"sent", "done", convo.ProviderSent}, {"queued", "done", convo.ProviderSent},
				{"delivered", "done", convo.ProviderDelivered}, {"read", "done", convo.ProviderRead},
			} {
				wantStatus(t, e.postTwilio(t, acc, s.StatusCallback, smsStatusForm(acc, s.SID, peer, r.report)), http.StatusOK)
				if got := msgOf(a, conv, msg); got["status"] != r.status || got["provider_status"] != r.provider {
					t.Fatalf("after Twilio's %q the message is %v / %v, want %s / %s", r.report, got["status"], got["provider_status"], r.status, r.provider)
				}
			}
			if m := msgOf(a, conv, msg); m["tm_delivered"] == convo.Never.String() || m["tm_read"] == convo.Never.String() || m["error"] != nil {
				t.Errorf("a delivered and read SMS: %v", m)
			}

			undelivered := str(t, send(a, conv, map[string]any{"text": "to a phone that is off"}), "id")
			s = e.tw.Sent()[len(e.tw.Sent())-1]
			wantStatus(t, e.postTwilio(t, acc, s.StatusCallback, smsStatusForm(acc, s.SID, peer, "undelivered")), http.StatusOK)
			m := msgOf(a, conv, undelivered)
			wantError(t, m, [2]string{"30003", "undelivered: unreachable destination handset"})
			if m["tm_delivered"] != convo.Never.String() {
				t.Errorf("an undelivered SMS has tm_delivered %v", m["tm_delivered"])
			}
		})
	})
}
