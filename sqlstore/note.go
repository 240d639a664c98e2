package sqlstore

import (
	"context"

	"github.com/convohq/convo"
)

var notes = newTable(
	kind{what: "note", notFound: convo.ReasonNoteNotFound, conflict: convo.ReasonNoteExists, conflictDetail: "a note has the id"},
	"notes", "id, customer_id, conversation_id, author_type, author_id, tm_create",
	"text, tm_update, tm_delete",
	"",
	func(n *convo.Note) []any {
		return []any{&n.ID, &n.CustomerID, &n.ConversationID, &n.Author.Type, &n.Author.ID, micros{&n.TMCreate},
			&n.Text, micros{&n.TMUpdate}, micros{&n.TMDelete}}
	}).listedBy(
	allBy("notes_by_conversation", "conversation_id"),
)

func (t *tx) CreateNote(ctx context.Context, n *convo.Note) error {
	return notes.insert(ctx, t, n)
}

func (t *tx) GetNote(ctx context.Context, id string) (*convo.Note, error) {
	return notes.getByID(ctx, t, id)
}

func (t *tx) ListNotes(ctx context.Context, p convo.NoteListParams) ([]*convo.Note, error) {
	var f filter
	f.equalID("conversation_id", p.ConversationID)
	f.equalID("customer_id", p.CustomerID)
	f.deleted(false)
	return notes.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateNote(ctx context.Context, n *convo.Note) error {
	return notes.update(ctx, t, n)
}
