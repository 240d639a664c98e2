package sqlstore_test

import (
	"slices"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

func newNote(customerID, conversationID, text string, tm convo.Time) *convo.Note {
	return &convo.Note{ID: convo.NewID(), CustomerID: customerID, ConversationID: conversationID,
		Author: convo.NoteAuthor{Type: convo.ActorAgent, ID: convo.NewID()}, Text: text, TMCreate: tm, TMUpdate: tm, TMDelete: convo.Never}
}

func testNotes(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	custA, custB := convo.NewID(), convo.NewID()
	conv, otherConv := convo.NewID(), convo.NewID()
	n1, n2, n3 := newNote(custA, conv, "first", at(0)), newNote(custA, conv, "second", at(time.Second)), newNote(custA, conv, "third", at(2*time.Second))
	gone, elsewhere, theirs := newNote(custA, conv, "gone", at(3*time.Second)), newNote(custA, otherConv, "elsewhere", at(4*time.Second)), newNote(custB, conv, "theirs", at(5*time.Second))
	gone.TMDelete = at(time.Hour)
	n3.Author = convo.NoteAuthor{Type: convo.ActorAccessKey, ID: convo.NewID()}
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateNote, n1, n2, n3, gone, elsewhere, theirs) })

	for _, want := range []*convo.Note{n1, n2, n3, gone, elsewhere, theirs} {
		same(t, read(t, db, func(tx convo.Tx) (*convo.Note, error) { return tx.GetNote(ctx, want.ID) }), want)
	}
	_, err := readErr(db, func(tx convo.Tx) (*convo.Note, error) { return tx.GetNote(ctx, convo.NewID()) })
	wantErr(t, err, convo.ENotFound, convo.ReasonNoteNotFound)
	_, err = readErr(db, func(tx convo.Tx) (*convo.Note, error) { return tx.GetNote(ctx, "not-a-uuid") })
	wantErr(t, err, convo.ENotFound, convo.ReasonNoteNotFound)
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.CreateNote(ctx, n1) })
	wantErr(t, err, convo.EConflict, convo.ReasonNoteExists)

	// The text and times change; who wrote it, where and when stay.
	changed := *n2
	changed.Text, changed.TMUpdate = "second, edited", at(time.Minute)
	changed.Author, changed.ConversationID, changed.TMCreate = convo.NoteAuthor{Type: convo.ActorAgent, ID: convo.NewID()}, otherConv, at(time.Hour)
	update(t, db, func(tx convo.Tx) error { return tx.UpdateNote(ctx, &changed) })
	n2.Text, n2.TMUpdate = changed.Text, changed.TMUpdate
	same(t, read(t, db, func(tx convo.Tx) (*convo.Note, error) { return tx.GetNote(ctx, n2.ID) }), n2)
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.UpdateNote(ctx, newNote(custA, conv, "nobody", base)) })
	wantErr(t, err, convo.ENotFound, convo.ReasonNoteNotFound)

	// A conversation's live notes of the customer, newest first, paged.
	list := func(p convo.Page) []string {
		return ids(read(t, db, func(tx convo.Tx) ([]*convo.Note, error) {
			return tx.ListNotes(ctx, convo.NoteListParams{CustomerID: custA, ConversationID: conv, Page: p})
		}), func(n *convo.Note) string { return n.ID })
	}
	got := list(convo.Page{Limit: 10})
	if want := []string{n3.ID, n2.ID, n1.ID}; !slices.Equal(got, want) {
		t.Errorf("notes %v, want %v", got, want)
	}
	first := list(convo.Page{Limit: 2})
	if want := []string{n3.ID, n2.ID}; !slices.Equal(first, want) {
		t.Errorf("first page %v, want %v", first, want)
	}
	rest := list(convo.Page{Limit: 2, After: &convo.Cursor{Time: n2.TMCreate, ID: n2.ID}})
	if want := []string{n1.ID}; !slices.Equal(rest, want) {
		t.Errorf("second page %v, want %v", rest, want)
	}
}
