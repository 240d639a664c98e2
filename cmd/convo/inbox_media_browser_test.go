package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// The inbox shows a stored inbound image inline from convo's signed URL,
// other stored media as links, and a medium still downloading as pending;
// a medium stored while the thread is open appears by itself.
func TestInboxMediaBrowser(t *testing.T) {
	browser(t)
	// Retries an hour apart: a failed download stays pending for the test.
	e := newChannelEnv(t, testdb.SQLite(t), withSending(2*time.Second, time.Hour))
	admin := e.admin(t)
	acc := e.newAccount(admin, convo.AccountLine)
	mia := admin.newBrowserAgent(int(convo.PermissionCustomerManager), "Mia Manager")
	user := lineID('U')
	photo := pngOf(t, 40, 30)
	post := func(msgType, ct string, data []byte) string {
		t.Helper()
		id := lineMessageID()
		if data != nil {
			e.line.AddContent(id, acc.Token, ct, data)
		}
		m := map[string]any{"id": id, "type": msgType, "contentProvider": map[string]any{"type": "line"}}
		if msgType == "file" {
			m = map[string]any{"id": id, "type": "file", "fileName": "terms.pdf", "fileSize": len(data)}
		}
		wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(user), m))), http.StatusOK)
		return id
	}
	waitStatus := func(convID string, n int, want string) string {
		t.Helper()
		var mediaID string
		eventually(t, 10*time.Second, func() error {
			msgs := msgsOf(admin, convID)
			if len(msgs) < n {
				return fmt.Errorf("%d messages", len(msgs))
			}
			md := msgs[0]["medias"].([]any)[0].(map[string]any)
			if md["status"] != want {
				return fmt.Errorf("medium %v, want %s", md, want)
			}
			mediaID = md["id"].(string)
			return nil
		})
		return mediaID
	}
	post("image", "image/png", photo)
	convID := str(t, convWith(admin, acc.ID, user), "id")
	imageID := waitStatus(convID, 1, "stored")
	post("file", "application/pdf", []byte("%PDF-1.4 terms"))
	fileID := waitStatus(convID, 2, "stored")
	e.line.FailMedia(1)
	post("image", "image/png", photo)
	pendingID := waitStatus(convID, 3, "pending")
	// Pending from the start: wait for its download to have failed, so that
	// no later medium takes that failure.
	eventually(t, 10*time.Second, func() error {
		if n := e.line.FailuresLeft(); n != 0 {
			return fmt.Errorf("%d failures left", n)
		}
		return nil
	})

	base := e.ts.URL()
	b := newTab(t, base)
	b.login(mia.Username, mia.Password)
	b.open(convID)
	sel := func(id string) string { return fmt.Sprintf(`.timeline [data-media="%s"]`, id) }
	signedPrefix := func(id string) string { return base + "/v1.0/medias/" + id + "?expires=" }

	t.Run("a stored image is shown inline from a signed URL", func(t *testing.T) {
		b.t = t
		b.until("the image loaded", fmt.Sprintf(`(document.querySelector(%q) || {}).naturalWidth === 40`, sel(imageID)+" img"))
		var src string
		b.js(fmt.Sprintf(`document.querySelector(%q).src`, sel(imageID)+" img"), &src)
		if !strings.HasPrefix(src, signedPrefix(imageID)) || strings.Contains(src, mia.Token) {
			t.Errorf("img src %q, want convo's signed URL", src)
		}
	})
	t.Run("other media are links, a download in progress shows as pending", func(t *testing.T) {
		b.t = t
		b.until("the file's link", fmt.Sprintf(`(document.querySelector(%q) || {}).href?.startsWith(%q)`, sel(fileID), signedPrefix(fileID)))
		if got := b.text(sel(fileID)); got != "file attachment" {
			t.Errorf("file link reads %q", got)
		}
		if got := b.text(sel(pendingID)); !strings.Contains(got, "downloading") {
			t.Errorf("the pending medium reads %q", got)
		}
		var imgs int
		b.js(fmt.Sprintf(`document.querySelectorAll(%q).length`, sel(pendingID)+" img"), &imgs)
		if imgs != 0 {
			t.Errorf("a pending medium shows an image")
		}
	})
	t.Run("a medium stored while the thread is open appears by itself", func(t *testing.T) {
		b.t = t
		post("image", "image/png", pngOf(t, 24, 24))
		liveID := waitStatus(convID, 4, "stored")
		b.until("the new image loaded", fmt.Sprintf(`(document.querySelector(%q) || {}).naturalWidth === 24`, sel(liveID)+" img"))
	})
}
