package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/convohq/convo"
)

var events = kind{what: "event", notFound: convo.ReasonEventNotFound, conflict: convo.ReasonEventExists, conflictDetail: "the event exists"}

const eventColumns = "id, customer_id, type, stream_id, conversation_id, payload, target_uri, target_method, content_type, pos, status, attempts, next_attempt_at, locked_until, last_error, tm_create, tm_delivered"

// eventFields returns pointers to e's fields in the order of eventColumns.
func eventFields(e *convo.Event, pos *sql.NullInt64) []any {
	return []any{&e.ID, &e.CustomerID, &e.Type, &e.StreamID, &e.ConversationID, (*[]byte)(&e.Payload), &e.TargetURI, &e.TargetMethod, &e.ContentType, pos, &e.Status, &e.Attempts,
		micros{&e.NextAttemptAt}, micros{&e.LockedUntil}, &e.LastError, micros{&e.TMCreate}, micros{&e.TMDelivered}}
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

// pgTxPos is the first position of the current transaction on PostgreSQL
// (it gives the transaction its id if it has none yet); pgSettled is the
// first position not yet settled, read once per statement from its
// snapshot. Both shift by posShift.
const (
	pgTxPos   = "(pg_current_xact_id()::text::bigint << 20)"
	pgSettled = "(SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)"
)

// settled returns the condition, to append with its AND, that keeps
// column to settled positions; nothing on SQLite, where the positions a
// reader's snapshot holds are all settled.
func (t *tx) settled(column string) string {
	if !t.postgres {
		return ""
	}
	return " AND " + column + " < " + pgSettled
}

// eventStatus decides at insert whether anybody would receive an event: no
// target of its own and a customer without a webhook (or deleted) skip it.
// target and customerID are the SQL of the event's target and customer.
func eventStatus(target, customerID string) string {
	return "CASE WHEN " + target + " = '' AND EXISTS (SELECT 1 FROM customers c WHERE c.id = " + customerID +
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
	for _, id := range []*string{&e.ID, &e.CustomerID, &e.StreamID, &e.ConversationID} {
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
	return inChunks(len(es), func(start, n int) error {
		args := make([]any, 0, n*15)
		for _, e := range es[start : start+n] {
			pos, err := t.placeEvent(ctx, e)
			if err != nil {
				return err
			}
			args = append(args, e.ID, e.CustomerID, e.Type, e.StreamID, e.ConversationID, string(e.Payload), e.TargetURI, e.TargetMethod, e.ContentType,
				pos, e.TargetURI, e.CustomerID, e.NextAttemptAt.Micros(), e.TMCreate.Micros(), e.TMDelivered.Micros())
		}
		position := "?"
		if t.postgres {
			position = pgTxPos + " + ?"
		}
		row := "(?, ?, ?, ?, ?, ?, ?, ?, ?, " + position + ", " + eventStatus("?", "?") + ", 0, ?, 0, '', ?, ?)"
		// Nothing reads an event back in the transaction that makes it.
		if err := t.execLater(ctx, events, "INSERT INTO events ("+eventColumns+") VALUES "+row+strings.Repeat(", "+row, n-1), args...); err != nil {
			return err
		}
		// The chunk's positions follow each other.
		return t.execLater(ctx, events, queueRange, t.lastEventPos-int64(n)+1, t.lastEventPos)
	})
}

// createEventsColumns is CreateEvents on PostgreSQL: one statement for any
// number of events, which travel column by column as arrays.
func (t *tx) createEventsColumns(ctx context.Context, es []*convo.Event) error {
	if len(es) == 0 {
		return nil
	}
	n := len(es)
	ids, customers, types, streams, convs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	payloads, targets, methods, contentTypes := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ranks, nextAttempts, created, delivered := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, e := range es {
		rank, err := t.placeEvent(ctx, e)
		if err != nil {
			return err
		}
		ids[i], customers[i], types[i], streams[i], convs[i] = e.ID, e.CustomerID, e.Type, e.StreamID, e.ConversationID
		payloads[i], targets[i], methods[i], contentTypes[i] = string(e.Payload), e.TargetURI, e.TargetMethod, e.ContentType
		ranks[i], nextAttempts[i], created[i], delivered[i] = rank, e.NextAttemptAt.Micros(), e.TMCreate.Micros(), e.TMDelivered.Micros()
	}
	// Those somebody receives wait for delivery in the queue.
	return t.execLater(ctx, events, `WITH e AS (INSERT INTO events (`+eventColumns+`)
		SELECT v.id::uuid, v.customer_id::uuid, v.type, v.stream_id::uuid, v.conversation_id::uuid, v.payload, v.target_uri, v.target_method, v.content_type,
			`+pgTxPos+` + v.rank, `+eventStatus("v.target_uri", "v.customer_id::uuid")+`, 0, v.next_attempt_at, 0, '', v.tm_create, v.tm_delivered
		FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[])
			AS v(id, customer_id, type, stream_id, conversation_id, payload, target_uri, target_method, content_type, rank, next_attempt_at, tm_create, tm_delivered)
		RETURNING pos, stream_id, status, next_attempt_at)
		INSERT INTO event_queue (pos, stream_id, next_attempt_at, locked_until) SELECT e.pos, e.stream_id, `+queueWait+`, 0 FROM e WHERE e.status = 'pending'`,
		ids, customers, types, streams, convs, payloads, targets, methods, contentTypes, ranks, nextAttempts, created, delivered)
}

func (t *tx) SettledEvents(ctx context.Context, after int64, limit int) (convo.Settled, error) {
	var s convo.Settled
	err := t.q.QueryRowContext(ctx, t.sql(`SELECT
		(`+t.lastSettledPos()+`),
		(SELECT COUNT(*) FROM (SELECT 1 FROM event_queue WHERE pos > ?`+t.settled("pos")+` LIMIT ?) AS w)`),
		after, max(limit, 1)).Scan(&s.LastPos, &s.Wanted)
	return s, interpretError(err, events)
}

// claimPick selects the positions a claim leases: settled, due, unleased,
// and first in the queue of their stream, longest due first. The events
// queued behind one that failed wait as long as it does, so the walk over
// due events meets few that are not first of their stream.
const claimPick = `SELECT c.pos FROM event_queue c
	WHERE c.next_attempt_at <= ? AND c.locked_until <= ?%s
	AND c.pos = (SELECT MIN(b.pos) FROM event_queue b WHERE b.stream_id = c.stream_id)
	ORDER BY c.next_attempt_at, c.pos LIMIT %s`

// varyingLimit is the LIMIT of a statement whose limit changes from one
// call to the next, as a claim's does with the deliveries in flight.
// SQLite plans with the value of a bare parameter there and compiles the
// statement again whenever it changes (about 100 µs a claim, on the one
// writer); an expression keeps one plan.
func (t *tx) varyingLimit() string {
	if t.postgres {
		return "?"
	}
	return "? + 0"
}

// queueWait is when an event e newly queued is due: at its own next
// attempt, or later if the first event queued in its stream waits longer.
const queueWait = `COALESCE((SELECT CASE WHEN w.next_attempt_at > e.next_attempt_at THEN w.next_attempt_at END
	FROM event_queue w WHERE w.stream_id = e.stream_id ORDER BY w.pos LIMIT 1), e.next_attempt_at)`

// queueRange queues the events written at positions from the first
// argument to the second that somebody receives.
const queueRange = `INSERT INTO event_queue (pos, stream_id, next_attempt_at, locked_until)
	SELECT e.pos, e.stream_id, ` + queueWait + `, 0 FROM events e WHERE e.pos BETWEEN ? AND ? AND e.status = 'pending'`

func (t *tx) ClaimEvents(ctx context.Context, p convo.ClaimEventsParams) ([]*convo.Event, error) {
	now, lease := p.Now.Micros(), p.LeaseUntil.Micros()
	pick := fmt.Sprintf(claimPick, t.settled("c.pos"), t.varyingLimit())
	var list []*convo.Event
	var err error
	if t.postgres {
		// Several processes deliver from one database: each event to exactly one at a time.
		pick += " FOR UPDATE SKIP LOCKED"
		// The planner cannot estimate how few queued events are first of
		// their stream, and then reads them all and sorts them: tens of
		// milliseconds a claim with a backlog. In due order it stops after
		// Limit. Nothing follows the claim in the transaction.
		if err := t.execLater(ctx, events, "SET LOCAL enable_sort = off"); err != nil {
			return nil, err
		}
		// The lease is the queue's; the event comes along in the same statement.
		list, err = t.queryEvents(ctx, "UPDATE event_queue q SET locked_until = ? FROM events e WHERE e.pos = q.pos AND q.pos IN ("+pick+") RETURNING "+leasedEventColumns,
			lease, now, now, max(p.Limit, 1))
	} else {
		// SQLite returns only the updated table's columns: the events follow by position.
		list, err = t.claimSQLite(ctx, pick, lease, now, max(p.Limit, 1))
	}
	slices.SortFunc(list, func(a, b *convo.Event) int { return cmp.Compare(a.Pos, b.Pos) })
	return list, err
}

func (t *tx) ReleaseEventLeases(ctx context.Context, ends []convo.Time) error {
	return t.releaseLeases(ctx, events, "UPDATE event_queue SET locked_until = 0 WHERE locked_until", ends)
}

// leasedEventColumns are eventColumns of events e, with the lease of the queue row q.
var leasedEventColumns = strings.Replace("e."+strings.ReplaceAll(eventColumns, ", ", ", e."), "e.locked_until", "q.locked_until", 1)

func (t *tx) claimSQLite(ctx context.Context, pick string, lease, now int64, limit int) ([]*convo.Event, error) {
	positions, err := queryColumn[int64](ctx, t, "UPDATE event_queue SET locked_until = ? WHERE pos IN ("+pick+") RETURNING pos", lease, now, now, limit)
	if err != nil || len(positions) == 0 {
		return []*convo.Event{}, err
	}
	list, err := t.queryEvents(ctx, "SELECT "+eventColumns+" FROM events WHERE pos IN ("+placeholders(len(positions))+")", positions...)
	for _, e := range list {
		e.LockedUntil = convo.TimeFromMicros(lease)
	}
	return list, err
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

// nextInStream selects the position of the event queued next in stream
// after pos, both given as SQL.
func nextInStream(stream, pos string) string {
	return "SELECT n.pos FROM event_queue n WHERE n.stream_id = " + stream + " AND n.pos > " + pos + " ORDER BY n.pos LIMIT 1"
}

// waiting is convo.DeliveryWaiting as an SQL condition on a status.
const waiting = "IN ('pending', 'failed')"

func (t *tx) RecordDeliveries(ctx context.Context, outcomes []convo.DeliveryOutcome) error {
	if t.postgres {
		return t.recordDeliveriesAtOnce(ctx, outcomes)
	}
	// On SQLite a statement costs no round trip: one per row is as fast.
	var settled, retried, died []any
	for _, o := range outcomes {
		e, a := o.Event, o.Attempt
		_, err := t.q.ExecContext(ctx, "UPDATE events SET status = ?, attempts = ?, next_attempt_at = ?, locked_until = ?, last_error = ?, tm_delivered = ? WHERE id = ?",
			e.Status, e.Attempts, e.NextAttemptAt.Micros(), e.LockedUntil.Micros(), e.LastError, e.TMDelivered.Micros(), e.ID)
		if err != nil {
			return interpretError(err, events)
		}
		if convo.DeliveryWaiting(e.Status) {
			retried = append(retried, e.ID)
			// The events behind it in its stream wait as long as it does.
			_, err = t.q.ExecContext(ctx, `UPDATE event_queue SET next_attempt_at = ?
				WHERE stream_id = (SELECT stream_id FROM events WHERE id = ?) AND pos > (SELECT pos FROM events WHERE id = ?) AND next_attempt_at <> ?`,
				e.NextAttemptAt.Micros(), e.ID, e.ID, e.NextAttemptAt.Micros())
		} else if settled = append(settled, e.ID); e.Attempts > 1 {
			// The next in its stream, if it waited for it, is due at its own time again.
			_, err = t.q.ExecContext(ctx, `UPDATE event_queue SET next_attempt_at = (SELECT o.next_attempt_at FROM events o WHERE o.pos = event_queue.pos)
				WHERE pos = (`+nextInStream("(SELECT stream_id FROM events WHERE id = ?)", "(SELECT pos FROM events WHERE id = ?)")+`)
				AND next_attempt_at > (SELECT o.next_attempt_at FROM events o WHERE o.pos = event_queue.pos)`, e.ID, e.ID)
		}
		if err != nil {
			return interpretError(err, events)
		}
		if e.Status == convo.DeliveryDead {
			died = append(died, e.ID)
		}
		if a == nil {
			continue
		}
		_, err = t.q.ExecContext(ctx, "INSERT INTO event_attempts (event_id, tm_attempt, http_status, error, latency_ms) VALUES (?, ?, ?, ?, ?)",
			e.ID, a.At.Micros(), a.HTTPStatus, a.Error, a.LatencyMS)
		if err != nil {
			return interpretError(err, events)
		}
	}
	// A settled delivery leaves the queue; a retry waits there for its
	// time, also one asked for after the event was given up.
	err := inChunks(len(settled), func(start, n int) error {
		_, err := t.q.ExecContext(ctx, "DELETE FROM event_queue WHERE pos IN (SELECT pos FROM events WHERE id IN ("+placeholders(n)+"))", settled[start:start+n]...)
		return interpretError(err, events)
	})
	if err != nil {
		return err
	}
	err = inChunks(len(died), func(start, n int) error {
		_, err := t.q.ExecContext(ctx, "INSERT INTO dead_events (pos) SELECT pos FROM events WHERE id IN ("+placeholders(n)+") ON CONFLICT (pos) DO NOTHING", died[start:start+n]...)
		return interpretError(err, events)
	})
	if err != nil {
		return err
	}
	return inChunks(len(retried), func(start, n int) error {
		_, err := t.q.ExecContext(ctx, `INSERT INTO event_queue (pos, stream_id, next_attempt_at, locked_until)
			SELECT pos, stream_id, next_attempt_at, locked_until FROM events WHERE id IN (`+placeholders(n)+`)
			ON CONFLICT (pos) DO UPDATE SET next_attempt_at = excluded.next_attempt_at, locked_until = excluded.locked_until`, retried[start:start+n]...)
		if err == nil {
			// A retry brings an event given up on back.
			_, err = t.q.ExecContext(ctx, "DELETE FROM dead_events WHERE pos IN (SELECT pos FROM events WHERE id IN ("+placeholders(n)+"))", retried[start:start+n]...)
		}
		return interpretError(err, events)
	})
}

// recordDeliveriesAtOnce writes a pass's outcomes on PostgreSQL in two
// statements over arrays, sent with the transaction's next statement.
func (t *tx) recordDeliveriesAtOnce(ctx context.Context, outcomes []convo.DeliveryOutcome) error {
	n := len(outcomes)
	if n == 0 {
		return nil
	}
	ids, statuses, lastErrors := make([]string, n), make([]string, n), make([]string, n)
	attempts, nextAt, lockedUntil, delivered := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	var aIDs, aErrors []string
	var aAt, aStatus, aLatency []int64
	for i, o := range outcomes {
		e := o.Event
		ids[i], statuses[i], lastErrors[i] = e.ID, e.Status, e.LastError
		attempts[i], nextAt[i], lockedUntil[i], delivered[i] = int64(e.Attempts), e.NextAttemptAt.Micros(), e.LockedUntil.Micros(), e.TMDelivered.Micros()
		if a := o.Attempt; a != nil {
			aIDs, aErrors = append(aIDs, e.ID), append(aErrors, a.Error)
			aAt, aStatus, aLatency = append(aAt, a.At.Micros()), append(aStatus, int64(a.HTTPStatus)), append(aLatency, a.LatencyMS)
		}
	}
	// Dead events change only when one dies or is retried: the statement of
	// a pass whose deliveries all succeeded leaves them out.
	var deadEvents string
	if slices.ContainsFunc(outcomes, func(o convo.DeliveryOutcome) bool { return o.Event.Status == convo.DeliveryDead }) {
		deadEvents += `died AS (INSERT INTO dead_events (pos) SELECT pos FROM u WHERE status = 'dead' ON CONFLICT (pos) DO NOTHING),`
	}
	if slices.ContainsFunc(outcomes, func(o convo.DeliveryOutcome) bool { return convo.DeliveryWaiting(o.Event.Status) }) {
		deadEvents += `revived AS (DELETE FROM dead_events WHERE pos = ANY(ARRAY(SELECT pos FROM u WHERE status ` + waiting + `))),`
	}
	// A settled delivery leaves the queue and, if it failed before, the next
	// in its stream is due at its own time again (those after it follow as
	// it settles); a retry waits there for its time, also one asked for
	// after the event was given up, and those behind it wait as long. An
	// event given up on is noted as dead until it is retried. Both writes
	// travel with the pass's next statement.
	err := t.execLater(ctx, events, `WITH u AS (UPDATE events SET status = v.status, attempts = v.attempts, next_attempt_at = v.next_attempt_at,
			locked_until = v.locked_until, last_error = v.last_error, tm_delivered = v.tm_delivered
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[])
			AS v(id, status, attempts, next_attempt_at, locked_until, last_error, tm_delivered)
		WHERE events.id = v.id::uuid
		RETURNING events.pos, events.stream_id, events.status, events.attempts, events.next_attempt_at, events.locked_until),
	settled AS (DELETE FROM event_queue WHERE pos = ANY(ARRAY(SELECT pos FROM u WHERE status NOT `+waiting+`))),
	behind AS (UPDATE event_queue q SET next_attempt_at = w.next_attempt_at
		FROM (SELECT stream_id, pos, next_attempt_at FROM u WHERE status `+waiting+`) AS w
		WHERE q.stream_id = w.stream_id AND q.pos > w.pos AND q.next_attempt_at <> w.next_attempt_at),
	`+deadEvents+`
	freed AS (UPDATE event_queue q SET next_attempt_at = o.next_attempt_at
		FROM (SELECT (`+nextInStream("s.stream_id", "s.pos")+`) AS pos FROM u AS s WHERE s.status NOT `+waiting+` AND s.attempts > 1) AS n, events o
		WHERE q.pos = n.pos AND o.pos = q.pos AND q.next_attempt_at > o.next_attempt_at)
	INSERT INTO event_queue (pos, stream_id, next_attempt_at, locked_until)
		SELECT pos, stream_id, next_attempt_at, locked_until FROM u WHERE status `+waiting+`
		ON CONFLICT (pos) DO UPDATE SET next_attempt_at = EXCLUDED.next_attempt_at, locked_until = EXCLUDED.locked_until`,
		ids, statuses, attempts, nextAt, lockedUntil, lastErrors, delivered)
	if err != nil || len(aIDs) == 0 {
		return err
	}
	return t.execLater(ctx, events, `INSERT INTO event_attempts (event_id, tm_attempt, http_status, error, latency_ms)
		SELECT id::uuid, tm_attempt, http_status, error, latency_ms
		FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[]) AS a(id, tm_attempt, http_status, error, latency_ms)`,
		aIDs, aAt, aStatus, aErrors, aLatency)
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
