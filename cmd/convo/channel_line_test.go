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

// ---------------------------------------------------------------- LINE

func TestLineInbound(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		acc := e.newAccount(e.admin(t), convo.AccountLine)
		alice, bob := lineID('U'), lineID('U')
		e.line.AddProfile(alice, "Alice")
		e.line.AddProfile(bob, "Bob")

		t.Run("the console's verify request stores nothing", func(t *testing.T) {
			wantStatus(t, e.postLine(t, acc, lineWebhook()), http.StatusOK)
			if n := len(convsOf(e.admin(t), acc.ID)); n != 0 {
				t.Errorf("%d conversations after a webhook without events", n)
			}
		})

		var aliceConv string
		t.Run("follow creates the conversation without a message and learns the name", func(t *testing.T) {
			a := e.admin(t)
			wantStatus(t, e.postLine(t, acc, lineWebhook(lineEvent("follow", lineUser(alice)))), http.StatusOK)
			c := convWith(a, acc.ID, alice)
			aliceConv = str(t, c, "id")
			checkAddress(t, "self", c["self"], "line", "", "Me")
			if n := len(msgsOf(a, aliceConv)); n != 0 {
				t.Errorf("follow stored %d messages", n)
			}
			// The display name comes from LINE's profile API after the hook is answered.
			eventually(t, 5*time.Second, func() error {
				c = a.ok("GET", "/v1.0/conversations/"+aliceConv, nil)
				if c["name"] != "LINE · Alice" {
					return fmt.Errorf("name is %v, want the auto-title with the display name", c["name"])
				}
				return nil
			})
			checkConversation(t, c, acc, e.ts.CustomerID, "line", alice, "LINE · Alice", "LINE conversation")
			checkAddress(t, "peer", c["peer"], "line", alice, "Alice")
		})

		t.Run("a message reuses the conversation", func(t *testing.T) {
			if aliceConv == "" {
				t.Skip("needs the follow subtest")
			}
			a := e.admin(t)
			wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(alice), lineText("hello there")))), http.StatusOK)
			wantStatus(t, e.postLine(t, acc, lineWebhook(lineEvent("follow", lineUser(alice)))), http.StatusOK)
			convs := convsOf(a, acc.ID)
			if len(convs) != 1 || convs[0]["id"] != aliceConv {
				t.Fatalf("conversations %v, want only %s", convs, aliceConv)
			}
			msgs := msgsOf(a, aliceConv)
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want 1", len(msgs))
			}
			checkMessage(t, msgs[0], convs[0], "incoming", "done", "hello there")
			checkAddress(t, "source", msgs[0]["source"], "line", alice, "Alice")
			checkAddress(t, "destination", msgs[0]["destination"], "line", "", "Me")
		})

		t.Run("every message type, without a prior follow", func(t *testing.T) {
			a := e.admin(t)
			mid := map[string]string{}
			for _, k := range []string{"image", "external", "video", "audio", "file", "location", "sticker"} {
				mid[k] = lineMessageID()
			}
			src := lineUser(bob)
			body := lineWebhook(
				lineMessage(src, lineText("first words")),
				lineMessage(src, map[string]any{"id": mid["image"], "type": "image", "quoteToken": "q1", "contentProvider": map[string]any{"type": "line"}}),
				lineMessage(src, map[string]any{"id": mid["external"], "type": "image", "quoteToken": "q2",
					"contentProvider": map[string]any{"type": "external", "originalContentUrl": "https://cdn.example.com/photo.jpg", "previewImageUrl": "https://cdn.example.com/photo-s.jpg"}}),
				lineMessage(src, map[string]any{"id": mid["video"], "type": "video", "duration": 8000, "contentProvider": map[string]any{"type": "line"}}),
				lineMessage(src, map[string]any{"id": mid["audio"], "type": "audio", "duration": 6000, "contentProvider": map[string]any{"type": "line"}}),
				lineMessage(src, map[string]any{"id": mid["file"], "type": "file", "fileName": "report.pdf", "fileSize": 2138}),
				lineMessage(src, map[string]any{"id": mid["location"], "type": "location", "title": "Office", "address": "1-3 Kioicho, Tokyo", "latitude": 35.687574, "longitude": 139.72922}),
				lineMessage(src, map[string]any{"id": mid["sticker"], "type": "sticker", "packageId": "446", "stickerId": "1988", "stickerResourceType": "STATIC"}),
			)
			wantStatus(t, e.postLine(t, acc, body), http.StatusOK)
			conv := convWith(a, acc.ID, bob)
			content := func(id string) string { return e.line.URL() + "/v2/bot/message/" + id + "/content" }
			want := map[string]struct {
				text  string
				media wantMedia
			}{
				"first words":                       {"first words", wantMedia{}},
				content(mid["image"]):               {"", wantMedia{"image", content(mid["image"])}},
				"https://cdn.example.com/photo.jpg": {"", wantMedia{"image", "https://cdn.example.com/photo.jpg"}},
				content(mid["video"]):               {"", wantMedia{"video", content(mid["video"])}},
				content(mid["audio"]):               {"", wantMedia{"audio", content(mid["audio"])}},
				content(mid["file"]):                {"report.pdf", wantMedia{"file", content(mid["file"])}},
				"geo:35.687574,139.72922":           {"Office 1-3 Kioicho, Tokyo", wantMedia{"location", "geo:35.687574,139.72922"}},
			}
			msgs := msgsOf(a, str(t, conv, "id"))
			if len(msgs) != 8 {
				t.Fatalf("%d messages, want 8", len(msgs))
			}
			for _, m := range msgs {
				medias, _ := m["medias"].([]any)
				key := fmt.Sprint(m["text"])
				if len(medias) == 1 {
					key = fmt.Sprint(medias[0].(map[string]any)["filename"])
					if medias[0].(map[string]any)["type"] == "sticker" {
						if !strings.Contains(key, "1988") {
							t.Errorf("sticker filename %q does not name sticker 1988", key)
						}
						checkMessage(t, m, conv, "incoming", "done", "", wantMedia{"sticker", key})
						continue
					}
				}
				w, ok := want[key]
				if !ok {
					t.Errorf("unexpected message %v", m)
					continue
				}
				delete(want, key)
				if w.media.Type == "" {
					checkMessage(t, m, conv, "incoming", "done", w.text)
				} else {
					checkMessage(t, m, conv, "incoming", "done", w.text, w.media)
				}
			}
			for k := range want {
				t.Errorf("no message for %s", k)
			}
			eventually(t, 5*time.Second, func() error {
				if c := a.ok("GET", "/v1.0/conversations/"+str(t, conv, "id"), nil); c["name"] != "LINE · Bob" {
					return fmt.Errorf("name is %v, want LINE · Bob", c["name"])
				}
				return nil
			})
		})

		t.Run("group and room sources use their id as the dialog", func(t *testing.T) {
			a := e.admin(t)
			group, room := lineID('C'), lineID('R')
			e.line.AddGroup(group, "Support team")
			body := lineWebhook(
				lineMessage(map[string]any{"type": "group", "groupId": group, "userId": alice}, lineText("in the group")),
				lineMessage(map[string]any{"type": "room", "roomId": room, "userId": bob}, lineText("in the room")),
			)
			wantStatus(t, e.postLine(t, acc, body), http.StatusOK)
			g, r := convWith(a, acc.ID, group), convWith(a, acc.ID, room)
			checkConversation(t, r, acc, e.ts.CustomerID, "line", room, "LINE · "+room, "LINE conversation")
			checkAddress(t, "room peer", r["peer"], "line", room, "")
			checkMessage(t, msgsOf(a, str(t, g, "id"))[0], g, "incoming", "done", "in the group")
			checkMessage(t, msgsOf(a, str(t, r, "id"))[0], r, "incoming", "done", "in the room")
			eventually(t, 5*time.Second, func() error {
				if g = a.ok("GET", "/v1.0/conversations/"+str(t, g, "id"), nil); g["name"] != "LINE · Support team" {
					return fmt.Errorf("group conversation name is %v", g["name"])
				}
				return nil
			})
			checkAddress(t, "group peer", g["peer"], "line", group, "Support team")
			if n := len(msgsOf(a, aliceConv)); n != 1 {
				t.Errorf("alice's own conversation has %d messages, want 1", n)
			}
		})

		t.Run("an outbound thread takes the user's messages", func(t *testing.T) {
			a := e.admin(t)
			carol := lineID('U')
			c := a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "line", "target": carol}})
			checkConversation(t, c, acc, e.ts.CustomerID, "line", carol, "LINE · "+carol, "LINE conversation")
			wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(carol), lineText("hi back")))), http.StatusOK)
			if got := convWith(a, acc.ID, carol); got["id"] != c["id"] {
				t.Errorf("the reply landed in conversation %v, want %v", got["id"], c["id"])
			}
		})

		t.Run("after a delete the next message starts a new conversation", func(t *testing.T) {
			if aliceConv == "" {
				t.Skip("needs the follow subtest")
			}
			a := e.admin(t)
			a.ok("DELETE", "/v1.0/conversations/"+aliceConv, nil)
			wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(alice), lineText("back again")))), http.StatusOK)
			c := convWith(a, acc.ID, alice)
			if c["id"] == aliceConv {
				t.Fatalf("the message went to the deleted conversation")
			}
			if msgs := msgsOf(a, str(t, c, "id")); len(msgs) != 1 || msgs[0]["text"] != "back again" {
				t.Errorf("new conversation messages %v", msgs)
			}
			if n := len(msgsOf(a, aliceConv)); n != 1 {
				t.Errorf("the deleted conversation has %d messages, want its 1", n)
			}
		})
	})
}

// The display name arrives after the hook is answered; it fills the peer
// and an automatic title, but never replaces a title a user chose.
func TestLineDisplayNameKeepsUserTitle(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountLine)
		dave, erin := lineID('U'), lineID('U')
		e.line.AddProfile(dave, "Dave")
		e.line.AddProfile(erin, "Erin")
		release := e.line.HoldProfiles()
		t.Cleanup(release)

		// The hook answers while the profile lookups are held.
		wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(dave), lineText("one")), lineMessage(lineUser(erin), lineText("two")))), http.StatusOK)
		d, er := convWith(a, acc.ID, dave), convWith(a, acc.ID, erin)
		if d["name"] != "LINE · "+dave || obj(t, d, "peer")["target_name"] != "" {
			t.Errorf("before the lookup: name %v, peer %v", d["name"], d["peer"])
		}
		a.ok("PUT", "/v1.0/conversations/"+str(t, d, "id"), map[string]any{"name": "VIP customer"})
		release()
		eventually(t, 5*time.Second, func() error {
			d = a.ok("GET", "/v1.0/conversations/"+str(t, d, "id"), nil)
			er = a.ok("GET", "/v1.0/conversations/"+str(t, er, "id"), nil)
			if obj(t, d, "peer")["target_name"] != "Dave" || er["name"] != "LINE · Erin" {
				return fmt.Errorf("after the lookup: %v / %v", d["peer"], er["name"])
			}
			return nil
		})
		if d["name"] != "VIP customer" || d["detail"] != "LINE conversation" {
			t.Errorf("the lookup changed the user's title: name %v, detail %v", d["name"], d["detail"])
		}
		checkAddress(t, "peer", er["peer"], "line", erin, "Erin")
	})
}

// A display name that arrives after its conversation was deleted leaves
// the deleted conversation as it was; the peer's next conversation gets it.
func TestLineDisplayNameSkipsDeletedConversation(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		acc := e.newAccount(a, convo.AccountLine)
		frank := lineID('U')
		e.line.AddProfile(frank, "Frank")
		release := e.line.HoldProfiles()
		t.Cleanup(release)

		wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(frank), lineText("one")))), http.StatusOK)
		first := str(t, convWith(a, acc.ID, frank), "id")
		a.ok("DELETE", "/v1.0/conversations/"+first, nil)
		release()
		eventually(t, 5*time.Second, func() error {
			if n := e.line.ProfileLookups(); n != 1 {
				return fmt.Errorf("%d profile lookups, want 1", n)
			}
			return nil
		})

		// The next message starts a new conversation, whose own lookup is
		// stored after the first one's.
		wantStatus(t, e.postLine(t, acc, lineWebhook(lineMessage(lineUser(frank), lineText("two")))), http.StatusOK)
		second := str(t, convWith(a, acc.ID, frank), "id")
		eventually(t, 5*time.Second, func() error {
			c := a.ok("GET", "/v1.0/conversations/"+second, nil)
			if obj(t, c, "peer")["target_name"] != "Frank" || c["name"] != "LINE · Frank" {
				return fmt.Errorf("the new conversation: name %v, peer %v", c["name"], c["peer"])
			}
			return nil
		})
		old := a.ok("GET", "/v1.0/conversations/"+first, nil)
		if obj(t, old, "peer")["target_name"] != "" || old["name"] != "LINE · "+frank {
			t.Errorf("the deleted conversation was renamed: name %v, peer %v", old["name"], old["peer"])
		}
	})
}
