package sqlstore_test

import (
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

// testTouches: a conversation's last message only moves forward, is written
// by TouchConversations alone, and survives a whole-row update made from a
// copy read before it (and the other way round).
func testTouches(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust, acc := convo.NewID(), convo.NewID()
	c := newConversation(cust, acc, "+15550901", at(0))
	quiet := newConversation(cust, acc, "+15550902", at(time.Second))
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateConversation, c, quiet) })
	stale := *c
	touch := func(id, text string, tm convo.Time) convo.Touch {
		return convo.Touch{ConversationID: id, Message: convo.LastMessage{ID: convo.NewID(), Direction: convo.DirectionIncoming, Text: text, TMCreate: tm}}
	}
	newer, older := touch(c.ID, "newer", at(time.Minute)), touch(c.ID, "older", at(30*time.Second))
	update(t, db, func(tx convo.Tx) error { return tx.TouchConversations(ctx, []convo.Touch{newer}) })
	update(t, db, func(tx convo.Tx) error { return tx.TouchConversations(ctx, []convo.Touch{older}) })
	// A rename written from a copy read before the touch keeps the touch.
	stale.Name, stale.Status = "renamed", convo.StatusPending
	update(t, db, func(tx convo.Tx) error { return tx.UpdateConversation(ctx, &stale) })
	got := read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, c.ID) })
	if got.LastMessage == nil || *got.LastMessage != newer.Message || got.TMLastMessage != newer.Message.TMCreate || got.TMActivity != newer.Message.TMCreate {
		t.Errorf("last message %+v at %v, activity %v; want %+v", got.LastMessage, got.TMLastMessage, got.TMActivity, newer.Message)
	}
	if got.Name != "renamed" || got.Status != convo.StatusPending {
		t.Errorf("the rename was lost: %+v", got)
	}
	q := read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, quiet.ID) })
	if q.LastMessage != nil || !q.TMLastMessage.IsNever() || q.TMActivity != quiet.TMCreate {
		t.Errorf("a conversation without messages: %+v", q)
	}
	// Lists by activity follow it; the idle list leaves the touched one out.
	list := read(t, db, func(tx convo.Tx) ([]*convo.Conversation, error) {
		return tx.ListConversations(ctx, convo.ConversationListParams{CustomerID: cust, ByActivity: true, Page: convo.Page{Limit: 10}})
	})
	if len(list) != 2 || list[0].ID != c.ID || list[1].ID != quiet.ID {
		t.Errorf("listed by activity: %v", list)
	}
	idle := read(t, db, func(tx convo.Tx) ([]*convo.Conversation, error) {
		return tx.ListIdleConversations(ctx, convo.IdleConversationParams{CustomerID: cust, AccountID: acc, Status: convo.StatusOpen, Before: at(45 * time.Second), Limit: 10})
	})
	if len(idle) != 1 || idle[0].ID != quiet.ID {
		t.Errorf("idle before 45s: %v", idle)
	}
}

// testSupersede: a resolved conversation superseded is no longer its
// dialog's live one, and a new one may take the dialog; one not resolved
// is not superseded.
func testSupersede(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust, acc := convo.NewID(), convo.NewID()
	old := newConversation(cust, acc, "+15550911", at(0))
	update(t, db, func(tx convo.Tx) error { return tx.CreateConversation(ctx, old) })
	var did bool
	update(t, db, func(tx convo.Tx) (err error) { did, err = tx.SupersedeConversation(ctx, old.ID); return err })
	if did {
		t.Fatal("an open conversation was superseded")
	}
	old.Status = convo.StatusResolved
	update(t, db, func(tx convo.Tx) error { return tx.UpdateConversation(ctx, old) })
	update(t, db, func(tx convo.Tx) (err error) { did, err = tx.SupersedeConversation(ctx, old.ID); return err })
	if !did {
		t.Fatal("a resolved conversation was not superseded")
	}
	update(t, db, func(tx convo.Tx) (err error) { did, err = tx.SupersedeConversation(ctx, old.ID); return err })
	if did {
		t.Error("a conversation was superseded twice")
	}
	fresh := newConversation(cust, acc, "+15550911", at(time.Minute))
	update(t, db, func(tx convo.Tx) error { return tx.CreateConversation(ctx, fresh) })
	live := read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetLiveConversation(ctx, acc, "+15550911") })
	if live.ID != fresh.ID {
		t.Errorf("the live conversation is %s, want the new %s", live.ID, fresh.ID)
	}
	lives := read(t, db, func(tx convo.Tx) ([]*convo.Conversation, error) {
		return tx.GetLiveConversations(ctx, acc, []string{"+15550911"})
	})
	if len(lives) != 1 || lives[0].ID != fresh.ID {
		t.Errorf("live conversations: %v", lives)
	}
	// The unique live index still holds one per dialog.
	err := db.Update(ctx, func(tx convo.Tx) error {
		return tx.CreateConversation(ctx, newConversation(cust, acc, "+15550911", at(2*time.Minute)))
	})
	if convo.ErrorStatus(err) != convo.EConflict {
		t.Errorf("a second live conversation of the dialog: %v", err)
	}
	kept := read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, old.ID) })
	if kept.Status != convo.StatusResolved || kept.IsDeleted() {
		t.Errorf("the superseded conversation: %+v", kept)
	}
}
