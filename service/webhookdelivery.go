package service

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/convohq/convo"
)

// Delivery is an event with its webhook attempts, as GET /webhook_deliveries shows it.
type Delivery struct {
	*convo.Event
	AttemptList []*convo.EventAttempt `json:"attempts"`
}

// newDelivery shows e with its attempts. A flow's webhook_send may have posted
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
		if err == nil && (e.CustomerID != c.CustomerID || !convo.IsNilID(e.AudienceID)) {
			err = convo.NotFound(convo.ReasonEventNotFound, "event")
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
