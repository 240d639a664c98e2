package main

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/convohq/convo"
)

// An agent sees, live in the open thread, what the provider says of each
// reply: accepted, delivered, read, and a failure with the provider's reason.
func TestInboxDeliveryState(t *testing.T) {
	w := newInboxWorld(t)
	wa := w.e.newAccount(w.admin, convo.AccountWhatsApp)
	user := waID()
	wantStatus(t, w.e.postWhatsApp(t, wa, waWebhook(wa, waInbound(user, "Wes", waText("is my order on its way?")))), http.StatusOK)
	conv := str(t, convWith(w.admin, wa.ID, user), "id")
	w.admin.ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"owner_id": w.ann.ID})

	a := w.tab()
	a.login(w.ann.Username, w.ann.Password)
	a.open(conv)
	a.run(chromedp.Focus(chromedp.CSS("#composer")))
	a.typeText("it left this morning")
	a.press("Enter")
	var reply string
	eventually(t, 10*time.Second, func() error {
		for _, m := range msgsOf(w.admin, conv) {
			if m["text"] == "it left this morning" && m["provider_status"] == convo.ProviderAccepted {
				reply = m["id"].(string)
				return nil
			}
		}
		return errors.New("the reply is not accepted yet")
	})
	a.until("the reply accepted", has(msg(reply)+" .st", "accepted"))
	wamid := e2eLastWAMID(w)
	for _, step := range []struct{ report, want string }{{"delivered", "delivered"}, {"read", "read"}} {
		wantStatus(t, w.e.postWhatsApp(t, wa, waWebhook(wa, waReport(wamid, step.report, user, reply, time.Now()))), http.StatusOK)
		a.until("the reply "+step.want+" without a reload", has(msg(reply)+" .st", step.want))
	}
	var title string
	a.js(fmt.Sprintf(`document.querySelector(%q).title`, msg(reply)+" .st"), &title)
	if title == "" {
		t.Error("a read reply does not say when it was delivered and read")
	}

	late := str(t, send(w.admin, conv, map[string]any{"text": "still there?"}), "id")
	waitStatus(w.admin, conv, late, "done")
	wantStatus(t, w.e.postWhatsApp(t, wa, waWebhook(wa, waReport(e2eLastWAMID(w), "failed", user, late, time.Now(), map[string]any{
		"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
		"error_data": map[string]any{"details": "More than 24 hours have passed since the customer last replied."},
	}))), http.StatusOK)
	a.until("the failure with Meta's reason", has(msg(late)+" .st.failed", "More than 24 hours have passed")+" && "+has(msg(late)+" .st.failed", "131047"))
}

// e2eLastWAMID is the wamid of the last message the fake WhatsApp accepted.
func e2eLastWAMID(w *inboxWorld) string {
	w.t.Helper()
	sent := w.e.wa.Sent()
	if len(sent) == 0 {
		w.t.Fatal("WhatsApp received nothing")
	}
	return sent[len(sent)-1].WAMID
}
