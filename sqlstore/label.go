package sqlstore

import (
	"context"
	"errors"
	"strings"

	"github.com/convohq/convo"
)

var labels = newTable(
	kind{what: "label", notFound: convo.ReasonLabelNotFound, conflict: convo.ReasonLabelNameTaken,
		conflictDetail: "a live label of the customer has the name"},
	"labels", "id, customer_id, tm_create",
	"name, name_fold, color, detail, tm_update, tm_delete",
	"(customer_id, name_fold) WHERE "+live,
	func(l *convo.Label) []any {
		return []any{&l.ID, &l.CustomerID, micros{&l.TMCreate}, &l.Name, folded{&l.Name}, &l.Color, &l.Detail, micros{&l.TMUpdate}, micros{&l.TMDelete}}
	}).listedBy(
	allBy("labels_by_customer", "customer_id"),
)

// conversationLabels is the kind of the rows that put labels on conversations.
var conversationLabels = kind{what: "conversation label", notFound: convo.ReasonLabelNotFound}

// conversationLabelColumns are a label row's: the label on the conversation,
// then the conversation's customer and order keys, which a list of the
// label walks in order (migration 00021).
const conversationLabelColumns = "conversation_id, label_id, customer_id, tm_activity, tm_create"

func (t *tx) CreateLabel(ctx context.Context, l *convo.Label) error {
	return labels.insert(ctx, t, l)
}

func (t *tx) GetLabel(ctx context.Context, id string) (*convo.Label, error) {
	return labels.getByID(ctx, t, id)
}

func (t *tx) GetLiveLabelsByName(ctx context.Context, customerID string, names []string) ([]*convo.Label, error) {
	found := []*convo.Label{}
	customerID, ok := canonicalID(customerID)
	if !ok || len(names) == 0 {
		return found, nil
	}
	lock := ""
	if t.lockRows {
		// Held against a concurrent delete, which takes the label off every
		// conversation. Shared: two conversations labelled at once with the
		// same labels neither wait for nor deadlock with each other.
		lock = " FOR SHARE"
	}
	err := inChunks(len(names), func(start, n int) error {
		args := []any{customerID}
		for _, name := range names[start : start+n] {
			args = append(args, strings.ToLower(name))
		}
		rows, err := labels.query(ctx, t, labels.selectSQL+" WHERE customer_id = ? AND name_fold IN ("+placeholders(n)+") AND "+live+lock, args...)
		found = append(found, rows...)
		return err
	})
	return found, err
}

func (t *tx) ListLabels(ctx context.Context, p convo.LabelListParams) ([]*convo.Label, error) {
	var f filter
	f.equalID("customer_id", p.CustomerID)
	f.deleted(false)
	return labels.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateLabel(ctx context.Context, l *convo.Label) error {
	return labels.update(ctx, t, l)
}

func (t *tx) SetConversationLabels(ctx context.Context, conversationID string, labelIDs []string) error {
	conversationID, ok := canonicalID(conversationID)
	if !ok {
		return convo.NotFound(convo.ReasonConversationNotFound, "conversation")
	}
	ids := make([]any, 0, len(labelIDs))
	for _, id := range labelIDs {
		c, ok := canonicalID(id)
		if !ok {
			return convo.Invalid(convo.ReasonInvalidID, "label id %q is not a UUID", id)
		}
		ids = append(ids, c)
	}
	// The conversation's order keys, read under its lock before its label
	// rows are written, in the order a touch takes them: a touch moves the
	// keys and then its label rows, so neither write misses the other.
	lock := ""
	if t.lockRows {
		lock = " FOR UPDATE"
	}
	var customerID string
	var activity, created int64
	err := t.q.QueryRowContext(ctx, t.sql("SELECT customer_id, tm_activity, tm_create FROM conversations WHERE id = ?"+lock), conversationID).
		Scan(&customerID, &activity, &created)
	if err != nil {
		return interpretError(err, conversations.kind)
	}
	if err := t.execLater(ctx, conversationLabels, "DELETE FROM conversation_labels WHERE conversation_id = ?", conversationID); err != nil {
		return err
	}
	return inChunks(len(ids), func(start, n int) error {
		args := make([]any, 0, 5*n)
		for _, id := range ids[start : start+n] {
			args = append(args, conversationID, id, customerID, activity, created)
		}
		return t.execLater(ctx, conversationLabels, "INSERT INTO conversation_labels ("+conversationLabelColumns+") VALUES (?, ?, ?, ?, ?)"+
			strings.Repeat(", (?, ?, ?, ?, ?)", n-1)+" ON CONFLICT DO NOTHING", args...)
	})
}

func (t *tx) UnlabelConversations(ctx context.Context, labelID string) error {
	labelID, ok := canonicalID(labelID)
	if !ok {
		return nil
	}
	// By the label's customer, which leads the indexes of label rows.
	return t.execLater(ctx, conversationLabels, "DELETE FROM conversation_labels WHERE customer_id = (SELECT l.customer_id FROM labels l WHERE l.id = ?) AND label_id = ?", labelID, labelID)
}

func (t *tx) ConversationLabels(ctx context.Context, conversationIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	err := t.byConversations(ctx, conversationIDs, func(in string) string {
		return "SELECT cl.conversation_id, l.name FROM conversation_labels cl JOIN labels l ON l.id = cl.label_id WHERE cl.conversation_id " +
			in + " AND l." + live
	}, nil, func(r rows) error {
		var id, name string
		if err := r.Scan(&id, &name); err != nil {
			return err
		}
		out[id] = append(out[id], name)
		return nil
	})
	return out, err
}

// byConversations runs the query that query(in) makes for a set of
// conversations (in is the SQL that follows the id column compared: "IN
// (...)" or "= ANY(...)"), with args before the ids, and hands each row to
// scan: one statement on PostgreSQL, a few on SQLite, where a statement
// costs no round trip and a fixed number of parameters keeps it cached.
func (t *tx) byConversations(ctx context.Context, conversationIDs []string, query func(in string) string, args []any, scan func(rows) error) error {
	ids := make([]string, 0, len(conversationIDs))
	for _, id := range conversationIDs {
		if c, ok := canonicalID(id); ok {
			ids = append(ids, c)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	run := func(q string, args []any) error {
		res, err := t.q.QueryContext(ctx, t.sql(q), args...)
		if err != nil {
			return interpretError(err, conversationLabels)
		}
		for res.Next() {
			if err := scan(res); err != nil {
				res.Close()
				return interpretError(err, conversationLabels)
			}
		}
		return interpretError(errors.Join(res.Err(), res.Close()), conversationLabels)
	}
	if t.postgres {
		return run(query("= ANY(?::text[]::uuid[])"), append(args, ids))
	}
	return inChunks(len(ids), func(start, n int) error {
		chunk := append([]any{}, args...)
		for _, id := range ids[start : start+n] {
			chunk = append(chunk, id)
		}
		return run(query("IN ("+placeholders(n)+")"), chunk)
	})
}
