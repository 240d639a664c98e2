package main

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// Conversations that leave an agent's view leave its list at once: assigned
// away, taken out of the queue by someone else, the queue closed. The page
// is never reloaded (a mark set on its window stays).
func TestInboxLeavesViewLive(t *testing.T) {
	w := newInboxWorld(t)
	admin, ann, ben := w.admin, w.ann, w.ben
	_, aliceConv := w.peer(w.acc, "Alice", "hello from Alice", ann.ID)
	w.peer(w.acc, "Bob", "order 4471?", ann.ID)
	_, doraConv := w.peer(w.acc, "Dora", "is anybody there?", "")
	w.peer(w.acc, "Finn", "anyone?", "")
	a, b := w.tab(), w.tab()
	a.login(ann.Username, ann.Password)
	b.login(ben.Username, ben.Password)
	a.js(`window.sameLoad = true`, nil)
	b.js(`window.sameLoad = true`, nil)
	stillSameLoad := func(t *testing.T, tb *tab) {
		t.Helper()
		var same bool
		tb.js(`window.sameLoad === true`, &same)
		if !same {
			t.Error("the page was reloaded")
		}
	}

	t.Run("assigned away: the row leaves Mine and the open thread says why", func(t *testing.T) {
		a.t = t
		a.until("Alice in Mine", row("Alice"))
		a.open(aliceConv)
		admin.ok("PUT", "/v1.0/conversations/"+aliceConv, map[string]any{"owner_id": ben.ID})
		a.until("Alice out of Ann's list", `!`+row("Alice"))
		a.until("the thread closed with a reason", has("#thread .notice", "no longer yours to see"))
		if got := a.rowNames(); len(got) != 1 || got[0] != "Bob" {
			t.Errorf("Ann's Mine lists %v, want Bob alone", got)
		}
		stillSameLoad(t, a)
	})

	t.Run("taken by another agent: the row leaves the queue of who watched it", func(t *testing.T) {
		a.t, b.t = t, t
		b.run(chromedp.Click(chromedp.CSS(`[data-view="unassigned"]`)))
		b.until("Dora in Ben's queue", row("Dora"))
		a.run(chromedp.Click(chromedp.CSS(`[data-view="unassigned"]`)))
		a.open(doraConv)
		a.run(chromedp.Click(chromedp.CSS(".actions .take")))
		a.until("Ann owns Dora", has(".actions .owner", "Ann Agent"))
		b.until("Dora out of Ben's queue", `!`+row("Dora"))
		b.until("Finn still in it", row("Finn"))
		stillSameLoad(t, b)
	})

	t.Run("the customer closes the queue: it empties and says why", func(t *testing.T) {
		b.t = t
		admin.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": false})
		defer admin.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": true})
		b.until("the queue closed", `!`+row("Finn")+` && `+has("#list-state", "does not let agents take unassigned"))
		stillSameLoad(t, b)
	})
}

// The label filter offers labels added after login: read again when the
// filter is opened, or when a conversation shows a label the page lacks.
func TestInboxLabelsRefresh(t *testing.T) {
	w := newInboxWorld(t)
	admin, ann := w.admin, w.ann
	admin.ok("POST", "/v1.0/labels", map[string]any{"name": "vip"})
	_, aliceConv := w.peer(w.acc, "Alice", "hello from Alice", ann.ID)
	a := w.tab()
	a.login(ann.Username, ann.Password)
	a.until("Alice in Mine", row("Alice"))
	options := `[...document.querySelectorAll("#f-label option")].map(o => o.value).join(",")`
	a.until("the labels of login", options+` === ",vip"`)

	admin.ok("POST", "/v1.0/labels", map[string]any{"name": "urgent"})
	a.run(chromedp.Focus(chromedp.CSS("#f-label")))
	a.until("urgent offered once the filter is opened", options+` === ",urgent,vip" || `+options+` === ",vip,urgent"`)
	a.run(chromedp.Blur(chromedp.CSS("#f-label")))

	admin.ok("POST", "/v1.0/labels", map[string]any{"name": "callback", "color": "#2e86c1"})
	admin.ok("PUT", "/v1.0/conversations/"+aliceConv+"/labels", map[string]any{"labels": []string{"callback"}})
	a.until("callback offered once a conversation shows it", options+`.split(",").includes("callback")`)
	a.until("its colour on the row's chip", row("Alice")+`?.querySelector(".chip .dot")?.style.background !== ""`)
	a.choose("#f-label", "callback")
	a.until("Alice under callback", `document.querySelectorAll("#list .row").length === 1 && `+row("Alice"))
}
