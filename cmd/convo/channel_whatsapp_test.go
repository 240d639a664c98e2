package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
)

// ---------------------------------------------------------------- WhatsApp

func TestWhatsAppInbound(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		acc := e.newAccount(e.admin(t), convo.AccountWhatsApp)

		t.Run("verification handshake", func(t *testing.T) {
			get := func(target string) *response {
				res, err := http.Get(target)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				body, _ := io.ReadAll(res.Body)
				return &response{Status: res.StatusCode, Header: res.Header, Body: body}
			}
			query := func(mode, token, challenge string) string {
				return "?" + url.Values{"hub.mode": {mode}, "hub.verify_token": {token}, "hub.challenge": {challenge}}.Encode()
			}
			r := get(acc.Hook + query("subscribe", acc.Secret, "1158201444"))
			wantStatus(t, r, http.StatusOK)
			if string(r.Body) != "1158201444" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("answer %q (%s), want the challenge alone as text/plain", r.Body, r.Header.Get("Content-Type"))
			}
			for name, target := range map[string]string{
				"wrong verify token":  acc.Hook + query("subscribe", acc.Secret+"x", "1158201444"),
				"no verify token":     acc.Hook + query("subscribe", "", "1158201444"),
				"other mode":          acc.Hook + query("unsubscribe", acc.Secret, "1158201444"),
				"app secret as token": acc.Hook + query("subscribe", acc.AppSecret, "1158201444"),
			} {
				r := get(target)
				wantRefused(t, r, http.StatusForbidden, convo.EForbidden, "")
				if strings.Contains(string(r.Body), "1158201444") {
					t.Errorf("%s: the challenge was echoed", name)
				}
			}
			line := e.newAccount(e.admin(t), convo.AccountLine)
			wantRefused(t, get(line.Hook+query("subscribe", line.Secret, "42")), http.StatusForbidden, convo.EForbidden, "")
			wantRefused(t, get(e.ts.URL()+"/v1.0/conversation/accounts/"+convo.NewID()+query("subscribe", acc.Secret, "42")), http.StatusNotFound, convo.ENotFound, "")
		})

		user := waID()
		var conv map[string]any
		t.Run("a text message creates the conversation", func(t *testing.T) {
			a := e.admin(t)
			wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Dave", waText("Hi, is the shop open?")))), http.StatusOK)
			conv = convWith(a, acc.ID, user)
			checkConversation(t, conv, acc, e.ts.CustomerID, "whatsapp", user, "WhatsApp · Dave ("+user+")", "WhatsApp conversation")
			checkAddress(t, "self", conv["self"], "whatsapp", acc.DisplayNumber, "")
			checkAddress(t, "peer", conv["peer"], "whatsapp", user, "Dave")
			msgs := msgsOf(a, str(t, conv, "id"))
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want 1", len(msgs))
			}
			checkMessage(t, msgs[0], conv, "incoming", "done", "Hi, is the shop open?")
		})

		t.Run("media and location messages reuse it", func(t *testing.T) {
			a := e.admin(t)
			media := func(id string) string { return e.wa.URL() + "/" + fakeprovider.WhatsAppAPIVersion + "/" + id }
			cases := []struct {
				msg   map[string]any
				text  string
				media wantMedia
			}{
				{map[string]any{"type": "image", "image": map[string]any{"id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "abc", "caption": "the receipt"}},
					"the receipt", wantMedia{"image", media("1479537139650973")}},
				{map[string]any{"type": "document", "document": map[string]any{"id": "2479537139650973", "mime_type": "application/pdf", "sha256": "abc", "filename": "invoice.pdf"}},
					"invoice.pdf", wantMedia{"file", media("2479537139650973")}},
				{map[string]any{"type": "audio", "audio": map[string]any{"id": "3479537139650973", "mime_type": "audio/ogg; codecs=opus", "voice": true}},
					"", wantMedia{"audio", media("3479537139650973")}},
				{map[string]any{"type": "video", "video": map[string]any{"id": "4479537139650973", "mime_type": "video/mp4"}},
					"", wantMedia{"video", media("4479537139650973")}},
				{map[string]any{"type": "sticker", "sticker": map[string]any{"id": "5479537139650973", "mime_type": "image/webp", "animated": false}},
					"", wantMedia{"sticker", media("5479537139650973")}},
				{map[string]any{"type": "location", "location": map[string]any{"latitude": 37.7749, "longitude": -122.4194, "name": "Shop", "address": "1 Market St"}},
					"Shop 1 Market St", wantMedia{"location", "geo:37.7749,-122.4194"}},
			}
			for _, c := range cases {
				wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(user, "Dave", c.msg))), http.StatusOK)
				if got := convsOf(a, acc.ID); len(got) != 1 {
					t.Fatalf("%d conversations, want 1", len(got))
				}
				checkMessage(t, msgsOf(a, str(t, conv, "id"))[0], conv, "incoming", "done", c.text, c.media)
			}
		})

		t.Run("a payload for another phone_number_id is refused", func(t *testing.T) {
			a := e.admin(t)
			other := *acc
			other.PhoneNumberID = "999" + acc.PhoneNumberID
			stranger := waID()
			r := e.postWhatsApp(t, acc, waWebhook(&other, waInbound(stranger, "Eve", waText("wrong number"))))
			wantRefused(t, r, http.StatusForbidden, convo.EForbidden, "")
			if n := len(rows(t, a.ok("GET", "/v1.0/conversations"+q("dialog_id", stranger), nil))); n != 0 {
				t.Errorf("%d conversations stored from a payload for another number", n)
			}
		})
	})
}
