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

func testConversations(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	custA, custB := convo.NewID(), convo.NewID()
	acc1, acc2, owner := convo.NewID(), convo.NewID(), convo.NewID()
	c1 := newConversation(custA, acc1, "+15550101", at(0))
	c1.OwnerType, c1.OwnerID = convo.OwnerAgent, owner
	c2 := newConversation(custA, acc2, "+15550102", at(time.Second))
	c2.Type = convo.ConversationLine
	c3 := newConversation(custA, acc1, "+15550103", at(2*time.Second))
	c3.OwnerType, c3.OwnerID = convo.OwnerAgent, owner
	unowned := newConversation(custA, acc1, "+15550104", at(3*time.Second))
	unowned.OwnerID = ""
	other := newConversation(custB, convo.NewID(), "+15550101", at(4*time.Second))
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateConversation, c1, c2, c3, unowned, other) })

	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, c1.ID) }), c1)
	unowned.OwnerID = convo.NilID // an unset owner is stored as the nil UUID
	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, unowned.ID) }), unowned)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetLiveConversation(ctx, acc2, c2.DialogID) }), c2)

	// A second live conversation of (account, dialog) conflicts without spoiling the transaction.
	later := newConversation(custA, convo.NewID(), "+15550105", at(5*time.Second))
	err := db.Update(ctx, func(tx convo.Tx) error {
		wantErr(t, tx.CreateConversation(ctx, newConversation(custA, acc1, c1.DialogID, at(5*time.Second))), convo.EConflict, convo.ReasonConversationExists)
		return tx.CreateConversation(ctx, later)
	})
	if err != nil {
		t.Fatalf("insert after a conflict: %v", err)
	}
	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, later.ID) }), later)

	// Deleting c2 frees its (account, dialog) for a new conversation.
	c2.TMDelete, c2.TMUpdate, c2.Name = at(time.Hour), at(time.Hour), "closed"
	again := newConversation(custA, acc2, c2.DialogID, at(6*time.Second))
	update(t, db, func(tx convo.Tx) error {
		if err := tx.UpdateConversation(ctx, c2); err != nil {
			return err
		}
		return tx.CreateConversation(ctx, again)
	})
	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, c2.ID) }), c2)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetLiveConversation(ctx, acc2, c2.DialogID) }), again)
	for _, id := range []string{convo.NewID(), "not-a-uuid"} {
		_, err = readErr(db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, id) })
		wantErr(t, err, convo.ENotFound, convo.ReasonConversationNotFound)
		_, err = readErr(db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetLiveConversation(ctx, id, c1.DialogID) })
		wantErr(t, err, convo.ENotFound, convo.ReasonConversationNotFound)
	}
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.UpdateConversation(ctx, newConversation(custA, acc1, "x", base)) })
	wantErr(t, err, convo.ENotFound, convo.ReasonConversationNotFound)
	bad := newConversation(custA, "not-a-uuid", "x", base)
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.CreateConversation(ctx, bad) })
	wantErr(t, err, convo.EInvalid, convo.ReasonInvalidID)

	list := func(p convo.ConversationListParams) []string {
		p.Limit = 10
		return conversationIDs(t, db, p)
	}
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA}), again.ID, later.ID, unowned.ID, c3.ID, c1.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, Deleted: true}), c2.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, OwnerID: owner}), c3.ID, c1.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, OwnerID: convo.NilID}), again.ID, later.ID, unowned.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, AccountID: acc1}), unowned.ID, c3.ID, c1.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, AccountID: acc2, Deleted: true}), c2.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, Type: convo.ConversationLine, Deleted: true}), c2.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, Type: convo.ConversationLine}))
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, DialogID: "+15550101"}), c1.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custB}), other.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custB, AccountID: acc1}))
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, OwnerID: "not-a-uuid"}))
}

func testPagination(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust, account := convo.NewID(), convo.NewID()
	tm := at(24 * time.Hour)
	older := newConversation(cust, account, "older", at(23*time.Hour))
	update(t, db, func(tx convo.Tx) error {
		for i := range 250 {
			if err := tx.CreateConversation(ctx, newConversation(cust, account, fmt.Sprint("dialog-", i), tm)); err != nil {
				return err
			}
		}
		return tx.CreateConversation(ctx, older)
	})

	var seen []string
	p := convo.ConversationListParams{CustomerID: cust, Page: convo.Page{Limit: 100}}
	for page := 0; ; page++ {
		list := read(t, db, func(tx convo.Tx) ([]*convo.Conversation, error) { return tx.ListConversations(ctx, p) })
		if len(list) == 0 {
			break
		}
		if page > 3 || len(list) > 100 {
			t.Fatalf("page %d has %d rows", page, len(list))
		}
		for _, c := range list {
			seen = append(seen, c.ID)
		}
		last := list[len(list)-1]
		p.After = &convo.Cursor{Time: last.TMCreate, ID: last.ID}
	}
	if len(seen) != 251 || seen[250] != older.ID {
		t.Fatalf("paged %d rows, want 250 sharing a time then the older one", len(seen))
	}
	sameTime := seen[:250]
	if !slices.IsSortedFunc(sameTime, func(a, b string) int { return strings.Compare(b, a) }) || len(slices.Compact(slices.Clone(sameTime))) != 250 {
		t.Error("rows sharing a time are not in strictly descending id order")
	}

	// A cursor without an id skips every row of its time.
	p.After = &convo.Cursor{Time: tm}
	wantIDs(t, conversationIDs(t, db, p), older.ID)
}

func testConcurrentConversation(t *testing.T, stores []*sqlstore.DB) {
	ctx := t.Context()
	db := stores[0]
	cust, account, dialog := convo.NewID(), convo.NewID(), "+15550199"
	meet, conflicts, n := rendezvous(int32(len(stores))), atomic.Int32{}, atomic.Int32{}
	got := concurrently(t, 32, func() (string, error) {
		var id string
		err := stores[int(n.Add(1))%len(stores)].Update(ctx, func(tx convo.Tx) error {
			c, err := tx.GetLiveConversation(ctx, account, dialog)
			if convo.ErrorStatus(err) == convo.ENotFound {
				meet()
				c = newConversation(cust, account, dialog, base)
				err = tx.CreateConversation(ctx, c)
				if convo.ErrorStatus(err) == convo.EConflict {
					conflicts.Add(1)
					c, err = tx.GetLiveConversation(ctx, account, dialog)
				}
			}
			if err != nil {
				return err
			}
			id = c.ID
			return nil
		})
		return id, err
	})
	stored := conversationIDs(t, db, convo.ConversationListParams{AccountID: account, Page: convo.Page{Limit: 100}})
	if len(stored) != 1 || len(got) != 1 || got[0] != stored[0] {
		t.Fatalf("stored %v; goroutines saw %v", stored, got)
	}
	wantRaced(t, db, conflicts.Load())
}

// testConcurrentRenames changes one conversation from many transactions,
// each reading it first (by id, or locked ahead and found among the live
// ones): every change survives, none overwrites another made meanwhile.
func testConcurrentRenames(t *testing.T, stores []*sqlstore.DB) {
	ctx := t.Context()
	c := newConversation(convo.NewID(), convo.NewID(), "+15550198", base)
	c.Detail = ""
	update(t, stores[0], func(tx convo.Tx) error { return tx.CreateConversation(ctx, c) })
	var n atomic.Int32
	concurrently(t, 32, func() (string, error) {
		i := int(n.Add(1))
		return "", stores[i%len(stores)].Update(ctx, func(tx convo.Tx) error {
			var got *convo.Conversation
			if i%2 == 0 {
				if err := tx.LockConversations(ctx, []string{convo.NewID(), c.ID, "not-a-uuid"}); err != nil {
					return err
				}
				found, err := tx.GetLiveConversations(ctx, c.AccountID, []string{c.DialogID})
				if err != nil || len(found) != 1 {
					return fmt.Errorf("GetLiveConversations: %v, %d rows", err, len(found))
				}
				got = found[0]
			} else {
				var err error
				if got, err = tx.GetConversation(ctx, c.ID); err != nil {
					return err
				}
			}
			got.Detail += "x"
			return tx.UpdateConversation(ctx, got)
		})
	})
	got := read(t, stores[0], func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, c.ID) })
	if got.Detail != strings.Repeat("x", 32) {
		t.Errorf("after 32 changes the detail is %q (%d changes)", got.Detail, len(got.Detail))
	}
}
