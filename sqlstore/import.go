package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/convohq/convo"
)

// This file fills the real tables in bulk, the way a restore or a move from
// another system would: rows are written as given, with multi-row INSERTs
// in large transactions. The server itself never imports.

// importRowsPerStatement is the rows of one multi-row INSERT: 500 rows of
// any table stay well below the placeholder limits of both databases.
const importRowsPerStatement = 500

// Import writes conversations, then messages, as they are, in one
// transaction. It writes no events, jobs or audit entries, and leaves the
// tables without planner statistics, as a bulk import does (see Analyze).
func (db *DB) Import(ctx context.Context, convs []convo.Conversation, msgs []convo.Message) error {
	return db.ImportBatch(ctx, ImportBatch{Conversations: convs, Messages: msgs})
}

// ImportBatch is what ImportBatch writes in one transaction, in this order.
type ImportBatch struct {
	Conversations []convo.Conversation
	Messages      []convo.Message
	// Labels put labels (which must exist) on conversations of the batch.
	Labels []ImportedLabel
	// ReadMarks are agents' read marks, as MarkRead would have left them.
	ReadMarks []convo.ReadMark
}

// ImportedLabel puts the label LabelID on the conversation ConversationID.
type ImportedLabel struct {
	ConversationID, LabelID string
}

// ImportBatch writes b as Import does, with the inbox state of its
// conversations: labels and read marks.
func (db *DB) ImportBatch(ctx context.Context, b ImportBatch) error {
	byID := make(map[string]*convo.Conversation, len(b.Conversations))
	for i := range b.Conversations {
		c := &b.Conversations[i]
		withActivity(c)
		byID[c.ID] = c
	}
	// The newest incoming message of each, as the touch of each message
	// would have left it (see TouchConversations).
	type position struct {
		us int64
		id string
	}
	incoming := map[string]position{}
	for i := range b.Messages {
		m := &b.Messages[i]
		if m.Direction != convo.DirectionIncoming {
			continue
		}
		us, last := m.TMCreate.Micros(), incoming[m.ConversationID]
		if us > last.us || us == last.us && m.ID > last.id {
			incoming[m.ConversationID] = position{us, m.ID}
		}
	}
	columns := append(slices.Clone(conversations.columns), "tm_last_incoming", "last_incoming_id")
	return db.seedTx(ctx, func(q querier) error {
		t := db.tx(q)
		err := insertChunks(ctx, t, "conversations", columns, len(b.Conversations), func(i int) []any {
			c := &b.Conversations[i]
			last := incoming[c.ID]
			if last.id == "" {
				last.id = convo.NilID
			}
			return append(conversations.fields(c), last.us, last.id)
		})
		if err != nil {
			return err
		}
		if err := insertRows(ctx, t, "messages", messages, b.Messages); err != nil {
			return err
		}
		// A label row carries its conversation's order keys (see TouchConversations).
		for _, l := range b.Labels {
			if byID[l.ConversationID] == nil {
				return fmt.Errorf("sqlstore: import: label on conversation %s, not in the batch", l.ConversationID)
			}
		}
		err = insertChunks(ctx, t, "conversation_labels", strings.Split(conversationLabelColumns, ", "), len(b.Labels), func(i int) []any {
			c := byID[b.Labels[i].ConversationID]
			return []any{c.ID, b.Labels[i].LabelID, c.CustomerID, c.TMActivity.Micros(), c.TMCreate.Micros()}
		})
		if err != nil {
			return err
		}
		return insertChunks(ctx, t, "read_marks", strings.Split(readMarkColumns, ", "), len(b.ReadMarks), func(i int) []any {
			m := &b.ReadMarks[i]
			return []any{m.AgentID, m.ConversationID, m.MessageID, m.TMMessage.Micros(), m.TMUpdate.Micros()}
		})
	})
}

// Analyze has the database gather the planner statistics of the tables
// Import writes, as autovacuum would on a database that grew over time
// (SQLite gathers none by itself).
func (db *DB) Analyze(ctx context.Context) error {
	query := "ANALYZE"
	if db.dialect == DialectPostgres {
		query = "ANALYZE conversations, messages, conversation_labels, read_marks"
	}
	if _, err := db.writer.ExecContext(ctx, query); err != nil {
		return fmt.Errorf("sqlstore: analyze: %w", err)
	}
	return nil
}

// ImportedEvent is one webhook event for ImportEvents.
type ImportedEvent struct {
	Type           string
	StreamID       string
	ConversationID string
	Payload        []byte
}

// importEventsPerTx is the events ImportEvents writes in one transaction.
const importEventsPerTx = 50_000

// ImportEvents writes events to the outbox of a customer, pending and in
// order, as changes would have with the customer's webhook set; the
// dispatcher of the next server start delivers them.
func (db *DB) ImportEvents(ctx context.Context, customerID string, list []ImportedEvent) error {
	customerID, ok := canonicalID(customerID)
	if !ok {
		return errors.New("sqlstore: import: customer id is not a UUID")
	}
	now := convo.NewTime(time.Now())
	cols := []string{"id", "customer_id", "type", "stream_id", "conversation_id", "payload", "target_uri", "target_method",
		"content_type", "pos", "status", "attempts", "next_attempt_at", "locked_until", "last_error", "tm_create", "tm_delivered"}
	for first := 0; first < len(list); first += importEventsPerTx {
		chunk := list[first:min(first+importEventsPerTx, len(list))]
		err := db.seedTx(ctx, func(q querier) error {
			t := db.tx(q)
			// Positions as CreateEvents gives them (see posShift).
			var pos int64
			var err error
			if t.postgres {
				err = q.QueryRowContext(ctx, "SELECT "+pgTxPos).Scan(&pos)
			} else {
				pos, err = t.nextEventPos(ctx)
			}
			if err != nil {
				return err
			}
			err = insertChunks(ctx, t, "events", cols, len(chunk), func(i int) []any {
				e := chunk[i]
				conversationID := e.ConversationID
				if conversationID == "" {
					conversationID = convo.NilID
				}
				return []any{convo.NewID(), customerID, e.Type, e.StreamID, conversationID, string(e.Payload), "", "", "",
					pos + int64(i), convo.DeliveryPending, 0, now.Micros(), 0, "", now.Micros(), convo.Never.Micros()}
			})
			if err != nil {
				return err
			}
			_, err = q.ExecContext(ctx, t.sql(queueRange), pos, pos+int64(len(chunk))-1)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// CountEvents returns how many events of customerID the outbox holds.
func (db *DB) CountEvents(ctx context.Context, customerID string) (int, error) {
	customerID, ok := canonicalID(customerID)
	if !ok {
		return 0, errors.New("sqlstore: count events: customer id is not a UUID")
	}
	var n int
	err := db.reader.QueryRowContext(ctx, db.tx(nil).sql("SELECT COUNT(*) FROM events WHERE customer_id = ?"), customerID).Scan(&n)
	return n, interpretError(err, events)
}

// seedTx runs fn in one transaction on the writer.
func (db *DB) seedTx(ctx context.Context, fn func(querier) error) error {
	sqlTx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: import: begin: %w", err)
	}
	defer sqlTx.Rollback()
	if err := fn(sqlQuerier{sqlTx}); err != nil {
		return fmt.Errorf("sqlstore: import: %w", err)
	}
	if db.dialect != DialectPostgres {
		if err := indexPending(ctx, sqlQuerier{sqlTx}); err != nil {
			return err
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: import: commit: %w", err)
	}
	return nil
}

// insertRows writes rows into a table described by tb with multi-row INSERTs.
func insertRows[T any](ctx context.Context, t *tx, name string, tb *table[T], rows []T) error {
	return insertChunks(ctx, t, name, tb.columns, len(rows), func(i int) []any { return tb.fields(&rows[i]) })
}

// insertChunks writes n rows, whose values row(i) returns in the order of
// cols, importRowsPerStatement at a time.
func insertChunks(ctx context.Context, t *tx, name string, cols []string, n int, row func(i int) []any) error {
	args := make([]any, 0, min(n, importRowsPerStatement)*len(cols))
	for first := 0; first < n; first += importRowsPerStatement {
		last := min(first+importRowsPerStatement, n)
		args = args[:0]
		for i := first; i < last; i++ {
			args = append(args, row(i)...)
		}
		if _, err := t.q.ExecContext(ctx, t.sql(multiInsertSQL(name, cols, last-first)), args...); err != nil {
			return err
		}
	}
	return nil
}

var multiInserts sync.Map // name/columns/rows -> statement

// multiInsertSQL returns an INSERT of rows rows into name.
func multiInsertSQL(name string, cols []string, rows int) string {
	key := name + "|" + strings.Join(cols, ",") + "|" + strconv.Itoa(rows)
	if q, ok := multiInserts.Load(key); ok {
		return q.(string)
	}
	one := "(" + placeholders(len(cols)) + ")"
	var b strings.Builder
	b.WriteString("INSERT INTO " + name + " (" + strings.Join(cols, ", ") + ") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	multiInserts.Store(key, b.String())
	return b.String()
}
