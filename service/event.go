package service

import (
	"cmp"
	"context"
	"sync"

	"github.com/convohq/convo"
)

// update runs fn in a transaction and, once it is committed, wakes the
// event dispatcher: every change writes its events in its transaction.
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
	now := s.now()
	return tx.CreateEvent(ctx, &convo.Event{
		ID: convo.NewID(), CustomerID: customerID, Type: eventType, StreamID: streamID,
		ConversationID: cmp.Or(conversationID, convo.NilID), Payload: payload,
		NextAttemptAt: now, TMCreate: now, TMDelivered: convo.Never,
	})
}

// emitConversation writes a conversation event (webhook form of the conversation).
func (s *Service) emitConversation(ctx context.Context, tx convo.Tx, eventType string, c *convo.Conversation) error {
	return s.emit(ctx, tx, eventType, c.CustomerID, c.ID, c.ID, convo.WebhookConversation(c))
}

// emitMessage writes a message event, ordered with its conversation's events.
func (s *Service) emitMessage(ctx context.Context, tx convo.Tx, eventType string, m *convo.Message) error {
	return s.emit(ctx, tx, eventType, m.CustomerID, m.ConversationID, m.ConversationID, m)
}

// emitAccount writes an account event.
func (s *Service) emitAccount(ctx context.Context, tx convo.Tx, eventType string, a *convo.Account) error {
	return s.emit(ctx, tx, eventType, a.CustomerID, a.ID, "", s.withHook(a))
}

// broadcast lets any number of waiters learn that something happened: each
// wait gets a channel that is closed at the next notify.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func newBroadcast() *broadcast { return &broadcast{ch: make(chan struct{})} }

// wait returns a channel closed by the next notify.
func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *broadcast) notify() {
	b.mu.Lock()
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}
