package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/convohq/convo"
)

// Delivery is an event with its webhook attempts, as GET /webhook_deliveries shows it.
type Delivery struct {
	*convo.Event
	AttemptList []*convo.EventAttempt `json:"attempts"`
}

// newDelivery shows e with its attempts. A flow's webhook_send may have sent
// plain text, which is shown as a JSON string rather than breaking the answer.
func newDelivery(e *convo.Event, attempts []*convo.EventAttempt) *Delivery {
	if !json.Valid(e.Payload) {
		text, _ := json.Marshal(string(e.Payload))
		e.Payload = text
	}
	return &Delivery{Event: e, AttemptList: attempts}
}

// DeliveryFilter holds the filters of GET /webhook_deliveries.
type DeliveryFilter struct {
	Status, Type, ConversationID string
}

// ListDeliveries lists the caller's customer's events with their attempts (admin).
func (s *Service) ListDeliveries(ctx context.Context, c *convo.Caller, f DeliveryFilter, pr convo.PageRequest) (convo.List[*Delivery], error) {
	allowed := requireAdmin(c)
	if allowed == nil && f.Status != "" && !slices.Contains([]string{convo.DeliveryPending, convo.DeliveryFailed, convo.DeliveryDelivered, convo.DeliveryDead, convo.DeliverySkipped}, f.Status) {
		allowed = convo.Invalid("INVALID_STATUS", "status must be pending, failed, delivered, dead or skipped")
	}
	if allowed == nil && f.ConversationID != "" {
		_, allowed = parseID(f.ConversationID, "conversation_id")
	}
	return listPage(ctx, s, pr, allowed, func(tx convo.Tx, page convo.Page) ([]*Delivery, error) {
		events, err := tx.ListEvents(ctx, convo.EventListParams{CustomerID: c.CustomerID, Status: f.Status, Type: f.Type, ConversationID: f.ConversationID, Page: page})
		if err != nil {
			return nil, err
		}
		rows := make([]*Delivery, 0, len(events))
		for _, e := range events {
			attempts, err := tx.ListEventAttempts(ctx, e.ID)
			if err != nil {
				return nil, err
			}
			rows = append(rows, newDelivery(e, attempts))
		}
		return rows, nil
	}, func(d *Delivery) convo.Cursor { return cursorOf(d.TMCreate, d.ID) })
}

// RetryDelivery makes a failed or dead event due again at once (admin).
func (s *Service) RetryDelivery(ctx context.Context, c *convo.Caller, id string) (*Delivery, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var d *Delivery
	err = s.update(ctx, func(tx convo.Tx) error {
		e, err := tx.GetEvent(ctx, id)
		if err == nil && e.CustomerID != c.CustomerID {
			err = convo.NotFound("EVENT_NOT_FOUND", "event")
		}
		if err != nil {
			return err
		}
		if e.Status != convo.DeliveryFailed && e.Status != convo.DeliveryDead {
			return convo.Errorf(convo.EPrecondition, "NOT_RETRYABLE", "only a failed or dead delivery can be retried; this one is %s", e.Status)
		}
		e.Status, e.NextAttemptAt = convo.DeliveryFailed, s.now()
		if err := tx.RecordDeliveries(ctx, []convo.DeliveryOutcome{{Event: e}}); err != nil {
			return err
		}
		attempts, err := tx.ListEventAttempts(ctx, e.ID)
		d = newDelivery(e, attempts)
		return err
	})
	return d, err
}

// streamBatch is how many events a realtime stream reads at once.
const streamBatch = 256

// StreamEvent is one event as the realtime stream sends it: the webhook
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
				err = convo.NotFound("EVENT_NOT_FOUND", "event")
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

// StreamEvents sends the caller's events after position after, in order,
// to send until ctx ends or send fails. A plain agent gets only events of
// conversations it owns. While the database is unavailable it waits and
// reads again: the stream stays open and goes on where it was.
func (s *Service) StreamEvents(ctx context.Context, c *convo.Caller, after int64, send func([]StreamEvent) error) error {
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
				if err := send(out); err != nil {
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
		var env struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(e.Payload, &env); err != nil {
			return nil, err
		}
		if !c.IsManager() {
			if convo.IsNilID(e.ConversationID) {
				continue
			}
			mine, known := owned[e.ConversationID]
			if !known {
				err := s.store.View(ctx, func(tx convo.Tx) error {
					conv, err := tx.GetConversation(ctx, e.ConversationID)
					if convo.ErrorStatus(err) == convo.ENotFound {
						return nil
					}
					mine = err == nil && conv.OwnerType == convo.OwnerAgent && conv.OwnerID == c.AgentID
					return err
				})
				if err != nil {
					return nil, err
				}
				owned[e.ConversationID] = mine
			}
			if !mine {
				continue
			}
		}
		out = append(out, StreamEvent{ID: e.ID, Type: env.Type, Data: env.Data})
	}
	return out, nil
}
