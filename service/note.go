package service

import (
	"context"
	"strings"

	"github.com/convohq/convo"
)

// Notes are agents' private remarks on a conversation: stored and told to
// webhooks and streams like the conversation's events, never sent to the
// provider. Whoever may see the conversation may read and add them; only
// their author or an admin/manager may change them.

// NoteInput is the body of POST /conversations/{id}/notes and PUT /notes/{id}.
type NoteInput struct {
	Text *string `json:"text"`
}

// text returns the note's text as given, refusing a missing, blank or
// overlong one.
func (in NoteInput) text() (string, error) {
	if in.Text == nil || strings.TrimSpace(*in.Text) == "" {
		return "", convo.Invalid("INVALID_TEXT", "text is required")
	}
	return *in.Text, checkText("text", *in.Text)
}

// noteConversation returns a conversation whose notes the caller may read:
// one it may not see is answered as missing, as another customer's is.
func (s *Service) noteConversation(ctx context.Context, tx convo.Tx, c *convo.Caller, id string) (*convo.Conversation, error) {
	conv, err := s.visibleConversation(ctx, tx, c, id)
	if convo.ErrorStatus(err) == convo.EForbidden {
		return nil, convo.NotFound(convo.ReasonConversationNotFound, "conversation")
	}
	return conv, err
}

// CreateNote adds a note to a conversation the caller may see; a deleted
// conversation takes none.
func (s *Service) CreateNote(ctx context.Context, c *convo.Caller, conversationID string, in NoteInput) (*convo.Note, error) {
	conversationID, err := parseID(conversationID, "id")
	if err != nil {
		return nil, err
	}
	text, err := in.text()
	if err != nil {
		return nil, err
	}
	var n *convo.Note
	err = s.update(ctx, func(tx convo.Tx) error {
		conv, err := s.noteConversation(ctx, tx, c, conversationID)
		if err != nil {
			return err
		}
		if conv.IsDeleted() {
			return convo.Errorf(convo.EPrecondition, "CONVERSATION_DELETED", "the conversation is deleted")
		}
		actor := actorOf(c)
		now := s.now()
		n = &convo.Note{ID: convo.NewID(), CustomerID: c.CustomerID, ConversationID: conv.ID,
			Author: convo.NoteAuthor{Type: actor.Type, ID: actor.ID}, Text: text, TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
		if err := tx.CreateNote(ctx, n); err != nil {
			return err
		}
		return s.emitNote(ctx, tx, convo.EventNoteCreated, n)
	})
	return n, err
}

// ListNotes lists the live notes of a conversation the caller may see,
// newest first; the check and the page are read in one transaction.
func (s *Service) ListNotes(ctx context.Context, c *convo.Caller, conversationID string, pr convo.PageRequest) (convo.List[*convo.Note], error) {
	conversationID, err := parseID(conversationID, "id")
	return listPage(ctx, s, pr, err, func(tx convo.Tx, page convo.Page) ([]*convo.Note, error) {
		if _, err := s.noteConversation(ctx, tx, c, conversationID); err != nil {
			return nil, err
		}
		return tx.ListNotes(ctx, convo.NoteListParams{CustomerID: c.CustomerID, ConversationID: conversationID, Page: page})
	}, func(n *convo.Note) convo.Cursor { return cursorOf(n.TMCreate, n.ID) })
}

// changeNote runs one change of a live note by its author or an
// admin/manager. A note of a conversation the caller may not see, or of
// another customer, is answered as missing; another's note it may see is 403.
func (s *Service) changeNote(ctx context.Context, c *convo.Caller, id, eventType string, change func(n *convo.Note) error) (*convo.Note, error) {
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var n *convo.Note
	err = s.update(ctx, func(tx convo.Tx) (err error) {
		n, err = tx.GetNote(ctx, id)
		if err == nil && (n.CustomerID != c.CustomerID || !n.TMDelete.IsNever()) {
			err = convo.NotFound(convo.ReasonNoteNotFound, "note")
		}
		if err != nil {
			return err
		}
		if _, err := s.noteConversation(ctx, tx, c, n.ConversationID); convo.ErrorStatus(err) == convo.ENotFound {
			return convo.NotFound(convo.ReasonNoteNotFound, "note")
		} else if err != nil {
			return err
		}
		actor := actorOf(c)
		if !c.IsManager() && (n.Author.Type != actor.Type || n.Author.ID != actor.ID) {
			return convo.Forbidden("only its author or an admin/manager may change a note")
		}
		if err := change(n); err != nil {
			return err
		}
		n.TMUpdate = s.now()
		if err := tx.UpdateNote(ctx, n); err != nil {
			return err
		}
		return s.emitNote(ctx, tx, eventType, n)
	})
	return n, err
}

// UpdateNote replaces a note's text (its author, or an admin/manager).
func (s *Service) UpdateNote(ctx context.Context, c *convo.Caller, id string, in NoteInput) (*convo.Note, error) {
	text, err := in.text()
	if err != nil {
		return nil, err
	}
	return s.changeNote(ctx, c, id, convo.EventNoteUpdated, func(n *convo.Note) error {
		n.Text = text
		return nil
	})
}

// DeleteNote soft-deletes a note (its author, or an admin/manager).
func (s *Service) DeleteNote(ctx context.Context, c *convo.Caller, id string) (*convo.Note, error) {
	return s.changeNote(ctx, c, id, convo.EventNoteDeleted, func(n *convo.Note) error {
		n.TMDelete = s.now()
		return nil
	})
}
