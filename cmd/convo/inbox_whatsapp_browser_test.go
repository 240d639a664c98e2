package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/convohq/convo"
)

// WhatsApp in the inbox: the customer service window, the template picker
// once it is closed, and replies and reactions shown by their text.
func TestInboxWhatsAppWindowAndTemplates(t *testing.T) {
	w := newInboxWorld(t)
	admin, ann, e := w.admin, w.ann, w.e
	acc := e.newAccount(admin, convo.AccountWhatsApp)
	e.wa.AddTemplates("7788990011", acc.Token, waTemplates()...)
	admin.ok("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"provider_data": map[string]any{"business_account_id": "7788990011"}})
	user := waID()
	conv := str(t, admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "whatsapp", "target": user}}), "id")
	admin.ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"owner_id": ann.ID})
	a := w.tab()
	a.login(ann.Username, ann.Password)
	a.open(conv)

	t.Run("closed: the window says so and a template is picked and sent", func(t *testing.T) {
		a.t = t
		a.until("the closed window", has(".wa-window.closed", "has not written"))
		a.run(chromedp.Click(chromedp.CSS(".wa-pick")))
		a.until("the templates", `document.querySelectorAll(".wa-template option").length === 2`)
		a.choose(".wa-template", "0")
		a.until("the parameters", `document.querySelectorAll(".wa-param").length === 2`)
		a.js(`(ps => { ps[0].value = "Dave"; ps[1].value = "#42"; ps.forEach(p => p.dispatchEvent(new Event("input"))); })([...document.querySelectorAll(".wa-param")])`, nil)
		a.until("the preview", has(".wa-preview", "Hi Dave, your order #42 has shipped."))
		a.run(chromedp.Click(chromedp.CSS(".wa-send")))
		a.until("the template in the thread", has(".timeline .msg.out .text", "Hi Dave, your order #42 has shipped.")+` && `+has(".timeline .msg.out .kind", "Template"))
		eventuallySent(t, e, "template")
	})

	t.Run("a reply opens the window and shows its text", func(t *testing.T) {
		a.t = t
		reply := map[string]any{"type": "interactive", "interactive": map[string]any{"type": "button_reply", "button_reply": map[string]any{"id": "slot-am", "title": "Morning"}}}
		wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Dave", reply))), http.StatusOK)
		a.until("the reply", has(".timeline .msg.in .text", "Morning")+` && `+has(".timeline .msg.in .kind", "Button reply"))
		a.until("the open window", has(".wa-window.open", "open until"))
		var pickers int
		if a.js(`document.querySelectorAll(".wa-pick").length`, &pickers); pickers != 0 {
			t.Errorf("the template picker is offered while the window is open")
		}
		wamid := e.wa.Sent()[0].WAMID
		reaction := map[string]any{"type": "reaction", "reaction": map[string]any{"message_id": wamid, "emoji": "👍"}}
		wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Dave", reaction))), http.StatusOK)
		a.until("the reaction", has(".timeline .msg.in .text", `Reacted 👍 to "Hi Dave, your order #42 has shipped."`))
		a.run(chromedp.Click(chromedp.CSS("#composer")))
		a.typeText("see you in the morning")
		a.press("Enter")
		a.until("the free-form reply sent", has(".timeline .msg.out.done .text", "see you in the morning"))
	})
}

// eventuallySent waits until the WhatsApp fake accepted a message of type typ.
func eventuallySent(t *testing.T, e *channelEnv, typ string) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		for _, s := range e.wa.Sent() {
			if s.Type == typ {
				return nil
			}
		}
		return fmt.Errorf("WhatsApp received no %s message: %+v", typ, e.wa.Sent())
	})
}
