package convo

import "encoding/json"

// Event types.
const (
	EventAccountCreated      = "account_created"
	EventAccountUpdated      = "account_updated"
	EventAccountDeleted      = "account_deleted"
	EventConversationCreated = "conversation_created"
	EventConversationUpdated = "conversation_updated"
	EventConversationDeleted = "conversation_deleted"
	EventMessageCreated      = "conversation_message_created"
	EventMessageUpdated      = "conversation_message_updated"
	EventMessageDeleted      = "conversation_message_deleted"
	EventNoteCreated         = "conversation_note_created"
	EventNoteUpdated         = "conversation_note_updated"
	EventNoteDeleted         = "conversation_note_deleted"
	// EventConversationRead tells an agent's own realtime streams that it
	// read a conversation (its other tabs); never sent to a webhook.
	EventConversationRead = "conversation_read"
	// EventConversationLeft tells the realtime streams of agents who saw a
	// conversation and no longer do (its owner, assigned away; the queue's
	// watchers, taken out of it) to drop it; data is only its id. Never sent
	// to a webhook.
	EventConversationLeft = "conversation_left"
	// EventUnassignedQueueChanged tells plain agents' streams that their
	// customer changed agents_take_unassigned, which opens or closes the
	// unassigned queue to them. Never sent to a webhook.
	EventUnassignedQueueChanged = "unassigned_queue_changed"
)

// AudienceQueue is the audience of an event for every plain agent of the
// customer who may watch the unassigned queue, rather than for one agent.
const AudienceQueue = "ffffffff-ffff-ffff-ffff-ffffffffffff"

// LeftConversation is the data of a conversation_left event: nothing of the
// conversation but its id, which its audience saw already.
type LeftConversation struct {
	ID string `json:"id"`
}

// UnassignedQueue is the data of an unassigned_queue_changed event.
type UnassignedQueue struct {
	AgentsTakeUnassigned bool `json:"agents_take_unassigned"`
}

// Delivery statuses of an event's customer webhook.
const (
	// DeliveryPending: not attempted yet.
	DeliveryPending = "pending"
	// DeliveryFailed: attempted without success; retries continue.
	DeliveryFailed = "failed"
	// DeliveryDelivered: the customer answered 2xx.
	DeliveryDelivered = "delivered"
	// DeliveryDead: retries ran out.
	DeliveryDead = "dead"
	// DeliverySkipped: nobody would receive it: the customer had no webhook
	// when it was written or when it was due.
	DeliverySkipped = "skipped"
)

// DeliveryWaiting reports whether an event in delivery status waits for an
// attempt (pending or failed); the others are settled for good.
func DeliveryWaiting(status string) bool {
	return status == DeliveryPending || status == DeliveryFailed
}

// Event records one change, written in the transaction of the change (a
// transactional outbox). Events of one stream (a conversation and its
// messages, or an account) are delivered in the order of Pos.
type Event struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	Type       string `json:"type"`
	// StreamID orders delivery: the conversation, or the account.
	StreamID string `json:"-"`
	// ConversationID is the conversation the event is about, NilID if none.
	ConversationID string `json:"conversation_id"`
	// Payload is the webhook body exactly as sent: {"type", "data"} for
	// change events, the flow's data for a webhook_send.
	Payload json.RawMessage `json:"payload"`
	// TargetURI and TargetMethod, when set, send the event there (a flow's
	// webhook_send) instead of to the customer's webhook, as ContentType.
	TargetURI    string `json:"target_uri,omitempty"`
	TargetMethod string `json:"target_method,omitempty"`
	ContentType  string `json:"-"`
	// AudienceID, when set (not the nil UUID), is the one agent whose
	// realtime streams get the event, or AudienceQueue; no webhook gets it.
	AudienceID string `json:"-"`
	// Pos is the event's place in the total order, given as it is written;
	// ordered readers pass it only once it is settled (see Tx.SettledEvents).
	Pos           int64  `json:"-"`
	Status        string `json:"status"`
	Attempts      int    `json:"attempt_count"`
	NextAttemptAt Time   `json:"tm_next_attempt"`
	LockedUntil   Time   `json:"-"`
	LastError     string `json:"last_error"`
	TMCreate      Time   `json:"tm_create"`
	TMDelivered   Time   `json:"tm_delivered"`
}

// EventAttempt is one try to deliver an event to the customer's webhook.
type EventAttempt struct {
	EventID string `json:"-"`
	At      Time   `json:"tm_attempt"`
	// HTTPStatus is the answer's status, 0 when none came.
	HTTPStatus int    `json:"http_status"`
	Error      string `json:"error"`
	LatencyMS  int64  `json:"latency_ms"`
}

// DeliveryOutcome is an event's new delivery state and, when one was made,
// the attempt that led to it.
type DeliveryOutcome struct {
	Event   *Event
	Attempt *EventAttempt
}

// EventPayload builds the webhook body of an event about v.
func EventPayload(eventType string, v any) (json.RawMessage, error) {
	return json.Marshal(struct {
		Type string `json:"type"`
		Data any    `json:"data"`
	}{eventType, v})
}

// WebhookConversation is a conversation in webhook form: an unassigned
// owner_id is "" there, where the API shows the nil UUID.
func WebhookConversation(c *Conversation) *Conversation {
	w := *c
	if IsNilID(w.OwnerID) {
		w.OwnerID = ""
	}
	return &w
}

// Settled is what SettledEvents found: how far readers may go now.
type Settled struct {
	// LastPos is the highest settled position: no event can still appear
	// before it, so readers may pass it.
	LastPos int64
	// Wanted counts, up to a limit, the settled events after the position
	// asked about that wait for delivery.
	Wanted int
}

// ClaimEventsParams selects events to deliver: settled, due, unleased and
// first undelivered of their stream.
type ClaimEventsParams struct {
	Now        Time
	LeaseUntil Time
	Limit      int
}

// EventListParams selects a customer's events.
type EventListParams struct {
	CustomerID     string
	Status         string
	Type           string
	ConversationID string
	// AfterPos, when set, lists settled events after that position in
	// ascending order instead of newest first (the realtime replay).
	AfterPos *int64
	Page
}
