package main

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/convohq/convo"
)

// The inbox's search box, who sent what, and canned responses with
// variables, in the browser.
func TestInboxSearchSendersCanned(t *testing.T) {
	w := newInboxWorld(t)
	admin, ann := w.admin, w.ann
	alice, aliceConv := w.peer(w.acc, "Alice", "hello from Alice", ann.ID)
	w.inbound(w.acc, alice, "please ship to 12 Harbour Street")
	var target string
	for _, m := range msgsOf(admin, aliceConv) {
		if m["text"] == "please ship to 12 Harbour Street" {
			target = m["id"].(string)
		}
	}
	// Enough newer messages that the match is on an older page.
	for i := range 60 {
		admin.ok("POST", "/v1.0/conversations/"+aliceConv+"/messages", map[string]any{"text": fmt.Sprintf("update %02d", i)})
	}
	w.inbound(w.acc, alice, "<b>harbour</b> or not")
	a := w.tab()
	a.login(ann.Username, ann.Password)

	search := func(b *tab, q string) {
		t.Helper()
		b.js(fmt.Sprintf(`document.querySelector("#search").value = %q`, q), nil)
		b.run(chromedp.Focus(chromedp.CSS("#search")))
		b.press("Enter")
		b.until("the results", `!document.querySelector("#search-results").hidden && !`+has("#search-results", "Loading"))
	}

	t.Run("search: hits with the match marked as text; a click opens the thread at the message", func(t *testing.T) {
		a.t = t
		search(a, "HARBOUR")
		hit := fmt.Sprintf(`document.querySelector('.hit.message[data-message="%s"]')`, target)
		a.until("the message hit", hit)
		var got struct{ Fragment, Mark, Peer string }
		a.js(`(h => ({ Fragment: h.querySelector(".fragment").textContent, Mark: h.querySelector("mark").textContent,
			Peer: h.querySelector("strong").firstChild.textContent }))(`+hit+`)`, &got)
		if got.Fragment != "please ship to 12 Harbour Street" || got.Mark != "Harbour" || got.Peer != "Alice" {
			t.Errorf("the hit shows %+v", got)
		}
		var markup []string
		a.js(`[...document.querySelectorAll("#search-results .fragment *")].map(e => e.tagName)`, &markup)
		for _, tag := range markup {
			if tag != "MARK" {
				t.Errorf("customer text in a hit became markup: %v", markup)
			}
		}
		a.until("the peer's text as text", has("#search-results .fragment", "<b>harbour</b> or not"))
		a.run(chromedp.Click(chromedp.CSS(fmt.Sprintf(`.hit.message[data-message="%s"]`, target))))
		a.until("the thread at the message, highlighted", query(msg(target)+".match"))
		var inView bool
		a.js(`(() => { const m = document.querySelector(`+fmt.Sprintf("%q", msg(target))+`).getBoundingClientRect(),
			tl = document.querySelector(".timeline").getBoundingClientRect(); return m.top >= tl.top && m.bottom <= tl.bottom; })()`, &inView)
		if !inView {
			t.Error("the matched message is not scrolled into view")
		}
		if !a.isHidden("#search-results") {
			t.Error("the results stay open")
		}
		search(a, "lic")
		a.until("the conversation hit", has(".hit.conversation strong", "Alice")+` && `+has(".hit.conversation mark", "lic"))
		a.press("Escape")
	})

	t.Run("search: another agent finds nothing of Ann's", func(t *testing.T) {
		b := w.tab()
		b.login(w.ben.Username, w.ben.Password)
		for _, q := range []string{"harbour", "Alice"} {
			search(b, q)
			b.until("nothing found", has("#search-results", "Nothing found."))
		}
		search(b, "ab")
		b.until("too short", has("#search-results", "at least 3 characters"))
	})

	t.Run("senders: agents by name, the flow as bot, the key, the peer", func(t *testing.T) {
		a.t = t
		mia := w.e.as(t, w.mia.Token)
		byMia := str(t, mia.ok("POST", "/v1.0/conversations/"+aliceConv+"/messages", map[string]any{"text": "Mia here"}), "id")
		byKey := str(t, admin.ok("POST", "/v1.0/conversations/"+aliceConv+"/messages", map[string]any{"text": "from the system"}), "id")
		a.open(aliceConv)
		a.until("Mia's message", query(msg(byMia)))
		a.until("the key's message", query(msg(byKey)))
		who := func(b *tab, id string) string { return b.text(msg(id) + " .who") }
		if got := who(a, byMia); got != "Mia Manager" {
			t.Errorf("Mia's message is from %q", got)
		}
		if got := who(a, byKey); got != "API key" {
			t.Errorf("to a plain agent the key's message is from %q", got)
		}
		if got := a.text(".timeline .msg.in .who"); got != "Alice" {
			t.Errorf("the peer's message is from %q", got)
		}
		// An admin, who may list the keys, sees which.
		ada := admin.newBrowserAgent(int(convo.PermissionCustomerAdmin), "Ada Admin")
		keyID := str(t, admin.ok("GET", "/v1.0/me", nil), "accesskey_id")
		name := str(t, admin.ok("GET", "/v1.0/accesskeys/"+keyID, nil), "name")
		d := w.tab()
		d.login(ada.Username, ada.Password)
		d.open(aliceConv)
		d.until("the key's message", query(msg(byKey)))
		if got := who(d, byKey); got != "API key "+name {
			t.Errorf("to an admin the key's message is from %q, want the key %q", got, name)
		}
		// A flow's answer is the bot's.
		bot := w.e.newAccount(admin, convo.AccountLine)
		admin.ok("PUT", "/v1.0/conversation_accounts/"+bot.ID, map[string]any{"message_flow_id": flowCreate(admin, flowSendAction("", "bot: hello"))})
		_, zedConv := w.peer(bot, "Zed", "hi bot", "")
		a.open(zedConv)
		a.until("the flow's answer", has(".timeline .msg.out .text", "bot: hello"))
		if got := a.text(".timeline .msg.out .who"); got != "bot" {
			t.Errorf("the flow's message is from %q", got)
		}
	})

	t.Run("canned: a response with variables is sent for the server to fill", func(t *testing.T) {
		a.t = t
		admin.ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": "greet",
			"text": "Hello ${voipbin.conversation.peer.target_name}, this is ${voipbin.agent.name}."})
		a.open(aliceConv)
		a.run(chromedp.Focus(chromedp.CSS("#composer")))
		pick := func() {
			t.Helper()
			a.typeText("/gre")
			a.until("the suggestion", `!document.querySelector("#canned").hidden && `+has("#canned li", "/greet"))
			a.press("Enter")
			a.until("the response held", `document.querySelector("#composer").readOnly && !document.querySelector("#canned-hint").hidden`)
		}
		pick()
		a.press("Escape")
		a.until("dropped", `!document.querySelector("#composer").readOnly && document.querySelector("#composer").value === ""`)
		pick()
		a.press("Enter")
		a.until("the filled message", has(".timeline .msg.out .text", "Hello Alice, this is Ann Agent."))
		last := rows(t, admin.ok("GET", "/v1.0/conversations/"+aliceConv+"/messages?page_size=1", nil))[0]
		if last["text"] != "Hello Alice, this is Ann Agent." || senderOf(last) != "agent "+ann.ID {
			t.Errorf("sent %v by %s", last["text"], senderOf(last))
		}
		var v string
		a.js(`document.querySelector("#composer").value`, &v)
		if v != "" {
			t.Errorf("the composer keeps %q", v)
		}
	})
}

// isHidden says whether the element sel matches is hidden.
func (b *tab) isHidden(sel string) bool {
	b.t.Helper()
	var hidden bool
	b.js(fmt.Sprintf(`document.querySelector(%q).hidden`, sel), &hidden)
	return hidden
}

// query is a JS expression: the first element sel matches, or null.
func query(sel string) string { return fmt.Sprintf("document.querySelector(%q)", sel) }
