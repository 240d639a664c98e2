package service

import (
	"cmp"
	"context"

	"github.com/convohq/convo"
)

// Every use case that changes something runs in one transaction (update),
// and writes the events of its change in it (emit...): the outbox delivers
// them once committed.

// update runs fn in a transaction and, once it is committed, wakes the
// outbox: every change writes its events in its transaction.
func (s *Service) update(ctx context.Context, fn func(convo.Tx) error) error {
	err := s.store.Update(ctx, fn)
	if err == nil {
		s.outbox.Wake()
	}
	return err
}

// RunEvents delivers events to customers' webhooks and tells realtime
// streams of settled ones until ctx ends, then waits for deliveries in flight.
func (s *Service) RunEvents(ctx context.Context) { s.outbox.Run(ctx) }

// emit writes an event about a change inside the change's transaction.
func (s *Service) emit(ctx context.Context, tx convo.Tx, eventType, customerID, streamID, conversationID string, data any) error {
	payload, err := convo.EventPayload(eventType, data)
	if err != nil {
		return err
	}
	return tx.CreateEvent(ctx, s.newEvent(eventType, customerID, streamID, conversationID, payload))
}

// newEvent is an event written now and due at once, for the customer's
// webhook unless the caller names another target.
func (s *Service) newEvent(eventType, customerID, streamID, conversationID string, payload []byte) *convo.Event {
	now := s.now()
	return &convo.Event{
		ID: convo.NewID(), CustomerID: customerID, Type: eventType, StreamID: streamID,
		ConversationID: cmp.Or(conversationID, convo.NilID), Payload: payload,
		NextAttemptAt: now, TMCreate: now, TMDelivered: convo.Never,
	}
}

// emitConversation writes a conversation event (webhook form of the
// conversation), with its labels, read first if c lacks them. Its
// unread_count is 0: an event is nobody's in particular.
func (s *Service) emitConversation(ctx context.Context, tx convo.Tx, eventType string, c *convo.Conversation) error {
	if err := s.loadLabels(ctx, tx, c); err != nil {
		return err
	}
	if err := s.loadOptOuts(ctx, tx, c); err != nil {
		return err
	}
	w := convo.WebhookConversation(c)
	w.UnreadCount = 0
	return s.emit(ctx, tx, eventType, c.CustomerID, c.ID, c.ID, w)
}

// emitMessage writes a message event, ordered with its conversation's events.
func (s *Service) emitMessage(ctx context.Context, tx convo.Tx, eventType string, m *convo.Message) error {
	return s.emit(ctx, tx, eventType, m.CustomerID, m.ConversationID, m.ConversationID, m)
}

// emitAccount writes an account event.
func (s *Service) emitAccount(ctx context.Context, tx convo.Tx, eventType string, a *convo.Account) error {
	return s.emit(ctx, tx, eventType, a.CustomerID, a.ID, "", s.withHook(a))
}

// emitNote writes a note event, ordered with its conversation's events: a
// realtime stream shows it to whoever may see the conversation.
func (s *Service) emitNote(ctx context.Context, tx convo.Tx, eventType string, n *convo.Note) error {
	return s.emit(ctx, tx, eventType, n.CustomerID, n.ConversationID, n.ConversationID, n)
}
