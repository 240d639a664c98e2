package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// inboxWorld is a server on SQLite with one LINE account, agents Ann and Ben
// (plain) and Mia (manager), for the inbox's browser tests.
type inboxWorld struct {
	t             *testing.T
	e             *channelEnv
	admin         *api
	acc           *testAccount
	ann, ben, mia browserAgent
}

func newInboxWorld(t *testing.T) *inboxWorld {
	browser(t)
	e := newChannelEnv(t, testdb.SQLite(t))
	admin := e.admin(t)
	w := &inboxWorld{t: t, e: e, admin: admin, acc: e.newAccount(admin, convo.AccountLine)}
	w.ann = admin.newBrowserAgent(int(convo.PermissionCustomerAgent), "Ann Agent")
	w.ben = admin.newBrowserAgent(int(convo.PermissionCustomerAgent), "Ben Agent")
	w.mia = admin.newBrowserAgent(int(convo.PermissionCustomerManager), "Mia Manager")
	return w
}

func (w *inboxWorld) tab() *tab { return newTab(w.t, w.e.ts.URL()) }

// inbound is a peer's message through the signed LINE hook.
func (w *inboxWorld) inbound(acc *testAccount, user, text string) {
	w.t.Helper()
	wantStatus(w.t, w.e.postLine(w.t, acc, lineWebhook(lineMessage(lineUser(user), lineText(text)))), http.StatusOK)
}

// peer starts a conversation through the hook, waits for the peer's name and
// gives it to owner (none: "").
func (w *inboxWorld) peer(acc *testAccount, name, first, owner string) (user, conv string) {
	w.t.Helper()
	user = lineID('U')
	w.e.line.AddProfile(user, name)
	wantStatus(w.t, w.e.postLine(w.t, acc, lineWebhook(lineEvent("follow", lineUser(user)))), http.StatusOK)
	w.inbound(acc, user, first)
	conv = str(w.t, convWith(w.admin, acc.ID, user), "id")
	eventually(w.t, 5*time.Second, func() error {
		if got := obj(w.t, w.admin.ok("GET", "/v1.0/conversations/"+conv, nil), "peer")["target_name"]; got != name {
			return fmt.Errorf("peer name %v", got)
		}
		return nil
	})
	if owner != "" {
		w.admin.ok("PUT", "/v1.0/conversations/"+conv, map[string]any{"owner_id": owner})
	}
	return user, conv
}

// choose sets a select's value as a person does.
func (b *tab) choose(sel, value string) {
	b.t.Helper()
	b.js(fmt.Sprintf(`(s => { s.value = %q; s.dispatchEvent(new Event("change")); })(document.querySelector(%q))`, value, sel), nil)
}

// row is a JS expression: the list's row whose peer is name.
func row(name string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#list .row")].find(r => r.querySelector(".peer").textContent === %q)`, name)
}

// rowNames is the list's peers, top to bottom.
func (b *tab) rowNames() []string {
	b.t.Helper()
	var names []string
	b.js(`[...document.querySelectorAll("#list .row .peer")].map(e => e.textContent)`, &names)
	return names
}
