package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/convohq/convo"
)

var events = kind{what: "event", notFound: convo.ReasonEventNotFound, conflict: convo.ReasonEventExists, conflictDetail: "the event exists"}

const eventColumns = "id, customer_id, type, stream_id, conversation_id, payload, target_uri, target_method, content_type, pos, status, attempts, next_attempt_at, locked_until, last_error, tm_create, tm_delivered, audience_id"

// eventFields returns pointers to e's fields in the order of eventColumns.
func eventFields(e *convo.Event, pos *sql.NullInt64) []any {
	return []any{&e.ID, &e.CustomerID, &e.Type, &e.StreamID, &e.ConversationID, (*[]byte)(&e.Payload), &e.TargetURI, &e.TargetMethod, &e.ContentType, pos, &e.Status, &e.Attempts,
		micros{&e.NextAttemptAt}, micros{&e.LockedUntil}, &e.LastError, micros{&e.TMCreate}, micros{&e.TMDelivered}, &e.AudienceID}
}

// queryEvents runs a query returning eventColumns.
func (t *tx) queryEvents(ctx context.Context, query string, args ...any) ([]*convo.Event, error) {
	rows, err := t.q.QueryContext(ctx, t.sql(query), args...)
	return readEvents(rows, err)
}

// readEvents returns the events of rows, the result of a query returning
// eventColumns, or err.
func readEvents(rows rows, err error) ([]*convo.Event, error) {
	if err != nil {
		return nil, interpretError(err, events)
	}
	defer rows.Close()
	list := []*convo.Event{}
	for rows.Next() {
		e := &convo.Event{}
		var pos sql.NullInt64
		if err := rows.Scan(eventFields(e, &pos)...); err != nil {
			return nil, interpretError(err, events)
		}
		e.Pos = pos.Int64
		list = append(list, e)
	}
	return list, interpretError(rows.Err(), events)
}

func (t *tx) CreateEvent(ctx context.Context, e *convo.Event) error {
	return t.CreateEvents(ctx, []*convo.Event{e})
}

// Positions. An event gets its position as it is written, so that nothing
// has to rewrite it later (a rewrite of an outbox row touches all its
// indexes and doubles its WAL). Readers in position order must then never
// pass a position that an open transaction may still fill.
//
// SQLite has one writer: a transaction numbers its events after the
// highest position written, and a reader's snapshot holds a prefix.
//
// PostgreSQL commits side by side, so a position there is the writing
// transaction's id (xid8) shifted left by posShift, plus the event's rank
// in that transaction. Every transaction whose id is below the xmin of a
// reader's snapshot has ended, so positions below xmin << posShift are
// settled: no event can appear among them any more. A transaction that stays
// open holds readers back for as long as it does (see the README).
const posShift = 20

// settled returns the condition, to append with its AND, that keeps
// column to settled positions; nothing on SQLite, where the positions a
// reader's snapshot holds are all settled.
func (t *tx) settled(column string) string {
	if !t.postgres {
		return ""
	}
	return " AND " + column + " < " + pgSettled
}

// eventStatus decides at insert whether a webhook would receive an event:
// one for an agent's streams alone, and one with no target of its own for
// a customer without a webhook (or deleted), are skipped. audience, target
// and customerID are the SQL of the event's audience, target and customer.
func eventStatus(audience, target, customerID string) string {
	return "CASE WHEN " + audience + " <> '" + convo.NilID + "' THEN 'skipped' WHEN " + target +
		" = '' AND EXISTS (SELECT 1 FROM customers c WHERE c.id = " + customerID +
		" AND (c.webhook_uri = '' OR c." + deleted + ")) THEN 'skipped' ELSE 'pending' END"
}

// nextEventPos returns what goes into the position of t's next event: its
// rank in t on PostgreSQL (the statement adds the transaction id), the
// position itself on SQLite.
func (t *tx) nextEventPos(ctx context.Context) (int64, error) {
	if t.postgres {
		if t.eventsWritten >= 1<<posShift {
			return 0, convo.Invalid("TOO_MANY_EVENTS", "a transaction may write at most %d events", 1<<posShift)
		}
		t.eventsWritten++
		return t.eventsWritten - 1, nil
	}
	if t.eventsWritten == 0 {
		// The writer is ours alone until the commit: nobody numbers in between.
		var err error
		if t.lastEventPos, err = t.LastEventPos(ctx); err != nil {
			return 0, err
		}
	}
	t.eventsWritten++
	t.lastEventPos++
	return t.lastEventPos, nil
}

// placeEvent puts e's ids in canonical form and returns what goes into
// its position (see nextEventPos).
func (t *tx) placeEvent(ctx context.Context, e *convo.Event) (int64, error) {
	if e.AudienceID == "" {
		e.AudienceID = convo.NilID
	}
	for _, id := range []*string{&e.ID, &e.CustomerID, &e.StreamID, &e.ConversationID, &e.AudienceID} {
		c, ok := canonicalID(*id)
		if !ok {
			return 0, convo.Invalid(convo.ReasonInvalidID, "event id fields must be UUIDs")
		}
		*id = c
	}
	return t.nextEventPos(ctx)
}

func (t *tx) CreateEvents(ctx context.Context, es []*convo.Event) error {
	if t.postgres {
		return t.createEventsColumns(ctx, es)
	}
	return t.createEventsRows(ctx, es)
}

func (t *tx) SettledEvents(ctx context.Context, after int64, limit int) (convo.Settled, error) {
	var s convo.Settled
	err := t.q.QueryRowContext(ctx, t.sql(`SELECT
		(`+t.lastSettledPos()+`),
		(SELECT COUNT(*) FROM (SELECT 1 FROM event_queue WHERE pos > ?`+t.settled("pos")+` LIMIT ?) AS w)`),
		after, max(limit, 1)).Scan(&s.LastPos, &s.Wanted)
	return s, interpretError(err, events)
}

// queryColumn runs a query returning one column of type T, and returns its
// values ready to pass as statement arguments.
func queryColumn[T any](ctx context.Context, t *tx, query string, args ...any) ([]any, error) {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, interpretError(err, events)
	}
	var values []any
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, interpretError(err, events)
		}
		values = append(values, v)
	}
	return values, interpretError(errors.Join(rows.Err(), rows.Close()), events)
}

func (t *tx) GetEvent(ctx context.Context, id string) (*convo.Event, error) {
	id, ok := canonicalID(id)
	if !ok {
		return nil, convo.NotFound(events.notFound, events.what)
	}
	list, err := t.queryEvents(ctx, "SELECT "+eventColumns+" FROM events WHERE id = ?", id)
	if err == nil && len(list) == 0 {
		err = convo.NotFound(events.notFound, events.what)
	}
	if err != nil {
		return nil, err
	}
	return list[0], nil
}

func (t *tx) ListEvents(ctx context.Context, p convo.EventListParams) ([]*convo.Event, error) {
	var f filter
	f.equalID("customer_id", p.CustomerID)
	f.equal("status", p.Status)
	f.equal("type", p.Type)
	f.equalID("conversation_id", p.ConversationID)
	if p.AfterPos == nil {
		if f.none {
			return []*convo.Event{}, nil
		}
		switch {
		case convo.DeliveryWaiting(p.Status):
			return t.listAmong(ctx, "event_queue", f, p.Page)
		case p.Status == convo.DeliveryDead:
			return t.listAmong(ctx, "dead_events", f, p.Page)
		}
		// An agent's own events (conversation_read) are no webhook's: the
		// list of deliveries leaves them out. They are never waiting nor dead.
		f.add("audience_id = ?", convo.NilID)
		return t.listNewestFirst(ctx, f, p.Page)
	}
	f.add("pos > ?", *p.AfterPos)
	if f.none {
		return []*convo.Event{}, nil
	}
	where, args := f.where(nil)
	return t.queryEvents(ctx, "SELECT "+eventColumns+" FROM events WHERE "+where+t.settled("pos")+" ORDER BY pos LIMIT ?", append(args, max(p.Limit, 1))...)
}

// eventLists are the indexes the outbox's lists walk newest first.
var eventLists = []listIndex{allBy("events_by_customer", "customer_id")}

// listNewestFirst pages the events of f the way every API list pages.
func (t *tx) listNewestFirst(ctx context.Context, f filter, p convo.Page) ([]*convo.Event, error) {
	if err := f.after(p.After); err != nil {
		return nil, err
	}
	idx := f.index(eventLists)
	where, args := f.where(idx)
	return readEvents(t.queryInOrder(ctx, "SELECT "+eventColumns+" FROM "+t.walking("events", idx)+" WHERE "+where+
		" ORDER BY tm_create DESC, id DESC LIMIT ?", append(args, max(p.Limit, 1))...))
}

// listAmong is listNewestFirst for a status whose events all have their
// positions in table: the delivery queue for those waiting, dead_events
// for those given up on. They are looked up by position and sorted, where
// a walk of the customer's events newest first read every one of them,
// delivered long ago, to find the few in such a status.
func (t *tx) listAmong(ctx context.Context, table string, f filter, p convo.Page) ([]*convo.Event, error) {
	if err := f.after(p.After); err != nil {
		return nil, err
	}
	in, from := "pos IN (SELECT pos FROM "+table+")", "events INDEXED BY events_pos"
	if t.postgres {
		// An array of unknown length plans as a few lookups by position.
		in, from = "pos = ANY(ARRAY(SELECT pos FROM "+table+"))", "events"
	}
	f.add(in)
	where, args := f.where(nil)
	return t.queryEvents(ctx, "SELECT "+eventColumns+" FROM "+from+" WHERE "+where+" ORDER BY tm_create DESC, id DESC LIMIT ?", append(args, max(p.Limit, 1))...)
}

func (t *tx) ListEventAttempts(ctx context.Context, eventID string) ([]*convo.EventAttempt, error) {
	eventID, ok := canonicalID(eventID)
	if !ok {
		return []*convo.EventAttempt{}, nil
	}
	rows, err := t.q.QueryContext(ctx, t.sql("SELECT tm_attempt, http_status, error, latency_ms FROM event_attempts WHERE event_id = ? ORDER BY tm_attempt"), eventID)
	if err != nil {
		return nil, interpretError(err, events)
	}
	defer rows.Close()
	list := []*convo.EventAttempt{}
	for rows.Next() {
		a := &convo.EventAttempt{EventID: eventID}
		if err := rows.Scan(micros{&a.At}, &a.HTTPStatus, &a.Error, &a.LatencyMS); err != nil {
			return nil, interpretError(err, events)
		}
		list = append(list, a)
	}
	return list, interpretError(rows.Err(), events)
}

func (t *tx) PruneEvents(ctx context.Context, before convo.Time, limit int) (int, error) {
	// Positions follow creation, so the first event tells whether any is
	// old enough. Without asking, an outbox younger than the retention was
	// walked whole, every hour and at every start, to find nothing.
	var oldest int64
	err := t.q.QueryRowContext(ctx, t.sql("SELECT tm_create FROM events ORDER BY pos LIMIT 1")).Scan(&oldest)
	if errors.Is(err, sql.ErrNoRows) || err == nil && oldest >= before.Micros() {
		return 0, nil
	}
	if err != nil {
		return 0, interpretError(err, events)
	}
	// A bounded batch keeps the transaction short: on PostgreSQL an open
	// writer holds back every ordered reader (see posShift).
	if t.postgres {
		// Oldest first by walking events_pos, not by sorting the table.
		if err := t.execLater(ctx, events, "SET LOCAL enable_sort = off"); err != nil {
			return 0, err
		}
	}
	ids, err := queryColumn[string](ctx, t, t.sql("SELECT id FROM events WHERE status IN ('delivered', 'skipped') AND tm_create < ? ORDER BY pos LIMIT ?"), before.Micros(), max(limit, 1))
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	in := "(" + placeholders(len(ids)) + ")"
	if _, err := t.q.ExecContext(ctx, t.sql("DELETE FROM event_attempts WHERE event_id IN "+in), ids...); err != nil {
		return 0, interpretError(err, events)
	}
	res, err := t.q.ExecContext(ctx, t.sql("DELETE FROM events WHERE id IN "+in), ids...)
	if err != nil {
		return 0, interpretError(err, events)
	}
	n, err := res.RowsAffected()
	return int(n), interpretError(err, events)
}

func (t *tx) LastEventPos(ctx context.Context) (int64, error) {
	var pos int64
	err := t.q.QueryRowContext(ctx, t.lastSettledPos()).Scan(&pos)
	return pos, interpretError(err, events)
}

// lastSettledPos selects the highest settled position, 0 when there is none.
func (t *tx) lastSettledPos() string {
	return "SELECT COALESCE(MAX(pos), 0) FROM events WHERE pos IS NOT NULL" + t.settled("pos")
}
