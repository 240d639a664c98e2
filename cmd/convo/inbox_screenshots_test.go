package main

import (
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "rewrite docs/screenshots from TestInboxScreenshots")

// TestInboxScreenshots renders the inbox's login, list and thread, on a
// desktop and at 375 px, into docs/screenshots (see the README):
//
//	go test ./cmd/convo -run TestInboxScreenshots -args -update-screenshots
func TestInboxScreenshots(t *testing.T) {
	if !*updateScreenshots {
		t.Skip("run with -args -update-screenshots to rewrite docs/screenshots")
	}
	browser(t)
	e := newChannelEnv(t, testdb.SQLite(t))
	admin := e.admin(t)
	acc := e.newAccount(admin, convo.AccountLine)
	dana := admin.newBrowserAgent(int(convo.PermissionCustomerAgent), "Dana Reyes")
	var first string
	for _, p := range []struct{ name, text string }{
		{"Carla Souza", "Is the store open on Sunday?"},
		{"Bob Martin", "My parcel has not arrived yet, order 4471."},
		{"Alice Chen", "Hi! Can I change the delivery address?"},
	} {
		user := lineID('U')
		e.line.AddProfile(user, p.name)
		wantStatus(t, e.postLine(t, acc, lineWebhook(lineEvent("follow", lineUser(user)))), http.StatusOK)
		wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(user), lineText(p.text)))), http.StatusOK)
		first = str(t, convWith(admin, acc.ID, user), "id")
		admin.ok("PUT", "/v1.0/conversations/"+first, map[string]any{"owner_id": dana.ID})
	}
	admin.ok("POST", "/v1.0/labels", map[string]any{"name": "delivery", "color": "#1e7a3a"})
	admin.ok("PUT", "/v1.0/conversations/"+first+"/labels", map[string]any{"labels": []string{"delivery"}})
	admin.ok("POST", "/v1.0/conversations/"+first+"/messages", map[string]any{"text": "Of course. Which address should we use?"})
	peer := str(t, obj(t, admin.ok("GET", "/v1.0/conversations/"+first, nil), "peer"), "target")
	wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(peer), lineText("12 Harbour Street, please.")))), http.StatusOK)
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shoot := func(b *tab, name string) {
		t.Helper()
		png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 800}, {"375", 375, 812}} {
		b := newTab(t, e.ts.URL())
		b.run(chromedp.EmulateViewport(size.w, size.h))
		b.run(chromedp.Navigate(e.ts.URL()+"/"), chromedp.WaitVisible(chromedp.CSS("#username")))
		shoot(b, "login-"+size.name)
		b.login(dana.Username, dana.Password)
		b.until("the list", `document.querySelectorAll("#list .row").length === 3`)
		shoot(b, "list-"+size.name)
		b.open(first)
		b.until("the thread", has(".timeline .msg.in", "Harbour Street"))
		shoot(b, "thread-"+size.name)
	}
}
