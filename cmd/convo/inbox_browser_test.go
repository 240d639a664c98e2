package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
)

// The inbox in a real browser against a real server on SQLite: agents Ann
// and Ben (plain) and Mia (manager), each in a browser context of its own.
// Subtests run in order and build on one another, as an agent's day does.
func TestInboxBrowser(t *testing.T) {
	browser(t)
	e := newChannelEnv(t, testdb.SQLite(t))
	admin := e.admin(t)
	acc := e.newAccount(admin, convo.AccountLine)
	ann := admin.newBrowserAgent(int(convo.PermissionCustomerAgent), "Ann Agent")
	ben := admin.newBrowserAgent(int(convo.PermissionCustomerAgent), "Ben Agent")
	mia := admin.newBrowserAgent(int(convo.PermissionCustomerManager), "Mia Manager")
	_, _ = ben, mia
	inbound := func(user, text string) {
		t.Helper()
		wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(user), lineText(text)))), http.StatusOK)
	}
	// newPeer starts a conversation through the hook and waits for the peer's name.
	newPeer := func(name, first string) string {
		t.Helper()
		user := lineID('U')
		e.line.AddProfile(user, name)
		wantStatus(t, e.postLine(t, acc, lineWebhook(lineEvent("follow", lineUser(user)))), http.StatusOK)
		inbound(user, first)
		id := str(t, convWith(admin, acc.ID, user), "id")
		eventually(t, 5*time.Second, func() error {
			if got := obj(t, admin.ok("GET", "/v1.0/conversations/"+id, nil), "peer")["target_name"]; got != name {
				return fmt.Errorf("peer name %v", got)
			}
			return nil
		})
		return user
	}
	assign := func(user, agentID string) string {
		t.Helper()
		id := str(t, convWith(admin, acc.ID, user), "id")
		admin.ok("PUT", "/v1.0/conversations/"+id, map[string]any{"owner_id": agentID})
		return id
	}
	alice := newPeer("Alice", "hello from Alice")
	aliceConv := assign(alice, ann.ID)
	base := e.ts.URL()
	a := newTab(t, base)

	t.Run("login", func(t *testing.T) {
		a.t = t
		// Times must come out in the browser's zone, whatever the machine's.
		command(a, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
		a.run(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#username")))
		a.run(chromedp.SetValue(chromedp.CSS("#username"), ann.Username), chromedp.SetValue(chromedp.CSS("#password"), "wrong"),
			chromedp.Click(chromedp.CSS("#login-submit")))
		a.until("the refusal", has("#login-message", "Wrong username or password."))
		a.login(ann.Username, ann.Password)
		a.until("Ann's conversation in Mine", has("#list .row .peer", "Alice"))
		if got := a.text("#me-name"); got != "Ann Agent" {
			t.Errorf("header shows %q", got)
		}
		var hiddenAll, tokenStored bool
		var href string
		a.js(`document.querySelector('[data-view="all"]').hidden`, &hiddenAll)
		a.js(`sessionStorage.getItem("convo.token") === `+fmt.Sprintf("%q", "")+` ? false : true`, &tokenStored)
		a.js(`location.href`, &href)
		if !hiddenAll {
			t.Error("a plain agent is offered the All view")
		}
		if !tokenStored || strings.Contains(href, "token") {
			t.Errorf("token stored %v, address %q: want it in sessionStorage only", tokenStored, href)
		}
		if got := a.text("#list .row .chan"); got != "LINE" {
			t.Errorf("channel shown as %q", got)
		}
	})

	t.Run("the thread shows who sent what, when, its status and media, and customer text as text", func(t *testing.T) {
		a.t = t
		const xss = `<img src=x onerror=alert(1)>`
		inbound(alice, xss)
		sent := admin.ok("POST", "/v1.0/conversations/"+aliceConv+"/messages", map[string]any{"text": "see attached", "medias": []map[string]any{
			{"type": "image", "filename": "https://media.example.invalid/cat.png"}, {"type": "file", "filename": "https://media.example.invalid/terms.pdf"}}})
		a.open(aliceConv)
		a.until("the messages", has(".timeline .msg.in .text", "hello from Alice")+" && "+has(".timeline .msg.out .text", "see attached"))
		a.until("the XSS text", has(".timeline .msg.in .text", xss))
		var imgsInText int
		a.js(`document.querySelectorAll(".timeline .text img, .timeline .text *").length`, &imgsInText)
		if imgsInText != 0 || len(a.dialogs) != 0 {
			t.Errorf("customer text became markup (%d elements) or ran (dialogs %v)", imgsInText, a.dialogs)
		}
		if got := a.text(".timeline .msg.in .who"); got != "Alice" {
			t.Errorf("incoming sender shown as %q, want the peer", got)
		}
		out := msg(str(t, sent, "id"))
		a.until("the provider's word (LINE says no more than accepted)", has(out+" .st", "accepted"))
		var src, link string
		a.js(`document.querySelector(`+fmt.Sprintf("%q", out+" .medias img")+`).getAttribute("src")`, &src)
		a.js(`document.querySelector(`+fmt.Sprintf("%q", out+" .medias a.link")+`).getAttribute("href")`, &link)
		if src != "https://media.example.invalid/cat.png" || link != "https://media.example.invalid/terms.pdf" {
			t.Errorf("image %q inline and file %q as a link", src, link)
		}
		// Times are the browser's: Tokyo here.
		created, err := time.Parse("2006-01-02 15:04:05.999999", str(t, sent, "tm_create"))
		if err != nil {
			t.Fatal(err)
		}
		tokyo, _ := time.LoadLocation("Asia/Tokyo")
		var title string
		a.js(`document.querySelector(`+fmt.Sprintf("%q", out+" time")+`).title.replace(/\s/g, " ")`, &title)
		if want := created.In(tokyo).Format("3:04"); !strings.Contains(title, want) {
			t.Errorf("time shown as %q, want Tokyo's %s", title, want)
		}
	})

	t.Run("the composer sends on Enter and shows the message progressing, then its outcome", func(t *testing.T) {
		a.t = t
		e.line.SetDelay(time.Second)
		a.run(chromedp.Focus(chromedp.CSS("#composer")))
		a.typeText("first line")
		a.press("Enter", kb.ModifierShift)
		a.typeText("second line")
		a.press("Enter")
		two := `[...document.querySelectorAll(".timeline .msg.out")].find(m => m.querySelector(".text").textContent === "first line\nsecond line")`
		a.until("the message at once, progressing", two+`?.querySelector(".st").textContent === "sending"`)
		a.until("the message accepted by LINE", two+`?.querySelector(".st").textContent === "accepted"`)
		e.line.SetDelay(0)
		var v string
		if a.js(`document.querySelector("#composer").value.trim()`, &v); v != "" {
			t.Errorf("composer keeps %q after sending", v)
		}
		e.line.SetModeFor(acc.fakeKey(), fakeprovider.Refuse)
		a.typeText("this one fails")
		a.press("Enter")
		a.until("the failure", `[...document.querySelectorAll(".timeline .msg.out")].some(m => m.textContent.includes("this one fails") && m.querySelector(".st.failed"))`)
		e.line.SetModeFor(acc.fakeKey(), fakeprovider.Accept)
		var who string
		a.js(`[...document.querySelectorAll(".timeline .msg.out")].pop().querySelector(".who").textContent`, &who)
		if who != "Ann Agent" {
			t.Errorf("own message's sender shown as %q", who)
		}
	})

	t.Run("typing / offers canned responses", func(t *testing.T) {
		a.t = t
		admin.ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": "thanks", "text": "Thank you for waiting!"})
		a.typeText("/tha")
		a.until("the suggestion", `!document.querySelector("#canned").hidden && `+has("#canned li", "/thanks"))
		a.press("Enter")
		var v string
		a.js(`document.querySelector("#composer").value`, &v)
		if v != "Thank you for waiting!" {
			t.Fatalf("composer holds %q after choosing", v)
		}
		a.press("Enter")
		a.until("the canned reply sent", has(".timeline .msg.out .text", "Thank you for waiting!"))
	})

	t.Run("notes are written, edited and deleted in the thread, apart from messages", func(t *testing.T) {
		a.t = t
		a.run(chromedp.Click(chromedp.CSS(".composer .mode:nth-child(2)")))
		a.typeText("call back after 5pm")
		a.press("Enter")
		a.until("the note", has(".timeline .note .text", "call back after 5pm"))
		var asMessage bool
		a.js(has(".timeline .msg", "call back after 5pm"), &asMessage)
		if asMessage {
			t.Error("the note is shown as a message")
		}
		a.run(chromedp.Click(chromedp.CSS(".timeline .note .edit")))
		a.until("the editor", `document.querySelector(".note-edit")`)
		a.js(`document.querySelector(".note-edit").value = "call back after 6pm"`, nil)
		a.run(chromedp.Focus(chromedp.CSS(".note-edit")))
		a.press("Enter")
		a.until("the edited note", has(".timeline .note .text", "call back after 6pm"))
		notes := rows(t, admin.ok("GET", "/v1.0/conversations/"+aliceConv+"/notes", nil))
		if len(notes) != 1 || notes[0]["text"] != "call back after 6pm" {
			t.Fatalf("notes on the server: %v", notes)
		}
		a.run(chromedp.Click(chromedp.CSS(".timeline .note .delete")))
		a.until("the confirmation", has(".timeline .note .delete", "Really delete?"))
		a.run(chromedp.Click(chromedp.CSS(".timeline .note .delete")))
		a.until("the note gone", `!document.querySelector(".timeline .note")`)
		a.run(chromedp.Click(chromedp.CSS(".composer .mode:nth-child(1)")))
	})

	var bob string
	t.Run("live: a hooked message shows in the open thread, an assignment in Mine, unread on other rows", func(t *testing.T) {
		a.t = t
		inbound(alice, "are you there?")
		a.until("the message in the thread", has(".timeline .msg.in .text", "are you there?"))
		a.until("the preview in the list", has("#list .row .preview", "are you there?"))
		bob = newPeer("Bob", "hi, Bob here")
		assign(bob, ann.ID)
		a.until("Bob's conversation in Mine", has("#list .row .peer", "Bob"))
		inbound(bob, "anyone?")
		bobRow := `[...document.querySelectorAll("#list .row")].find(r => r.textContent.includes("Bob"))`
		// Both of Bob's messages reached Ann's stream: the first while his
		// conversation was in the unassigned queue, which agents see.
		a.until("Bob's unread count", bobRow+`?.querySelector(".badge")?.textContent === "2"`)
		var top string
		a.js(`document.querySelector("#list .row .peer").textContent`, &top)
		if top != "Bob" {
			t.Errorf("the newest activity is not first: %q", top)
		}
	})

	t.Run("keyboard: move, open, reply, go back", func(t *testing.T) {
		a.t = t
		// From the open conversation (Alice's, second): up, down, up.
		a.js(`document.activeElement.blur()`, nil)
		a.press("k")
		a.until("the row above focused", `document.activeElement.matches("#list .row") && document.activeElement.textContent.includes("Bob")`)
		a.press("j")
		a.until("the row below focused", `document.activeElement.textContent.includes("Alice")`)
		a.press("k")
		a.until("back on the first row", `document.activeElement.textContent.includes("Bob")`)
		a.press("Enter")
		a.until("Bob's thread", has(".thread-head h2", "Bob"))
		a.until("Bob's unread gone", `![...document.querySelectorAll("#list .row")].find(r => r.textContent.includes("Bob")).querySelector(".badge")`)
		a.js(`document.activeElement.blur()`, nil)
		a.press("r")
		a.until("the composer focused", `document.activeElement.id === "composer"`)
		a.press("Escape")
		a.until("the list focused", `document.activeElement.matches("#list .row")`)
		var outline string
		a.js(`getComputedStyle(document.activeElement).outlineStyle`, &outline)
		if outline == "none" {
			t.Error("the focused row shows no focus")
		}
	})

	t.Run("own status from the header", func(t *testing.T) {
		a.t = t
		a.js(`(s => { s.value = "busy"; s.dispatchEvent(new Event("change")); })(document.querySelector("#my-status"))`, nil)
		eventually(t, 5*time.Second, func() error {
			if got := admin.ok("GET", "/v1.0/agents/"+ann.ID, nil)["status"]; got != "busy" {
				return fmt.Errorf("status %v", got)
			}
			return nil
		})
	})

	t.Run("another agent sees none of it", func(t *testing.T) {
		// The customer keeps the unassigned queue from its agents.
		admin.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": false})
		defer admin.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": true})
		b := newTab(t, base)
		b.login(ben.Username, ben.Password)
		b.until("an empty Mine", has("#list-state", "No conversations here."))
		b.run(chromedp.Click(chromedp.CSS(`[data-view="unassigned"]`)))
		b.until("the queue refused", has("#list-state", "does not let agents take unassigned"))
		b.js(`location.hash = "#/c/`+aliceConv+`"`, nil)
		b.until("the thread refused", has("#thread", "Could not load"))
		b.js(`document.querySelector("#search").value = "Alice"`, nil)
		b.run(chromedp.Focus(chromedp.CSS("#search")))
		b.press("Enter")
		b.until("search answered", `!document.querySelector("#search-results").hidden && !`+has("#search-results", "Loading"))
		inbound(alice, "only for Ann")
		a.t = t
		a.until("Ann sees it", has(".timeline, #list", "only for Ann")+` || `+has("#list .row .preview", "only for Ann"))
		var leaked bool
		b.js(`document.body.textContent.includes("Alice") || document.body.textContent.includes("only for Ann") || document.body.textContent.includes("Bob")`, &leaked)
		if leaked {
			t.Error("Ben's page shows Ann's conversations")
		}
	})

	t.Run("a manager takes, assigns and unassigns; Ann's Mine follows", func(t *testing.T) {
		m := newTab(t, base)
		m.login(mia.Username, mia.Password)
		carol := newPeer("Carol", "is anyone there?")
		m.run(chromedp.Click(chromedp.CSS(`[data-view="unassigned"]`)))
		m.until("Carol unassigned", has("#list .row .peer", "Carol"))
		var allShown bool
		m.js(`!document.querySelector('[data-view="all"]').hidden`, &allShown)
		if !allShown {
			t.Error("a manager is not offered All")
		}
		m.open(str(t, convWith(admin, acc.ID, carol), "id"))
		m.run(chromedp.Click(chromedp.CSS(".actions .take")))
		m.until("Mia owns it", has(".actions .owner", "Mia Manager"))
		m.js(`(s => { s.value = `+fmt.Sprintf("%q", ann.ID)+`; s.dispatchEvent(new Event("change")); })(document.querySelector(".actions .assign"))`, nil)
		m.until("Ann owns it", has(".actions .owner", "Ann Agent"))
		a.t = t
		a.until("Carol in Ann's Mine", has("#list .row .peer", "Carol"))
		m.run(chromedp.Click(chromedp.CSS(".actions .unassign")))
		m.until("unassigned", has(".actions .owner", "Unassigned"))
		m.run(chromedp.Click(chromedp.CSS("#logout")))
		m.until("the login page", `!document.querySelector("#login").hidden && `+has("#login-message", "You have logged out."))
		var stored bool
		m.js(`sessionStorage.getItem("convo.token") !== null`, &stored)
		if stored {
			t.Error("the token outlives the logout")
		}
	})

	t.Run("the stream reconnects after the server closes it and shows what arrived meanwhile", func(t *testing.T) {
		a.t = t
		a.open(aliceConv)
		// The banner may show for less than a poll: a watcher remembers it.
		a.js(`window.sawReconnecting = false; new MutationObserver(() => { if (!document.querySelector("#conn").hidden) window.sawReconnecting = true; })
			.observe(document.querySelector("#conn"), { attributes: true })`, nil)
		addr := hostOf(e.ts.URL())
		e.ts.restart(t, func(m *Main) { m.Config.Listen = addr })
		inbound(alice, "sent while you were away")
		a.until("the reconnecting state shown", `window.sawReconnecting`)
		a.until("the missed message", has(".timeline .msg.in .text", "sent while you were away"))
		a.until("live again", `document.querySelector("#conn").hidden`)
	})

	t.Run("scrolling loads the next page", func(t *testing.T) {
		m := newTab(t, base)
		m.login(mia.Username, mia.Password)
		sms := e.newAccount(admin, convo.AccountSMS).ID
		for range 55 {
			admin.newConversation(sms)
		}
		total := len(admin.walkPages("/v1.0/conversations", "page_size", "100"))
		m.run(chromedp.Click(chromedp.CSS(`[data-view="all"]`)))
		m.until("a first page", `document.querySelectorAll("#list .row").length === 50`)
		m.js(`(s => s.scrollTop = s.scrollHeight)(document.querySelector("#list-scroll"))`, nil)
		m.until("every conversation", fmt.Sprintf(`document.querySelectorAll("#list .row").length === %d`, total))
		// A thread's older messages come as the agent scrolls up.
		long := str(t, admin.newConversation(sms), "id")
		for i := range 60 {
			admin.ok("POST", "/v1.0/conversations/"+long+"/messages", map[string]any{"text": fmt.Sprintf("message %02d", i)})
		}
		m.open(long)
		m.until("the newest page, at the bottom", `document.querySelectorAll(".timeline .msg").length === 50 && `+has(".timeline .msg:last-of-type .text", "message 59"))
		m.js(`document.querySelector(".timeline").scrollTop = 0`, nil)
		m.until("the older messages", `document.querySelectorAll(".timeline .msg").length === 60 && `+has(".timeline .msg:first-of-type .text", "message 00"))
	})

	t.Run("readable at 320 px and 1920 px", func(t *testing.T) {
		a.t = t
		for _, w := range []int64{320, 1920} {
			a.run(chromedp.EmulateViewport(w, 800))
			a.open(aliceConv)
			var width int64
			a.js(`document.documentElement.scrollWidth`, &width)
			if width > w {
				var wide []string
				a.js(`[...document.querySelectorAll("*")].filter(e => e.getBoundingClientRect().right > innerWidth + 1).map(e => e.tagName + "." + e.className + ":" + Math.round(e.getBoundingClientRect().right))`, &wide)
				t.Errorf("at %d px the page is %d px wide: %v", w, width, wide)
			}
			var listShown bool
			a.js(`document.querySelector(".side").offsetWidth > 0`, &listShown)
			if listShown != (w > 720) {
				t.Errorf("at %d px the list beside the thread is %v", w, listShown)
			}
		}
		a.run(chromedp.EmulateViewport(1280, 800))
	})

	t.Run("a revoked token returns to the login page with a message", func(t *testing.T) {
		a.t = t
		admin.ok("PUT", "/v1.0/agents/"+ann.ID+"/password", map[string]any{"password": "another-password-1"})
		a.run(chromedp.Click(chromedp.CSS(`[data-view="mine"]`)))
		a.until("the login page", `!document.querySelector("#login").hidden && `+has("#login-message", "Your session has ended"))
	})
}
