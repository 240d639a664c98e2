package sqlstore_test

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

func testMessages(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust, conv, account := convo.NewID(), convo.NewID(), convo.NewID()
	m1 := newMessage(cust, conv, account, "wamid.1", at(0))
	m1.Medias = nil
	m2 := newMessage(cust, conv, account, "", at(time.Second))
	m2.TMUpdate = convo.Never
	m2.Direction, m2.Sender = convo.DirectionOutgoing, &convo.MessageSender{Type: convo.SenderAgent, ID: convo.NewID()}
	m3 := newMessage(cust, conv, account, "", at(2*time.Second))
	m3.Direction, m3.Sender = convo.DirectionOutgoing, &convo.MessageSender{Type: convo.SenderSystem, ID: convo.NilID}
	gone := newMessage(cust, conv, account, "wamid.gone", at(3*time.Second))
	gone.TMDelete = at(time.Hour)
	elsewhere := newMessage(cust, convo.NewID(), account, "wamid.2", at(4*time.Second))
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateMessage, m1, m2, m3, gone, elsewhere) })

	got := read(t, db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, m1.ID) })
	m1.Medias = []convo.Media{}
	same(t, got, m1)
	wantJSON(t, got, `"medias":[]`, `"sender":null`, `"tm_create":"2024-05-01 12:00:00.123456"`, `"tm_delete":"9999-01-01 00:00:00.000000"`,
		`"provider_status":""`, `"tm_delivered":"9999-01-01 00:00:00.000000"`, `"tm_read":"9999-01-01 00:00:00.000000"`, `"error":null`)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, m2.ID) }), m2)
	wantJSON(t, read(t, db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, m3.ID) }), `"sender":{"type":"system","id":"00000000-0000-0000-0000-000000000000"}`)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, gone.ID) }), gone)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessageByProviderID(ctx, account, "wamid.1") }), m1)
	for _, providerID := range []string{"", "wamid.unknown"} {
		_, err := readErr(db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessageByProviderID(ctx, account, providerID) })
		wantErr(t, err, convo.ENotFound, convo.ReasonMessageNotFound)
	}
	_, err := readErr(db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, convo.NewID()) })
	wantErr(t, err, convo.ENotFound, convo.ReasonMessageNotFound)

	// A provider retry conflicts without spoiling the transaction; other accounts may reuse the id.
	otherAccount := newMessage(cust, conv, convo.NewID(), "wamid.1", at(5*time.Second))
	err = db.Update(ctx, func(tx convo.Tx) error {
		wantErr(t, tx.CreateMessage(ctx, newMessage(cust, conv, account, "wamid.1", at(5*time.Second))), convo.EConflict, convo.ReasonMessageExists)
		return tx.CreateMessage(ctx, otherAccount)
	})
	if err != nil {
		t.Fatalf("insert after a conflict: %v", err)
	}

	m3.Status, m3.Text, m3.Medias, m3.TMUpdate = convo.MessageDone, "edited", nil, at(time.Minute)
	m3.Sender = &convo.MessageSender{Type: convo.SenderFlow, ID: convo.NewID()}
	m3.ProviderStatus, m3.TMDelivered, m3.TMRead = convo.ProviderRead, at(30*time.Second), at(40*time.Second)
	m3.Error = &convo.MessageError{Code: "131047", Message: "Re-engagement message: more than 24 hours…"}
	update(t, db, func(tx convo.Tx) error { return tx.UpdateMessage(ctx, m3) })
	m3.Medias = []convo.Media{}
	same(t, read(t, db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, m3.ID) }), m3)
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.UpdateMessage(ctx, newMessage(cust, conv, account, "", base)) })
	wantErr(t, err, convo.ENotFound, convo.ReasonMessageNotFound)

	list := read(t, db, func(tx convo.Tx) ([]*convo.Message, error) {
		return tx.ListMessages(ctx, convo.MessageListParams{ConversationID: conv, Page: convo.Page{Limit: 10}})
	})
	wantIDs(t, ids(list, func(m *convo.Message) string { return m.ID }), otherAccount.ID, m3.ID, m2.ID, m1.ID)
	list = read(t, db, func(tx convo.Tx) ([]*convo.Message, error) {
		return tx.ListMessages(ctx, convo.MessageListParams{ConversationID: conv, Page: convo.Page{Limit: 2, After: &convo.Cursor{Time: m3.TMCreate, ID: m3.ID}}})
	})
	wantIDs(t, ids(list, func(m *convo.Message) string { return m.ID }), m2.ID, m1.ID)
}

// testBatches: the multi-row writes and reads store and find what the
// single-row ones do, across chunk boundaries, skipping provider retries.
func testBatches(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust, account := convo.NewID(), convo.NewID()
	stored := newMessage(cust, convo.NewID(), account, "batch.stored", at(0))
	update(t, db, func(tx convo.Tx) error { return tx.CreateMessage(ctx, stored) })

	// 70 rows: chunks of 64, 4 and 2; a retry of a stored message and one
	// repeated within the batch are skipped without failing the others.
	var batch []*convo.Message
	for i := range 68 {
		batch = append(batch, newMessage(cust, convo.NewID(), account, fmt.Sprintf("batch.%d", i), at(time.Duration(i)*time.Millisecond)))
		if i%2 == 1 {
			batch[i].Direction, batch[i].Sender = convo.DirectionOutgoing, &convo.MessageSender{Type: convo.SenderAccessKey, ID: convo.NewID()}
		}
	}
	retry := newMessage(cust, convo.NewID(), account, "batch.stored", at(time.Second))
	repeat := newMessage(cust, convo.NewID(), account, "batch.7", at(time.Second))
	batch = append(batch, retry, repeat)
	var written []bool
	update(t, db, func(tx convo.Tx) (err error) { written, err = tx.CreateMessages(ctx, batch); return err })
	for i, m := range batch {
		want := m != retry && m != repeat
		if written[i] != want {
			t.Errorf("message %d (provider id %s): written %v, want %v", i, m.ProviderID, written[i], want)
		}
		got, err := readErr(db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, m.ID) })
		if want {
			same(t, got, m)
		} else {
			wantErr(t, err, convo.ENotFound, convo.ReasonMessageNotFound)
		}
	}
	err := db.Update(ctx, func(tx convo.Tx) error { _, err := tx.CreateMessages(ctx, []*convo.Message{{ID: "nope"}}); return err })
	wantErr(t, err, convo.EInvalid, convo.ReasonInvalidID)

	// Messages written as new are stored; when one is not new (stored, or
	// twice in the batch), the transaction fails as a conflict and keeps
	// nothing, not even the writes before it.
	fresh := []*convo.Message{newMessage(cust, convo.NewID(), account, "new.1", base), newMessage(cust, convo.NewID(), account, "new.2", base)}
	fresh[1].Direction, fresh[1].Sender = convo.DirectionOutgoing, &convo.MessageSender{Type: convo.SenderFlow, ID: convo.NewID()}
	update(t, db, func(tx convo.Tx) error { return tx.CreateNewMessages(ctx, fresh) })
	for _, m := range fresh {
		same(t, read(t, db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, m.ID) }), m)
	}
	for name, clash := range map[string][]*convo.Message{
		"stored":       {newMessage(cust, convo.NewID(), account, "new.3", base), newMessage(cust, convo.NewID(), account, "new.1", base)},
		"in the batch": {newMessage(cust, convo.NewID(), account, "new.4", base), newMessage(cust, convo.NewID(), account, "new.4", base)},
	} {
		conv := newConversation(cust, account, "+15550300", base)
		err := db.Update(ctx, func(tx convo.Tx) error {
			if err := tx.CreateNewConversation(ctx, conv); err != nil {
				return err
			}
			return tx.CreateNewMessages(ctx, clash)
		})
		wantErr(t, err, convo.EConflict, convo.ReasonMessageExists)
		for _, id := range []string{clash[0].ID, clash[1].ID} {
			if _, err := readErr(db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, id) }); convo.ErrorStatus(err) != convo.ENotFound {
				t.Errorf("%s: a message of the failed transaction reads back (%v)", name, err)
			}
		}
		if _, err := readErr(db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, conv.ID) }); convo.ErrorStatus(err) != convo.ENotFound {
			t.Errorf("%s: the conversation of the failed transaction reads back (%v)", name, err)
		}
	}
	// Likewise a conversation written as new while a live one has its dialog.
	live1 := newConversation(cust, account, "+15550301", base)
	update(t, db, func(tx convo.Tx) error { return tx.CreateNewConversation(ctx, live1) })
	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, live1.ID) }), live1)
	err = db.Update(ctx, func(tx convo.Tx) error {
		return tx.CreateNewConversation(ctx, newConversation(cust, account, live1.DialogID, base))
	})
	wantErr(t, err, convo.EConflict, convo.ReasonConversationExists)

	// Live conversations found by dialog, in chunks; deleted and other accounts' are not.
	var convs []*convo.Conversation
	var dialogs []string
	for i := range 5 {
		c := newConversation(cust, account, fmt.Sprintf("+1555020%d", i), at(time.Duration(i)*time.Second))
		convs, dialogs = append(convs, c), append(dialogs, c.DialogID)
	}
	convs[4].TMDelete = at(time.Hour)
	otherAccount := newConversation(cust, convo.NewID(), dialogs[0], base)
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateConversation, append(convs, otherAccount)...) })
	found := read(t, db, func(tx convo.Tx) ([]*convo.Conversation, error) {
		return tx.GetLiveConversations(ctx, account, append(dialogs, "+15559999"))
	})
	slices.SortFunc(found, func(a, b *convo.Conversation) int { return strings.Compare(a.DialogID, b.DialogID) })
	wantIDs(t, ids(found, func(c *convo.Conversation) string { return c.ID }), convs[0].ID, convs[1].ID, convs[2].ID, convs[3].ID)
	same(t, found[0], convs[0])
	if none := read(t, db, func(tx convo.Tx) ([]*convo.Conversation, error) {
		return tx.GetLiveConversations(ctx, "not-a-uuid", dialogs)
	}); len(none) != 0 {
		t.Errorf("an account id that is not a UUID found %d conversations", len(none))
	}

	// A row locked ahead, found among the live ones and changed is written
	// as it was at the update: later reads of the transaction and after the
	// commit see that, not a change made to the struct afterwards. Unknown
	// and malformed ids lock nothing and fail nothing.
	renamed := *convs[1]
	renamed.Name, renamed.TMUpdate = "renamed", at(time.Minute)
	update(t, db, func(tx convo.Tx) error {
		if err := tx.LockConversations(ctx, []string{convs[4].ID, convo.NewID(), "not-a-uuid", convs[1].ID}); err != nil {
			return err
		}
		got, err := tx.GetLiveConversations(ctx, account, []string{convs[1].DialogID})
		if err != nil || len(got) != 1 {
			return fmt.Errorf("GetLiveConversations: %v, %d rows", err, len(got))
		}
		c := got[0]
		c.Name, c.TMUpdate = renamed.Name, renamed.TMUpdate
		if err := tx.UpdateConversation(ctx, c); err != nil {
			return err
		}
		c.Name = "changed after the update"
		again, err := tx.GetConversation(ctx, convs[1].ID)
		if err != nil {
			return err
		}
		same(t, again, &renamed)
		return nil
	})
	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, convs[1].ID) }), &renamed)

	// Events written in one batch read back as written, pending, in order.
	var evs []*convo.Event
	for i := range 3 {
		evs = append(evs, &convo.Event{ID: convo.NewID(), CustomerID: cust, Type: convo.EventMessageCreated, StreamID: convs[i].ID,
			ConversationID: convs[i].ID, Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)), NextAttemptAt: at(0), TMCreate: at(0), TMDelivered: convo.Never})
	}
	update(t, db, func(tx convo.Tx) error { return tx.CreateEvents(ctx, evs) })
	var lastPos int64
	for _, e := range evs {
		got := read(t, db, func(tx convo.Tx) (*convo.Event, error) { return tx.GetEvent(ctx, e.ID) })
		if got.Status != convo.DeliveryPending || got.Pos <= lastPos || string(got.Payload) != string(e.Payload) || got.StreamID != e.StreamID {
			t.Errorf("event %s read back as %+v, want pending after position %d", e.ID, got, lastPos)
		}
		lastPos = got.Pos
	}
}

func testConcurrentMessage(t *testing.T, stores []*sqlstore.DB) {
	ctx := t.Context()
	db := stores[0]
	cust, conv, account := convo.NewID(), convo.NewID(), convo.NewID()
	meet, conflicts, n := rendezvous(int32(len(stores))), atomic.Int32{}, atomic.Int32{}
	got := concurrently(t, 20, func() (string, error) {
		var id string
		err := stores[int(n.Add(1))%len(stores)].Update(ctx, func(tx convo.Tx) error {
			meet()
			m := newMessage(cust, conv, account, "SM-retry", base)
			err := tx.CreateMessage(ctx, m)
			if convo.ErrorStatus(err) == convo.EConflict {
				conflicts.Add(1)
				m, err = tx.GetMessageByProviderID(ctx, account, "SM-retry")
			}
			if err != nil {
				return err
			}
			id = m.ID
			return nil
		})
		return id, err
	})
	list := read(t, db, func(tx convo.Tx) ([]*convo.Message, error) {
		return tx.ListMessages(ctx, convo.MessageListParams{ConversationID: conv, Page: convo.Page{Limit: 100}})
	})
	if len(list) != 1 || len(got) != 1 || got[0] != list[0].ID {
		t.Fatalf("stored %d messages; goroutines saw %v", len(list), got)
	}
	wantRaced(t, db, conflicts.Load())
}
