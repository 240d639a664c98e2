package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// The providers' rules in the inbox: how LINE got each answer (a free
// reply or a counted push), the LINE account's quota for a manager, and an
// SMS peer who opted out, whose composer refuses replies but takes notes.
func TestInboxChannelRules(t *testing.T) {
	browser(t)
	e := newChannelEnv(t, testdb.SQLite(t))
	admin := e.admin(t)
	mia := admin.newBrowserAgent(int(convo.PermissionCustomerManager), "Mia Manager")
	b := newTab(t, e.ts.URL())
	b.login(mia.Username, mia.Password)

	t.Run("LINE reply, push and quota", func(t *testing.T) {
		b.t = t
		line := e.newAccount(admin, convo.AccountLine)
		e.line.SetQuota(line.Token, 200)
		conv, _ := e.lineInbound(t, line, lineID('U'), "hello from LINE")
		b.open(conv)
		b.until("the quota in the thread's head", has(".thread-head .quota", "LINE quota: 0 of 200 used this month"))
		b.run(chromedp.Click(chromedp.CSS("#composer")))
		b.typeText("first answer")
		b.press("Enter")
		b.until("the first answer marked as a reply", has(".msg.out", "first answer")+` && `+has(".msg.out .via.reply", "LINE reply"))
		b.typeText("second answer")
		b.press("Enter")
		b.until("the second answer marked as a push", has(".msg.out .via.push", "LINE push"))
		var pushes []string
		b.js(`[...document.querySelectorAll(".msg.out")].filter(m => m.querySelector(".via.push")).map(m => m.querySelector(".text").textContent)`, &pushes)
		if len(pushes) != 1 || pushes[0] != "second answer" {
			t.Errorf("messages marked push: %q, want the second answer only", pushes)
		}
	})

	t.Run("an opted-out SMS peer", func(t *testing.T) {
		b.t = t
		sms := e.newAccount(admin, convo.AccountSMS)
		peer := uniquePhone()
		wantStatus(t, e.postTwilio(t, sms, sms.Hook, smsForm(sms, peer, "STOP")), http.StatusOK)
		conv := str(t, convWith(admin, sms.ID, peer), "id")
		b.open(conv)
		const reason = "This customer opted out (they sent STOP): nothing can be sent until they send START."
		b.until("the composer disabled with the reason", `document.querySelector("#composer").disabled && `+has("#composer-blocked", reason))
		var sendDisabled bool
		b.js(`document.querySelector(".composer button[type=submit]").disabled`, &sendDisabled)
		if !sendDisabled {
			t.Error("the send button is enabled for an opted-out peer")
		}
		// Notes are for colleagues: they still work.
		b.run(chromedp.Click(chromedp.CSS(".composer .mode:nth-child(2)")))
		b.until("the note mode enabled", `!document.querySelector("#composer").disabled && document.querySelector("#composer-blocked").hidden`)
		b.run(chromedp.Click(chromedp.CSS(".composer .mode:nth-child(1)")))
		b.until("the reply mode disabled again", `document.querySelector("#composer").disabled`)
		// START arrives while the thread is open: the stream enables replies.
		wantStatus(t, e.postTwilio(t, sms, sms.Hook, smsForm(sms, peer, "START")), http.StatusOK)
		b.until("the composer enabled by START", `!document.querySelector("#composer").disabled && document.querySelector("#composer-blocked").hidden`)
		b.run(chromedp.Click(chromedp.CSS("#composer")))
		b.typeText("welcome back")
		b.press("Enter")
		b.until("the reply sent", has(".msg.out .text", "welcome back"))
		eventually(t, 5*time.Second, func() error {
			if n := len(msgsOf(admin, conv)); n != 3 {
				return fmt.Errorf("%d messages, want STOP, START and the reply", n)
			}
			return nil
		})
		var quota int
		b.js(`document.querySelectorAll(".thread-head .quota").length`, &quota)
		if quota != 0 {
			t.Error("an SMS conversation shows a LINE quota")
		}
	})
}
