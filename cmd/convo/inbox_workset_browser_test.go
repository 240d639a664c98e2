package main

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/convohq/convo"
)

// The agent's working set in the browser: the list as the server orders and
// filters it, take, status, snoozes, labels and read state. Subtests build
// on one another.
func TestInboxWorkingSet(t *testing.T) {
	w := newInboxWorld(t)
	admin, ann := w.admin, w.ann
	admin.ok("POST", "/v1.0/labels", map[string]any{"name": "vip", "color": "#c0392b"})
	admin.ok("POST", "/v1.0/labels", map[string]any{"name": "billing"})
	alice, aliceConv := w.peer(w.acc, "Alice", "hello from Alice", ann.ID)
	w.inbound(w.acc, alice, "second question")
	admin.ok("PUT", "/v1.0/conversations/"+aliceConv+"/labels", map[string]any{"labels": []string{"vip"}})
	_, eveConv := w.peer(w.acc, "Eve", "thanks, all done", ann.ID)
	admin.ok("POST", "/v1.0/conversations/"+eveConv+"/status", map[string]any{"status": "resolved"})
	_, doraConv := w.peer(w.acc, "Dora", "is anybody there?", "")
	_, bobConv := w.peer(w.acc, "Bob", "order 4471?", ann.ID)
	a := w.tab()
	command(a, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
	asAnn := w.e.as(t, ann.Token)

	t.Run("list: the server's order and status filter, previews, unread counts and labels on first load", func(t *testing.T) {
		a.t = t
		a.login(ann.Username, ann.Password)
		a.until("Mine", has("#list .row .peer", "Alice"))
		if got := a.rowNames(); !slices.Equal(got, []string{"Bob", "Alice"}) {
			t.Errorf("Mine (open) lists %v, want Bob then Alice (newest message first, Eve resolved)", got)
		}
		var asked bool
		a.js(`performance.getEntriesByType("resource").some(e => /\/v1\.0\/conversations\?.*order=last_message/.test(e.name) && /[?&]status=open/.test(e.name) && /[?&]owner_id=/.test(e.name))`, &asked)
		if !asked {
			t.Error("the list was not asked of the server by last message and status")
		}
		var got struct{ Preview, Badge, Chips string }
		a.js(`(r => ({ Preview: r.querySelector(".preview").textContent, Badge: r.querySelector(".badge")?.textContent || "",
			Chips: [...r.querySelectorAll(".chip")].map(c => c.textContent).join(",") }))(`+row("Alice")+`)`, &got)
		if got.Preview != "second question" || got.Badge != "2" || got.Chips != "vip" {
			t.Errorf("Alice's row shows %+v, want the last message, 2 unread and the label vip", got)
		}
		var color string
		a.js(`getComputedStyle(`+row("Alice")+`.querySelector(".chip .dot")).backgroundColor`, &color)
		if color != "rgb(192, 57, 43)" {
			t.Errorf("the label's colour is %q", color)
		}
		a.choose("#f-status", "resolved")
		a.until("the resolved view", `document.querySelectorAll("#list .row").length === 1 && `+has("#list .row .peer", "Eve"))
		a.choose("#f-status", "open")
		a.until("Open again", has("#list .row .peer", "Alice"))
		a.choose("#f-label", "vip")
		a.until("only vip", `document.querySelectorAll("#list .row").length === 1 && `+has("#list .row .peer", "Alice"))
		a.choose("#f-label", "")
		// A plain agent has the unassigned queue, but not All.
		a.run(chromedp.Click(chromedp.CSS(`[data-view="unassigned"]`)))
		a.until("the queue", `document.querySelectorAll("#list .row").length === 1 && `+has("#list .row .peer", "Dora"))
		var allHidden bool
		a.js(`document.querySelector('[data-view="all"]').hidden`, &allHidden)
		if !allHidden {
			t.Error("a plain agent is offered All")
		}
	})

	t.Run("take: the first wins, the second is told the conversation is already assigned", func(t *testing.T) {
		a.t = t
		b := w.tab()
		b.login(w.ben.Username, w.ben.Password)
		b.run(chromedp.Click(chromedp.CSS(`[data-view="unassigned"]`)))
		b.until("Dora in Ben's queue", has("#list .row .peer", "Dora"))
		a.open(doraConv)
		b.open(doraConv)
		// Ann's page hears nothing while Ben takes, as over a slow
		// connection: her own take is what learns of his.
		a.js(`convoInbox.stream.stop()`, nil)
		b.run(chromedp.Click(chromedp.CSS(".actions .take")))
		b.until("Ben owns it", has(".actions .owner", "Ben Agent"))
		a.run(chromedp.Click(chromedp.CSS(".actions .take")))
		a.until("the refusal", has("#thread .notice", "Someone else took this conversation first."))
		if got := str(t, admin.ok("GET", "/v1.0/conversations/"+doraConv, nil), "owner_id"); got != w.ben.ID {
			t.Errorf("owner %s, want Ben", got)
		}
		a.js(`convoInbox.stream.start()`, nil)
		b.until("Dora out of Ben's queue", `!`+has("#list .row .peer", "Dora"))
		a.until("Dora out of Ann's queue", `!`+has("#list .row .peer", "Dora"))
	})

	status := func(t *testing.T) (string, time.Time) {
		t.Helper()
		c := asAnn.ok("GET", "/v1.0/conversations/"+aliceConv, nil)
		until, _ := c["snoozed_until"].(string)
		at, err := time.Parse("2006-01-02 15:04:05.999999", until)
		if err != nil {
			at, _ = time.Parse(time.RFC3339Nano, until)
		}
		return c["status"].(string), at
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")

	t.Run("resolve, reopen and snooze: presets and a chosen time", func(t *testing.T) {
		a.t = t
		a.run(chromedp.Click(chromedp.CSS(`[data-view="mine"]`)))
		a.open(aliceConv)
		a.run(chromedp.Click(chromedp.CSS(".actions .resolve")))
		a.until("resolved", has(".actions .state", "Resolved"))
		a.until("Alice out of the Open view", `!`+row("Alice"))
		if s, _ := status(t); s != "resolved" {
			t.Fatalf("status %s", s)
		}
		reopen := func() {
			t.Helper()
			a.run(chromedp.Click(chromedp.CSS(".actions .reopen")))
			a.until("open", has(".actions .state", "Open"))
			a.until("Alice back in Open", row("Alice"))
		}
		reopen()
		snooze := func(preset int, want time.Time, slack time.Duration) {
			t.Helper()
			a.run(chromedp.Click(chromedp.CSS(".snooze summary")))
			a.run(chromedp.Click(chromedp.CSS(fmt.Sprintf(".snooze .popup button:nth-of-type(%d)", preset))))
			a.until("snoozed", has(".actions .state", "Snoozed until"))
			a.until("Alice out of the Open view", `!`+row("Alice"))
			s, until := status(t)
			if d := until.Sub(want); s != "snoozed" || d < -slack || d > slack {
				t.Errorf("preset %d: %s until %v, want snoozed until %v", preset, s, until.In(tokyo), want.In(tokyo))
			}
			reopen()
		}
		now := time.Now().In(tokyo)
		snooze(1, now.Add(time.Hour), time.Minute)
		snooze(2, time.Date(now.Year(), now.Month(), now.Day()+1, 9, 0, 0, 0, tokyo), time.Second)
		days := (8 - int(now.Weekday())) % 7
		if days == 0 {
			days = 7
		}
		snooze(3, time.Date(now.Year(), now.Month(), now.Day()+days, 9, 0, 0, 0, tokyo), time.Second)
		a.run(chromedp.Click(chromedp.CSS(".snooze summary")))
		a.run(chromedp.SetValue(chromedp.CSS(`.snooze input[type="datetime-local"]`), "2031-05-06T14:30"))
		a.run(chromedp.Click(chromedp.CSS(".snooze .popup > button:last-child")))
		a.until("snoozed", has(".actions .state", "Snoozed until"))
		if s, until := status(t); s != "snoozed" || !until.Equal(time.Date(2031, 5, 6, 5, 30, 0, 0, time.UTC)) {
			t.Errorf("chosen time: %s until %v, want 14:30 in Tokyo", s, until)
		}
		reopen()
	})

	t.Run("labels: added and removed in the thread, chips in the list and the header, the filter", func(t *testing.T) {
		a.t = t
		a.run(chromedp.Focus(chromedp.CSS(".add-label")))
		a.typeText("Billing")
		a.press("Enter")
		a.until("the chip in the header", has(".thread-head .chip", "billing"))
		a.until("the chip in the list", row("Alice")+`?.querySelectorAll(".chip").length === 2`)
		a.run(chromedp.Click(chromedp.CSS(`.thread-head .chip .x[aria-label="Remove label vip"]`)))
		a.until("vip gone from the header", `!`+has(".thread-head .chip", "vip"))
		a.until("vip gone from the list", row("Alice")+`?.querySelectorAll(".chip").length === 1`)
		if got := asAnn.ok("GET", "/v1.0/conversations/"+aliceConv, nil)["labels"]; fmt.Sprint(got) != "[billing]" {
			t.Errorf("labels on the server: %v", got)
		}
		a.run(chromedp.Focus(chromedp.CSS(".add-label")))
		a.typeText("no-such-label")
		a.press("Enter")
		a.until("the refusal", has("#thread .notice", "No label has that name"))
		a.choose("#f-label", "vip")
		a.until("nothing is vip", has("#list-state", "No conversations here."))
		a.choose("#f-label", "billing")
		a.until("Alice is billing", `document.querySelectorAll("#list .row").length === 1 && `+row("Alice"))
		a.choose("#f-label", "")
	})

	t.Run("read: opening marks read, and the agent's other tab follows live", func(t *testing.T) {
		a.t = t
		a.open(bobConv)
		a2 := w.tab()
		a2.login(ann.Username, ann.Password)
		w.inbound(w.acc, alice, "one more thing")
		w.inbound(w.acc, alice, "and another")
		a2.until("Alice's unread in the second tab", row("Alice")+`?.querySelector(".badge")?.textContent === "2"`)
		a.until("Alice's unread in the first", row("Alice")+`?.querySelector(".badge")?.textContent === "2"`)
		a.open(aliceConv)
		a.until("read in the first tab", `!`+row("Alice")+`.querySelector(".badge")`)
		a2.until("read in the second tab, live", `!`+row("Alice")+`.querySelector(".badge")`)
		eventually(t, 5*time.Second, func() error {
			if n := asAnn.ok("GET", "/v1.0/conversations/"+aliceConv, nil)["unread_count"]; n != float64(0) {
				return fmt.Errorf("unread_count %v on the server", n)
			}
			return nil
		})
		// A message arriving while the thread is open is read at once.
		w.inbound(w.acc, alice, "still there?")
		a.until("the message", has(".timeline .msg.in .text", "still there?"))
		a2.until("the preview in the other tab", has("#list .row .preview", "still there?"))
		a2.until("and nothing unread", `!`+row("Alice")+`.querySelector(".badge")`)
	})

	t.Run("a manager's All view, filtered by account", func(t *testing.T) {
		other := w.e.newAccount(admin, convo.AccountLine)
		w.peer(other, "Zed", "on the other line", "")
		m := w.tab()
		m.t = t
		m.login(w.mia.Username, w.mia.Password)
		m.run(chromedp.Click(chromedp.CSS(`[data-view="all"]`)))
		m.until("every open conversation", has("#list .row .peer", "Zed")+" && "+has("#list .row .peer", "Alice")+" && "+has("#list .row .peer", "Dora"))
		if m.isHidden("#f-account") {
			t.Fatal("a manager is not offered the account filter")
		}
		m.choose("#f-account", other.ID)
		m.until("only the other account's", `document.querySelectorAll("#list .row").length === 1 && `+has("#list .row .peer", "Zed"))
		m.choose("#f-account", w.acc.ID)
		m.until("only the first account's", `!`+has("#list .row .peer", "Zed")+" && "+has("#list .row .peer", "Alice"))
		m.choose("#f-account", "")
		m.until("every account again", has("#list .row .peer", "Zed")+" && "+has("#list .row .peer", "Alice"))
	})
}
