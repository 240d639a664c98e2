package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// An inbound LINE image is downloaded after the hook's 200 with the channel
// token, shown stored on the message, and served to whoever may see the
// conversation, or through a signed URL until it expires.
func TestMediaInboundLine(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		clock := &offsetClock{}
		e := newChannelEnv(t, b, withClock(clock))
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountLine)
		user, msgID := lineID('U'), lineMessageID()
		photo := pngOf(t, 40, 30)
		e.line.AddContent(msgID, acc.Token, "image/png", photo)
		ev := lineMessage(lineUser(user), map[string]any{"id": msgID, "type": "image", "contentProvider": map[string]any{"type": "line"}})
		wantStatus(t, e.postLine(t, acc, lineWebhook(ev)), http.StatusOK)
		conv := convWith(a, acc.ID, user)
		convID := str(t, conv, "id")

		md := mediaOf(t, a, convID)
		id := str(t, md, "id")
		content := e.line.URL() + "/v2/bot/message/" + msgID + "/content"
		if md["status"] != "stored" || md["type"] != "image" || md["filename"] != content || md["content_type"] != "image/png" ||
			md["size"] != float64(len(photo)) || md["url"] != e.ts.URL()+"/v1.0/medias/"+id {
			t.Fatalf("medium %v, want stored with its convo URL, keeping the provider's URL as filename", md)
		}
		if n := e.line.MediaFetches(msgID); n != 1 {
			t.Errorf("LINE's content was downloaded %d times, want once", n)
		}
		// A provider's redelivery stores nothing again, and downloads nothing again.
		wantStatus(t, e.postLine(t, acc, lineWebhook(lineRedelivery(ev))), http.StatusOK)

		t.Run("served to whoever may see the conversation", func(t *testing.T) {
			wantBytes(t, a.do("GET", "/v1.0/medias/"+id, nil), photo, "image/png", `inline; filename=image-`+id[:8]+`.png`)
			_, otherKey := e.ts.superAdmin(t).newCustomer()
			e.as(t, otherKey).fails("GET", "/v1.0/medias/"+id, nil, http.StatusNotFound, convo.ReasonMediaNotFound)
			e.as(t, otherKey).fails("GET", "/v1.0/medias/"+id+"/signed_url", nil, http.StatusNotFound, convo.ReasonMediaNotFound)
			a.fails("GET", "/v1.0/medias/"+convo.NewID(), nil, http.StatusNotFound, convo.ReasonMediaNotFound)
			a.fails("GET", "/v1.0/medias/not-an-id", nil, http.StatusNotFound, convo.ReasonMediaNotFound)
			call(t, "GET", e.ts.URL()+"/v1.0/medias/"+id, "", nil)
			if r := call(t, "GET", e.ts.URL()+"/v1.0/medias/"+id, "", nil); r.Status != http.StatusUnauthorized {
				t.Errorf("without a credential: status %d, want 401", r.Status)
			}

			// A plain agent sees it once the conversation is hers, not before.
			a.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": false})
			annID, ann := a.newAgent(convo.PermissionCustomerAgent)
			e.as(t, ann).fails("GET", "/v1.0/medias/"+id, nil, http.StatusNotFound, convo.ReasonMediaNotFound)
			a.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"owner_type": "agent", "owner_id": annID})
			wantBytes(t, e.as(t, ann).do("GET", "/v1.0/medias/"+id, nil), photo, "image/png", "")
		})

		t.Run("a signed URL serves it without a credential until it expires", func(t *testing.T) {
			signed := a.ok("GET", "/v1.0/medias/"+id+"/signed_url", nil)
			u := str(t, signed, "url")
			if !strings.HasPrefix(u, e.ts.URL()+"/v1.0/medias/"+id+"?") || strings.Contains(u, e.ts.AdminKey) {
				t.Fatalf("signed URL %q", u)
			}
			wantBytes(t, fetch(t, u), photo, "image/png", "")
			forged := u[:len(u)-4] + "0000"
			if forged == u {
				forged = u[:len(u)-4] + "1111"
			}
			for _, bad := range []string{forged, strings.Replace(u, "expires=", "expires=9", 1), e.ts.URL() + "/v1.0/medias/" + id + "?signature=&expires=1"} {
				if r := fetch(t, bad); r.Status != http.StatusForbidden || !bytes.Contains(r.Body, []byte(convo.ReasonMediaSignature)) {
					t.Errorf("%s: status %d %s, want 403 %s", bad, r.Status, r.Body, convo.ReasonMediaSignature)
				}
			}
			clock.advance(time.Hour + time.Minute)
			if r := fetch(t, u); r.Status != http.StatusForbidden {
				t.Errorf("an expired signed URL: status %d, want 403", r.Status)
			}
		})
	})
}

// WhatsApp's media id is turned into a download URL, and both calls carry
// the bearer token; Twilio's MediaUrl is fetched with the account's SID
// and auth token where the account enforces them.
func TestMediaInboundWhatsAppAndTwilio(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		t.Run("WhatsApp", func(t *testing.T) {
			acc := e.newAccount(a, convo.AccountWhatsApp)
			from, mediaID := waID(), "1479537139650999"
			clip := []byte("\x00\x00\x00\x18ftypmp42 a short video")
			e.wa.AddMedia(mediaID, acc.Token, "video/mp4", clip)
			body := waWebhook(acc, waInbound(from, "Wanda", map[string]any{"type": "video", "video": map[string]any{"id": mediaID, "mime_type": "video/mp4", "sha256": "x"}}))
			wantStatus(t, e.postWhatsApp(t, acc, body), http.StatusOK)
			md := mediaOf(t, a, str(t, convWith(a, acc.ID, from), "id"))
			if md["status"] != "stored" || md["content_type"] != "video/mp4" {
				t.Fatalf("medium %v, want stored video/mp4", md)
			}
			wantBytes(t, a.do("GET", "/v1.0/medias/"+str(t, md, "id"), nil), clip, "video/mp4", "")

			// A media id Meta does not know fails the medium with a reason; the message stays.
			from2 := waID()
			body = waWebhook(acc, waInbound(from2, "Vic", map[string]any{"type": "image", "image": map[string]any{"id": "999000111", "mime_type": "image/jpeg", "sha256": "x"}}))
			wantStatus(t, e.postWhatsApp(t, acc, body), http.StatusOK)
			md = mediaOf(t, a, str(t, convWith(a, acc.ID, from2), "id"))
			errObj, _ := md["error"].(map[string]any)
			if md["status"] != "failed" || errObj["code"] != convo.ReasonMediaFetch || !strings.Contains(str(t, errObj, "message"), "400") {
				t.Errorf("medium %v, want failed with the provider's answer", md)
			}
			a.fails("GET", "/v1.0/medias/"+str(t, md, "id"), nil, http.StatusNotFound, convo.ReasonMediaNotFound)
		})
		t.Run("Twilio", func(t *testing.T) {
			acc := e.newAccount(a, convo.AccountSMS)
			e.tw.EnforceMediaAuth()
			photo := []byte("\xff\xd8\xff\xe0 a jpeg")
			mediaURL := e.tw.AddMedia(acc.SID, "image/jpeg", photo)
			from := uniquePhone()
			wantStatus(t, e.postTwilio(t, acc, acc.Hook, smsForm(acc, from, "see attached", [2]string{"image/jpeg", mediaURL})), http.StatusOK)
			md := mediaOf(t, a, str(t, convWith(a, acc.ID, from), "id"))
			if md["status"] != "stored" || md["filename"] != mediaURL {
				t.Fatalf("medium %v, want stored", md)
			}
			wantBytes(t, a.do("GET", "/v1.0/medias/"+str(t, md, "id"), nil), photo, "image/jpeg", "")
		})
	})
}

// A download that fails is retried as any job; one that keeps failing, or
// is over the size limit, fails the medium with the reason.
func TestMediaInboundRetriesAndLimits(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b, withConfig(func(c *Config) { c.Media.MaxBytes = 1000 }))
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountLine)
		post := func(content []byte) map[string]any {
			user, msgID := lineID('U'), lineMessageID()
			e.line.AddContent(msgID, acc.Token, "image/png", content)
			wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(user), map[string]any{"id": msgID, "type": "image", "contentProvider": map[string]any{"type": "line"}}))), http.StatusOK)
			return mediaOf(t, a, str(t, convWith(a, acc.ID, user), "id"))
		}
		e.line.FailMedia(2)
		if md := post([]byte("png after two failures")); md["status"] != "stored" {
			t.Errorf("medium %v, want stored after the retries", md)
		}
		e.line.FailMedia(100)
		md := post([]byte("never served"))
		if errObj, _ := md["error"].(map[string]any); md["status"] != "failed" || errObj["code"] != convo.ReasonMediaFetch || !strings.Contains(str(t, errObj, "message"), "500") {
			t.Errorf("medium %v, want failed after the last retry", md)
		}
		e.line.FailMedia(0)
		md = post(bytes.Repeat([]byte("x"), 1001))
		if errObj, _ := md["error"].(map[string]any); md["status"] != "failed" || errObj["code"] != convo.ReasonMediaTooLarge || !strings.Contains(str(t, errObj, "message"), "1000 bytes") {
			t.Errorf("medium %v, want failed over the 1000-byte limit", md)
		}
		r := a.upload("", "big.png", "image/png", bytes.Repeat([]byte("x"), 1001))
		if r.Status != http.StatusBadRequest || !bytes.Contains(r.Body, []byte(convo.ReasonMediaTooLarge)) {
			t.Errorf("an upload over the limit: %d %s", r.Status, r.Body)
		}
	})
}

// The hook is answered before the download starts, and the download job is
// durable: one due after a restart runs on the next start.
func TestMediaDownloadAfterTheHook(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		clock := &offsetClock{}
		e := newChannelEnv(t, b, withClock(clock), withSending(2*time.Second, time.Hour))
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountLine)
		photo := pngOf(t, 8, 8)
		post := func() string {
			user, msgID := lineID('U'), lineMessageID()
			e.line.AddContent(msgID, acc.Token, "image/png", photo)
			wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(user), map[string]any{"id": msgID, "type": "image", "contentProvider": map[string]any{"type": "line"}}))), http.StatusOK)
			return str(t, convWith(a, acc.ID, user), "id")
		}

		release := e.line.HoldMedia()
		convID := post() // answered while LINE holds the content
		medias := msgsOf(a, convID)[0]["medias"].([]any)
		if md := medias[0].(map[string]any); md["status"] != "pending" {
			t.Errorf("while the download is held the medium is %v, want pending", md)
		}
		release()
		if md := mediaOf(t, a, convID); md["status"] != "stored" {
			t.Errorf("medium %v, want stored once LINE answers", md)
		}

		// A failed first attempt is retried an hour later, also after a restart.
		e.line.FailMedia(1)
		convID = post()
		eventually(t, 5*time.Second, func() error {
			if n := e.line.FailuresLeft(); n > 0 {
				return fmt.Errorf("the first download has not been tried")
			}
			return nil
		})
		time.Sleep(200 * time.Millisecond) // and its job is rescheduled
		if md := msgsOf(a, convID)[0]["medias"].([]any)[0].(map[string]any); md["status"] != "pending" {
			t.Fatalf("after a failed first attempt the medium is %v, want pending", md)
		}
		e.ts.restart(t)
		a = e.admin(t)
		clock.advance(2 * time.Hour)
		if md := mediaOf(t, a, convID); md["status"] != "stored" {
			t.Errorf("medium %v, want stored by the job after the restart", md)
		}
	})
}
