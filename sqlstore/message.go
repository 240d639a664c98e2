package sqlstore

import (
	"cmp"
	"context"

	"github.com/convohq/convo"
)

var messages = newTable(
	kind{what: "message", notFound: convo.ReasonMessageNotFound, conflict: convo.ReasonMessageExists, conflictDetail: "the provider's message is already stored"},
	"messages", "id, customer_id, tm_create",
	"conversation_id, direction, status, reference_type, reference_id, source, destination, text, medias, account_id, provider_id, sender_type, sender_id, provider_status, tm_delivered, tm_read, send_error, tm_update, tm_delete, line_send_method, data",
	"(account_id, provider_id) WHERE provider_id <> ''",
	func(m *convo.Message) []any {
		return []any{&m.ID, &m.CustomerID, micros{&m.TMCreate},
			&m.ConversationID, &m.Direction, &m.Status, &m.ReferenceType, &m.ReferenceID, jsonText{&m.Source}, jsonText{&m.Destination}, &m.Text, jsonText{&m.Medias}, optionalID{&m.AccountID}, &m.ProviderID,
			senderPart{&m.Sender, false}, senderPart{&m.Sender, true}, &m.ProviderStatus, micros{&m.TMDelivered}, micros{&m.TMRead}, optionalJSON{&m.Error},
			micros{&m.TMUpdate}, micros{&m.TMDelete}, &m.LineSendMethod, optionalJSON{&m.Data}}
	}).listedBy(
	// Messages are never deleted: one index of all.
	allBy("messages_by_conversation", "conversation_id"),
)

func (t *tx) CreateMessage(ctx context.Context, m *convo.Message) error {
	return messages.insert(ctx, t, m)
}

func (t *tx) CreateMessages(ctx context.Context, ms []*convo.Message) ([]bool, error) {
	return messages.insertMany(ctx, t, ms)
}

func (t *tx) CreateNewMessages(ctx context.Context, ms []*convo.Message) error {
	return messages.insertNew(ctx, t, ms)
}

func (t *tx) GetMessage(ctx context.Context, id string) (*convo.Message, error) {
	return messages.getByID(ctx, t, id)
}

func (t *tx) GetMessageByProviderID(ctx context.Context, accountID, providerID string) (*convo.Message, error) {
	accountID, ok := canonicalID(cmp.Or(accountID, convo.NilID))
	if !ok {
		return nil, convo.NotFound(messages.notFound, messages.what)
	}
	// provider_id <> '' keeps unknown (empty) ids from matching and lets both
	// databases use the partial unique index.
	return messages.get(ctx, t, "account_id = ? AND provider_id = ? AND provider_id <> ''", accountID, providerID)
}

func (t *tx) ListMessages(ctx context.Context, p convo.MessageListParams) ([]*convo.Message, error) {
	// Without a conversation there is nothing to list, rather than every message.
	f := filter{none: p.ConversationID == ""}
	f.equalID("conversation_id", p.ConversationID)
	f.deleted(false)
	return messages.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateMessage(ctx context.Context, m *convo.Message) error {
	return messages.update(ctx, t, m)
}
