package sqlstore

import (
	"context"

	"github.com/convohq/convo"
)

// messageParts is the kind of the rows of a split send's accepted parts.
var messageParts = kind{what: "message part", notFound: convo.ReasonMessageNotFound, conflict: convo.ReasonMessageExists, conflictDetail: "the part is recorded"}

func (t *tx) MessageParts(ctx context.Context, messageID string) (map[int]string, error) {
	parts := map[int]string{}
	id, ok := canonicalID(messageID)
	if !ok {
		return parts, nil
	}
	rows, err := t.q.QueryContext(ctx, t.sql("SELECT part, provider_id FROM message_parts WHERE message_id = ?"), id)
	if err != nil {
		return nil, interpretError(err, messageParts)
	}
	defer rows.Close()
	for rows.Next() {
		var part int
		var providerID string
		if err := rows.Scan(&part, &providerID); err != nil {
			return nil, interpretError(err, messageParts)
		}
		parts[part] = providerID
	}
	return parts, interpretError(rows.Err(), messageParts)
}

func (t *tx) RecordMessagePart(ctx context.Context, messageID string, part int, providerID string, at convo.Time) error {
	id, ok := canonicalID(messageID)
	if !ok {
		return convo.NotFound(messages.notFound, messages.what)
	}
	_, err := t.q.ExecContext(ctx, t.sql("INSERT INTO message_parts (message_id, part, provider_id, tm_create) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"),
		id, part, providerID, at.Micros())
	return interpretError(err, messageParts)
}
