package sqlstore_test

import (
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

// testWhatsAppWindow: an incoming message's touch moves the conversation's
// window forward only, also when the message is not the newest (an
// outgoing one was stored after it), and a touch without a window leaves it.
func testWhatsAppWindow(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust, acc := convo.NewID(), convo.NewID()
	c := newConversation(cust, acc, "+15550911", at(0))
	plain := newConversation(cust, acc, "+15550912", at(0))
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateConversation, c, plain) })
	touch := func(id, direction string, tm convo.Time, window convo.Time) convo.Touch {
		return convo.Touch{ConversationID: id, WindowExpires: window,
			Message: convo.LastMessage{ID: convo.NewID(), Direction: direction, Text: direction, TMCreate: tm}}
	}
	get := func(id string) *convo.Conversation {
		return read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, id) })
	}
	if w := get(c.ID).WhatsAppWindowExpires; !w.IsNever() {
		t.Fatalf("a new conversation's window is %v, want Never", w)
	}
	in := touch(c.ID, convo.DirectionIncoming, at(time.Minute), at(24*time.Hour+time.Minute))
	out := touch(c.ID, convo.DirectionOutgoing, at(2*time.Minute), convo.Time{})
	late := touch(c.ID, convo.DirectionIncoming, at(90*time.Second), at(24*time.Hour+90*time.Second))
	stale := touch(c.ID, convo.DirectionIncoming, at(30*time.Second), at(24*time.Hour+30*time.Second))
	for _, batch := range [][]convo.Touch{{in, touch(plain.ID, convo.DirectionOutgoing, at(time.Minute), convo.Time{})}, {out}, {late}, {stale}} {
		update(t, db, func(tx convo.Tx) error { return tx.TouchConversations(ctx, batch) })
	}
	got := get(c.ID)
	if got.WhatsAppWindowExpires != late.WindowExpires {
		t.Errorf("window %v, want %v (the latest incoming message's)", got.WhatsAppWindowExpires, late.WindowExpires)
	}
	if got.LastMessage == nil || got.LastMessage.ID != out.Message.ID || got.TMActivity != out.Message.TMCreate {
		t.Errorf("last message %+v, activity %v; want the outgoing one", got.LastMessage, got.TMActivity)
	}
	if p := get(plain.ID); !p.WhatsAppWindowExpires.IsNever() || p.LastMessage == nil {
		t.Errorf("a conversation touched without a window: %+v", p)
	}
}

// testMessageParts: the accepted parts of a split send read back by index;
// a part recorded twice keeps its first id.
func testMessageParts(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	msg, other := convo.NewID(), convo.NewID()
	update(t, db, func(tx convo.Tx) error {
		for _, p := range []struct {
			id   string
			part int
			wid  string
		}{{msg, 0, "wamid.text"}, {msg, 2, "wamid.doc"}, {msg, 0, "wamid.again"}, {other, 0, "wamid.other"}} {
			if err := tx.RecordMessagePart(ctx, p.id, p.part, p.wid, at(0)); err != nil {
				return err
			}
		}
		return nil
	})
	got := read(t, db, func(tx convo.Tx) (map[int]string, error) { return tx.MessageParts(ctx, msg) })
	if len(got) != 2 || got[0] != "wamid.text" || got[2] != "wamid.doc" {
		t.Errorf("parts %v, want 0: wamid.text and 2: wamid.doc", got)
	}
	if none := read(t, db, func(tx convo.Tx) (map[int]string, error) { return tx.MessageParts(ctx, convo.NewID()) }); len(none) != 0 {
		t.Errorf("parts of a message never split: %v", none)
	}
}
