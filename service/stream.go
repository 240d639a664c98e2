package service

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/convohq/convo"
)

// The realtime stream: a customer's events as they settle, in order,
// over one open connection (see httpapi's WebSocket handler).

// streamBatch is how many events a realtime stream reads at once.
const streamBatch = 256

// StreamEvent is one event as the realtime stream writes it: the webhook
// envelope plus the event id, which a client passes back as since.
type StreamEvent struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// streams counts the realtime streams open in this process, by customer.
type streams struct {
	mu   sync.Mutex
	open map[string]int
}

// OpenStream takes one of the caller's customer's stream places, or refuses
// with 429 when they are all taken: each stream holds memory and a
// connection, and one customer must not take them all. The caller calls
// release when the stream ends.
func (s *Service) OpenStream(c *convo.Caller) (release func(), err error) {
	st := &s.streams
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.open[c.CustomerID] >= s.config.MaxStreamsPerCustomer {
		return nil, &convo.Error{Status: convo.EExhausted, Reason: "TOO_MANY_STREAMS", RetryAfter: 5 * time.Second,
			Message: fmt.Sprintf("your customer has %d realtime streams open, the most allowed; close one first", s.config.MaxStreamsPerCustomer)}
	}
	if st.open == nil {
		st.open = map[string]int{}
	}
	st.open[c.CustomerID]++
	var once sync.Once
	return func() {
		once.Do(func() {
			st.mu.Lock()
			defer st.mu.Unlock()
			if st.open[c.CustomerID]--; st.open[c.CustomerID] == 0 {
				delete(st.open, c.CustomerID)
			}
		})
	}, nil
}

// StreamStart returns where a realtime stream starts: after the caller's
// event since, or after the newest event when since is empty.
func (s *Service) StreamStart(ctx context.Context, c *convo.Caller, since string) (int64, error) {
	var after int64
	err := s.store.View(ctx, func(tx convo.Tx) error {
		if since != "" {
			e, err := tx.GetEvent(ctx, since)
			if err == nil && e.CustomerID != c.CustomerID {
				err = convo.NotFound(convo.ReasonEventNotFound, "event")
			}
			if err != nil {
				return err
			}
			after = e.Pos
		}
		// Live from now: after the newest settled event. A since event not
		// yet settled (seen in a list, say) may still have events of an
		// older transaction appear before it: start before those, repeating
		// what follows rather than skipping it.
		settled, err := tx.LastEventPos(ctx)
		if since == "" || settled < after {
			after = settled
		}
		return err
	})
	return after, err
}

// StreamEvents hands the caller's events after position after, in order,
// to write until ctx ends or write fails. A plain agent gets only events of
// conversations it sees, and a conversation_left for one it saw and lost.
// While the database is unavailable it waits and reads again: the stream
// stays open and goes on where it was.
func (s *Service) StreamEvents(ctx context.Context, c *convo.Caller, after int64, write func([]StreamEvent) error) error {
	for {
		wake := s.settled.wait()
		var batch []*convo.Event
		var out []StreamEvent
		err := s.outage.Retry(ctx.Done(), "read a realtime stream", func() error {
			err := s.store.View(ctx, func(tx convo.Tx) (err error) {
				batch, err = tx.ListEvents(ctx, convo.EventListParams{CustomerID: c.CustomerID, AfterPos: &after, Page: convo.Page{Limit: streamBatch}})
				return err
			})
			if err == nil {
				out, err = s.visibleEvents(ctx, c, batch)
			}
			return err
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if len(batch) > 0 {
			after = batch[len(batch)-1].Pos
			if len(out) > 0 {
				if err := write(out); err != nil {
					return err
				}
			}
			if len(batch) == streamBatch {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		}
	}
}

// visibleEvents keeps the events the caller may see and renders them.
func (s *Service) visibleEvents(ctx context.Context, c *convo.Caller, batch []*convo.Event) ([]StreamEvent, error) {
	owned := map[string]bool{}
	out := make([]StreamEvent, 0, len(batch))
	for _, e := range batch {
		if e.TargetURI != "" {
			continue // a flow's own webhook, not a change event
		}
		queue := e.AudienceID == convo.AudienceQueue
		if !convo.IsNilID(e.AudienceID) && e.AudienceID != c.AgentID && !queue {
			continue // another agent's own event, its conversation_read
		}
		if queue && c.IsManager() {
			continue // managers see the whole queue whatever the setting
		}
		var env struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(e.Payload, &env); err != nil {
			return nil, err
		}
		left := env.Type == convo.EventConversationLeft
		if left && c.IsManager() {
			continue // nothing leaves the view of who sees all
		}
		if !c.IsManager() {
			if convo.IsNilID(e.ConversationID) {
				if !queue {
					continue
				}
				out = append(out, StreamEvent{ID: e.ID, Type: env.Type, Data: env.Data})
				continue
			}
			mine, known := owned[e.ConversationID]
			if !known {
				err := s.store.View(ctx, func(tx convo.Tx) error {
					conv, err := tx.GetConversation(ctx, e.ConversationID)
					if convo.ErrorStatus(err) == convo.ENotFound {
						return nil
					} else if err != nil {
						return err
					}
					// The conversation as it is now: one assigned away since leaves the stream.
					err = s.canSee(ctx, tx, c, conv)
					mine = err == nil
					if convo.ErrorStatus(err) == convo.EForbidden {
						err = nil
					}
					return err
				})
				if err != nil {
					return nil, err
				}
				owned[e.ConversationID] = mine
			}
			// A conversation_left goes only to who does not see it now: one
			// assigned back since is theirs again, and its events say so.
			if mine == left {
				continue
			}
		}
		out = append(out, StreamEvent{ID: e.ID, Type: env.Type, Data: env.Data})
	}
	return out, nil
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

// emitLeft tells the agents who saw conv before a change and lose it by the
// change (its former owner; the unassigned queue's watchers, when it left
// the queue their customer shows them) that it left their view: their
// streams, which filter by what the agent sees now, would say nothing.
func (s *Service) emitLeft(ctx context.Context, tx convo.Tx, before, conv *convo.Conversation) error {
	var audiences []string
	if before.OwnerType == convo.OwnerAgent && before.OwnerID != conv.OwnerID {
		audiences = append(audiences, before.OwnerID)
	}
	if before.OwnerType == convo.OwnerNone && conv.OwnerType != convo.OwnerNone {
		cust, err := tx.GetCustomer(ctx, conv.CustomerID)
		if err != nil {
			return err
		}
		if cust.AgentsTakeUnassigned {
			audiences = append(audiences, convo.AudienceQueue)
		}
	}
	if len(audiences) == 0 {
		return nil
	}
	payload, err := convo.EventPayload(convo.EventConversationLeft, convo.LeftConversation{ID: conv.ID})
	if err != nil {
		return err
	}
	for _, audience := range audiences {
		e := s.newEvent(convo.EventConversationLeft, conv.CustomerID, conv.ID, conv.ID, payload)
		e.AudienceID = audience
		if err := tx.CreateEvent(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// emitQueueChanged tells plain agents' streams that cust opened or closed
// the unassigned queue to them.
func (s *Service) emitQueueChanged(ctx context.Context, tx convo.Tx, cust *convo.Customer) error {
	payload, err := convo.EventPayload(convo.EventUnassignedQueueChanged, convo.UnassignedQueue{AgentsTakeUnassigned: cust.AgentsTakeUnassigned})
	if err != nil {
		return err
	}
	e := s.newEvent(convo.EventUnassignedQueueChanged, cust.ID, cust.ID, "", payload)
	e.AudienceID = convo.AudienceQueue
	return tx.CreateEvent(ctx, e)
}
