package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// An upload answers VoIPbin's media shape, a send names it by id, and the
// provider is given a signed URL that serves it without a credential.
func TestMediaUploadAndSend(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		photo := pngOf(t, 20, 20)
		r := a.upload("", "receipt.png", "image/png", photo)
		if r.Status != http.StatusOK {
			t.Fatalf("upload: %d %s", r.Status, r.Body)
		}
		up := r.JSON(t)
		id := str(t, up, "id")
		if up["customer_id"] != e.ts.CustomerID || up["type"] != "image" || up["filename"] != "receipt.png" || up["content_type"] != "image/png" ||
			up["size"] != float64(len(photo)) || up["status"] != "stored" || up["url"] != e.ts.URL()+"/v1.0/medias/"+id || up["tm_create"] == nil {
			t.Fatalf("upload answered %v", up)
		}
		wantBytes(t, a.do("GET", "/v1.0/medias/"+id, nil), photo, "image/png", `inline; filename=receipt.png`)
		doc := a.upload("file", "terms.pdf", "application/pdf", []byte("%PDF-1.4 terms"))
		docID := str(t, doc.JSON(t), "id")
		wantBytes(t, a.do("GET", "/v1.0/medias/"+docID, nil), []byte("%PDF-1.4 terms"), "application/pdf", `attachment; filename=terms.pdf`)

		t.Run("WhatsApp gets a signed URL", func(t *testing.T) {
			acc := e.newAccount(a, convo.AccountWhatsApp)
			// The customer writes first: WhatsApp's window is open.
			from := waID()
			wantStatus(t, e.postWhatsApp(t, acc, waWebhook(acc, waInbound(from, "Wes", waText("my receipt please")))), http.StatusOK)
			conv := convWith(a, acc.ID, from)
			msg := a.ok("POST", "/v1.0/conversations/"+str(t, conv, "id")+"/messages", map[string]any{"medias": []any{map[string]any{"id": id, "type": "image", "filename": ""}}})
			medias := msg["medias"].([]any)
			if md := medias[0].(map[string]any); md["id"] != id || md["status"] != "stored" || md["filename"] != "receipt.png" {
				t.Errorf("sent media %v, want the upload", md)
			}
			if msg["status"] != "done" {
				t.Fatalf("message %v, want done", msg)
			}
			sent := e.wa.Sent()
			link := sent[len(sent)-1].Link
			if !strings.HasPrefix(link, e.ts.URL()+"/v1.0/medias/"+id+"?") || !strings.Contains(link, "signature=") {
				t.Fatalf("WhatsApp was given %q, want a signed URL of the upload", link)
			}
			wantBytes(t, fetch(t, link), photo, "image/png", "")
		})
		t.Run("Twilio gets a signed URL; a URL in filename keeps working", func(t *testing.T) {
			acc := e.newAccount(a, convo.AccountSMS)
			conv := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": uniquePhone()}})
			a.ok("POST", "/v1.0/conversations/"+str(t, conv, "id")+"/messages", map[string]any{"text": "two", "medias": []any{
				map[string]any{"id": id}, map[string]any{"type": "image", "filename": "https://example.com/map.png"}}})
			sent := e.tw.Sent()
			urls := sent[len(sent)-1].MediaURLs
			if len(urls) != 2 || !strings.HasPrefix(urls[0], e.ts.URL()+"/v1.0/medias/"+id+"?") || urls[1] != "https://example.com/map.png" {
				t.Fatalf("Twilio was given %v", urls)
			}
			wantBytes(t, fetch(t, urls[0]), photo, "image/png", "")
		})
	})
}

// What a provider would refuse is refused before sending, naming the limit.
func TestMediaSendLimits(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		uploadID := func(typ, name, ct string, size int) string {
			r := a.upload(typ, name, ct, append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{1}, size)...))
			if r.Status != http.StatusOK {
				t.Fatalf("upload: %d %s", r.Status, r.Body)
			}
			return str(t, r.JSON(t), "id")
		}
		bigPNG := uploadID("", "big.png", "image/png", 6<<20)
		gif := uploadID("", "a.gif", "image/gif", 100)
		doc := uploadID("file", "a.pdf", "application/pdf", 100)
		wa := e.newAccount(a, convo.AccountWhatsApp)
		waConv := str(t, a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": wa.ID, "peer": map[string]any{"type": "whatsapp", "target": waID()}}), "id")
		line := e.newAccount(a, convo.AccountLine)
		lineConv := str(t, a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": line.ID, "peer": map[string]any{"type": "line", "target": lineID('U')}}), "id")
		sms := e.newAccount(a, convo.AccountSMS)
		smsConv := str(t, a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": sms.ID, "peer": map[string]any{"type": "tel", "target": uniquePhone()}}), "id")
		sendMedia := func(conv string, ids ...string) map[string]any {
			var medias []any
			for _, id := range ids {
				medias = append(medias, map[string]any{"id": id})
			}
			return map[string]any{"medias": medias}
		}
		for _, c := range []struct {
			name, conv, reason, says string
			ids                      []string
		}{
			{"WhatsApp images up to 5 MB", waConv, convo.ReasonMediaTooLarge, "5 MB", []string{bigPNG}},
			{"WhatsApp images are JPEG or PNG", waConv, convo.ReasonMediaType, "image/jpeg, image/png", []string{gif}},
			{"LINE takes no files", lineConv, convo.ReasonMediaType, "file", []string{doc}},
			{"LINE fetches media over https only", lineConv, convo.ReasonMediaNotHTTPS, "https", []string{uploadID("", "small.png", "image/png", 100)}},
			{"WhatsApp files are documents", waConv, convo.ReasonMediaType, "application/pdf", []string{uploadID("file", "a.zip", "application/zip", 100)}},
			{"an MMS up to 5 MB", smsConv, convo.ReasonMediaTooLarge, "5 MB", []string{bigPNG}},
			{"another customer's upload is no upload", waConv, convo.ReasonMediaNotFound, "", []string{convo.NewID()}},
		} {
			t.Run(c.name, func(t *testing.T) {
				before := len(msgsOf(a, c.conv))
				err := a.fails("POST", "/v1.0/conversations/"+c.conv+"/messages", sendMedia(c.conv, c.ids...), http.StatusBadRequest, c.reason)
				if !strings.Contains(str(t, err, "message"), c.says) {
					t.Errorf("error %v does not name the limit %q", err, c.says)
				}
				if n := len(msgsOf(a, c.conv)); n != before {
					t.Errorf("a refused send stored a message")
				}
			})
		}
		_, otherKey := e.ts.superAdmin(t).newCustomer()
		e.as(t, otherKey).fails("POST", "/v1.0/conversations/"+waConv+"/messages", sendMedia(waConv, gif), http.StatusNotFound, "")
		e.as(t, otherKey).fails("GET", "/v1.0/medias/"+gif, nil, http.StatusNotFound, convo.ReasonMediaNotFound)
		// Within the limits, each goes out.
		a.ok("POST", "/v1.0/conversations/"+smsConv+"/messages", sendMedia(smsConv, gif))
		r := a.upload("", "", "text/plain", nil)
		if r.Status != http.StatusBadRequest {
			t.Errorf("an empty upload: %d", r.Status)
		}
	})
}
