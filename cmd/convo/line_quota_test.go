package main

import (
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
)

// LINE's monthly quota: shown as LINE counts it, and a push over it fails at
// once with LINE's reason instead of being retried for hours; LINE's rate
// limit (also a 429) is still retried.
func TestLineQuota(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountLine)
		quotaOf := func(t *testing.T, id string) map[string]any {
			return e.admin(t).ok("GET", "/v1.0/conversation_accounts/"+id+"/quota", nil)
		}

		t.Run("no limit", func(t *testing.T) {
			q := quotaOf(t, acc.ID)
			if q["account_id"] != acc.ID || q["type"] != "none" || q["value"] != nil || q["total_usage"] != 0.0 {
				t.Errorf("quota %v, want none used", q)
			}
		})

		t.Run("pushes count, replies don't, and the month's limit fails at once", func(t *testing.T) {
			a := a.in(t)
			e.line.SetQuota(acc.Token, 2)
			conv := startThread(a, acc)
			for _, text := range []string{"first", "second"} {
				waitStatus(a, conv, str(t, send(a, conv, map[string]any{"text": text}), "id"), convo.MessageDone)
			}
			user := lineID('U')
			replyConv, _ := e.lineInbound(t, acc, user, "hi")
			wantMethod(t, lineSent(a, replyConv, send(a, replyConv, map[string]any{"text": "a free reply"})), convo.LineReply)
			q := quotaOf(t, acc.ID)
			if q["type"] != "limited" || q["value"] != 2.0 || q["total_usage"] != 2.0 {
				t.Errorf("quota %v, want limited to 2 with 2 used", q)
			}
			calls := e.line.Calls(acc.Token)
			m := send(a, conv, map[string]any{"text": "over the limit"})
			waitStatus(a, conv, str(t, m, "id"), convo.MessageFailed)
			if n := e.line.Calls(acc.Token) - calls; n != 1 {
				t.Errorf("LINE was asked %d times, want once: the limit lasts the month", n)
			}
			got := msgOf(a, conv, str(t, m, "id"))
			if e, _ := got["error"].(map[string]any); e["code"] != "429" || e["message"] != "You have reached your monthly limit." {
				t.Errorf("error %v, want LINE's 429 and its message", got["error"])
			}
		})

		t.Run("the rate limit is retried", func(t *testing.T) {
			a := a.in(t)
			other := e.newAccount(a, convo.AccountLine)
			e.line.RateLimit(other.Token, 1)
			conv := startThread(a, other)
			waitStatus(a, conv, str(t, send(a, conv, map[string]any{"text": "patience"}), "id"), convo.MessageDone)
			if n := e.line.Calls(other.Token); n != 2 {
				t.Errorf("LINE was asked %d times, want a retry after its 429", n)
			}
		})

		t.Run("only LINE accounts of the caller's customer, for admins", func(t *testing.T) {
			a := a.in(t)
			sms := e.newAccount(a, convo.AccountSMS)
			a.fails("GET", "/v1.0/conversation_accounts/"+sms.ID+"/quota", nil, http.StatusConflict, "QUOTA_NOT_SUPPORTED")
			_, key := e.ts.superAdmin(t).newCustomer()
			stranger := e.as(t, key)
			stranger.fails("GET", "/v1.0/conversation_accounts/"+acc.ID+"/quota", nil, http.StatusNotFound, convo.ReasonAccountNotFound)
			stranger.fails("GET", "/v1.0/conversation_accounts/"+convo.NewID()+"/quota", nil, http.StatusNotFound, convo.ReasonAccountNotFound)
			a.fails("GET", "/v1.0/conversation_accounts/not-an-id/quota", nil, http.StatusBadRequest, "")
			_, agent := a.newAgent(convo.PermissionCustomerAgent)
			e.as(t, agent).fails("GET", "/v1.0/conversation_accounts/"+acc.ID+"/quota", nil, http.StatusForbidden, "")
			gone := e.newAccount(a, convo.AccountLine)
			a.ok("DELETE", "/v1.0/conversation_accounts/"+gone.ID, nil)
			a.fails("GET", "/v1.0/conversation_accounts/"+gone.ID+"/quota", nil, http.StatusConflict, "ACCOUNT_DELETED")
		})
	})
}

// Video and audio go as LINE video and audio messages: a video with the
// preview image LINE requires, an audio with a duration.
func TestLineMediaOut(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		const preview = "https://cdn.example.com/preview.png"
		e := newChannelEnv(t, b, withConfig(func(c *Config) { c.LineVideoPreviewURL = preview }))
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountLine)
		conv := startThread(a, acc)
		video, audio, doc := "https://cdn.example.com/clip.mp4", "https://cdn.example.com/voice.m4a", "https://cdn.example.com/terms.pdf"
		m := send(a, conv, map[string]any{"text": "the clip", "medias": []any{
			map[string]any{"type": "video", "filename": video}, map[string]any{"type": "audio", "filename": audio}, map[string]any{"type": "file", "filename": doc}}})
		waitStatus(a, conv, str(t, m, "id"), convo.MessageDone)
		pushes := e.line.Sent()
		want := []fakeprovider.LinePushMessage{{Type: "text", Text: "the clip"},
			{Type: "video", OriginalContentURL: video, PreviewImageURL: preview},
			{Type: "audio", OriginalContentURL: audio, Duration: 60000},
			{Type: "text", Text: doc}}
		if len(pushes) != 1 || !reflect.DeepEqual(pushes[0].Messages, want) {
			t.Errorf("LINE got %+v, want %+v", pushes, want)
		}

		// Without a setting, the preview is the inbox's own image.
		r, err := http.Get(e.ts.URL() + "/inbox/video-preview.png")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != "image/png" || len(body) < 8 || string(body[1:4]) != "PNG" {
			t.Errorf("GET /inbox/video-preview.png: %d %s, %d bytes", r.StatusCode, r.Header.Get("Content-Type"), len(body))
		}
	})
}
