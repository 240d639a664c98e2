package main

import (
	"fmt"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// The inbox's main path in Firefox: log in, the list, a thread, a reply
// sent with Enter (Shift+Enter a new line), a message arriving live through
// a signed hook, the keyboard's way through list and thread, log out.
// Script errors and policy violations fail it (see startFirefox).
func TestInboxFirefox(t *testing.T) {
	ff := startFirefox(t)
	e := newChannelEnv(t, testdb.SQLite(t))
	admin := e.admin(t)
	w := &inboxWorld{t: t, e: e, admin: admin, acc: e.newAccount(admin, convo.AccountLine)}
	ann := admin.newBrowserAgent(int(convo.PermissionCustomerAgent), "Ann Agent")
	alice, aliceConv := w.peer(w.acc, "Alice", "hello from Alice", ann.ID)
	base := e.ts.URL()

	ff.navigate(base + "/")
	ff.until("the login page", `!document.querySelector("#login").hidden && document.activeElement.id === "username"`)
	ff.typeKeys(ann.Username)
	ff.click("#password")
	ff.typeKeys(ann.Password + "{Enter}")
	ff.until("the inbox", `!document.querySelector("#app").hidden`)
	var stored bool
	ff.js(`sessionStorage.getItem("convo.token") !== null && !location.href.includes("token")`, &stored)
	if !stored {
		t.Error("the token is not in sessionStorage, or it is in the address")
	}

	rowOf := fmt.Sprintf(`[...document.querySelectorAll("#list .row")].find(r => r.querySelector(".peer").textContent === %q)`, "Alice")
	ff.until("Alice in Mine", rowOf+` && `+rowOf+`.querySelector(".preview").textContent === "hello from Alice"`)
	ff.click("#list .row")
	ff.until("the thread", `location.hash === "#/c/`+aliceConv+`" && document.querySelector("#composer") && `+
		has(".timeline .msg.in .text", "hello from Alice"))

	ff.click("#composer")
	ff.typeKeys("Hello from Firefox{Enter}")
	ff.until("the reply in the thread, delivered", has(".timeline .msg.out .text", "Hello from Firefox")+
		` && [...document.querySelectorAll(".timeline .msg.out")].some(m => m.textContent.includes("Hello from Firefox") && m.querySelector(".st.done"))`)
	var composer string
	ff.js(`document.querySelector("#composer").value`, &composer)
	if composer != "" {
		t.Errorf("the composer still holds %q after Enter", composer)
	}
	if sent := e.line.Sent(); len(sent) == 0 || len(sent[len(sent)-1].Messages) != 1 || sent[len(sent)-1].Messages[0].Text != "Hello from Firefox" {
		t.Errorf("LINE received %+v, want the reply", sent)
	}

	ff.typeKeys("line one{Shift+Enter}line two")
	ff.js(`document.querySelector("#composer").value`, &composer)
	if composer != "line one\nline two" {
		t.Errorf("after Shift+Enter the composer holds %q, want two lines", composer)
	}
	ff.typeKeys("{Enter}")
	ff.until("the two-line reply", has(".timeline .msg.out .text", "line one\nline two"))

	w.inbound(w.acc, alice, "a live one for Firefox")
	ff.until("the hooked message, live", has(".timeline .msg.in .text", "a live one for Firefox"))

	// A canned response with variables, chosen after "/", sent for the server to fill.
	admin.ok("POST", "/v1.0/canned_responses", map[string]any{"short_code": "greet",
		"text": "Hello ${voipbin.conversation.peer.target_name}, this is ${voipbin.agent.name}."})
	ff.click("#composer")
	ff.typeKeys("/gre")
	ff.until("the suggestion", `!document.querySelector("#canned").hidden && `+has("#canned li", "/greet"))
	ff.typeKeys("{Enter}")
	ff.until("the response held", `document.querySelector("#composer").readOnly`)
	ff.typeKeys("{Enter}")
	ff.until("the filled message", has(".timeline .msg.out .text", "Hello Alice, this is Ann Agent."))

	// Search: a hit opens the thread at the message.
	ff.click("#search")
	ff.typeKeys("live one{Enter}")
	ff.until("the results", `!document.querySelector("#search-results").hidden && `+has("#search-results", "live one for Firefox"))
	ff.click("#search-results button, #search-results a, #search-results li")
	ff.until("the thread at the match", `location.hash.includes("/m/") && document.querySelector(".timeline .match")`)

	// By keyboard alone: back to the list, down to the row, open, resolve.
	ff.typeKeys("{Escape}{Escape}")
	ff.until("the thread closed", `location.hash === "" && !document.querySelector("#composer")`)
	ff.typeKeys("j{Enter}")
	ff.until("the thread opened by keyboard", `document.querySelector("#composer") && document.activeElement.closest("#list .row")`)
	ff.typeKeys("e")
	ff.until("resolved, and out of the Open list", `!document.querySelector("#list .row")`)
	if got := str(t, admin.ok("GET", "/v1.0/conversations/"+aliceConv, nil), "status"); got != convo.StatusResolved {
		t.Errorf("status %s after e, want resolved", got)
	}

	ff.click("#logout")
	ff.until("the login page again", `!document.querySelector("#login").hidden && `+has("#login-message", "You have logged out."))
	ff.js(`sessionStorage.getItem("convo.token") === null`, &stored)
	if !stored {
		t.Error("the token outlived the logout")
	}
}
