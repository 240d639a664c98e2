package sqlstore

import (
	"context"
	"slices"

	"github.com/convohq/convo"
)

// pgTxPos is the first position of the current transaction on PostgreSQL
// (it gives the transaction its id if it has none yet); pgSettled is the
// first position not yet settled, read once per statement from its
// snapshot. Both shift by posShift.
const (
	pgTxPos   = "(pg_current_xact_id()::text::bigint << 20)"
	pgSettled = "(SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)"
)

// createEventsColumns is CreateEvents on PostgreSQL: one statement for any
// number of events, which travel column by column as arrays.
func (t *tx) createEventsColumns(ctx context.Context, es []*convo.Event) error {
	if len(es) == 0 {
		return nil
	}
	n := len(es)
	ids, customers, types, streams, convs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	payloads, targets, methods, contentTypes, audiences := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ranks, nextAttempts, created, delivered := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, e := range es {
		rank, err := t.placeEvent(ctx, e)
		if err != nil {
			return err
		}
		ids[i], customers[i], types[i], streams[i], convs[i] = e.ID, e.CustomerID, e.Type, e.StreamID, e.ConversationID
		payloads[i], targets[i], methods[i], contentTypes[i], audiences[i] = string(e.Payload), e.TargetURI, e.TargetMethod, e.ContentType, e.AudienceID
		ranks[i], nextAttempts[i], created[i], delivered[i] = rank, e.NextAttemptAt.Micros(), e.TMCreate.Micros(), e.TMDelivered.Micros()
	}
	// Those somebody receives wait for delivery in the queue.
	return t.execLater(ctx, events, `WITH e AS (INSERT INTO events (`+eventColumns+`)
		SELECT v.id::uuid, v.customer_id::uuid, v.type, v.stream_id::uuid, v.conversation_id::uuid, v.payload, v.target_uri, v.target_method, v.content_type,
			`+pgTxPos+` + v.rank, `+eventStatus("v.audience_id", "v.target_uri", "v.customer_id::uuid")+`, 0, v.next_attempt_at, 0, '', v.tm_create, v.tm_delivered, v.audience_id::uuid
		FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::text[])
			AS v(id, customer_id, type, stream_id, conversation_id, payload, target_uri, target_method, content_type, rank, next_attempt_at, tm_create, tm_delivered, audience_id)
		RETURNING pos, stream_id, status, next_attempt_at)
		INSERT INTO event_queue (pos, stream_id, next_attempt_at, locked_until) SELECT e.pos, e.stream_id, `+queueWait+`, 0 FROM e WHERE e.status = 'pending'`,
		ids, customers, types, streams, convs, payloads, targets, methods, contentTypes, ranks, nextAttempts, created, delivered, audiences)
}

// claimPostgres is ClaimEvents on PostgreSQL: the lease is the queue's,
// and the event comes along in the same statement.
func (t *tx) claimPostgres(ctx context.Context, pick string, lease, now int64, limit int) ([]*convo.Event, error) {
	// Several processes deliver from one database: each event to exactly one at a time.
	pick += " FOR UPDATE SKIP LOCKED"
	// The planner cannot estimate how few queued events are first of
	// their stream, and then reads them all and sorts them: tens of
	// milliseconds a claim with a backlog. In due order it stops after
	// Limit. Nothing follows the claim in the transaction.
	if err := t.execLater(ctx, events, "SET LOCAL enable_sort = off"); err != nil {
		return nil, err
	}
	return t.queryEvents(ctx, "UPDATE event_queue q SET locked_until = ? FROM events e WHERE e.pos = q.pos AND q.pos IN ("+pick+") RETURNING "+leasedEventColumns,
		lease, now, now, limit)
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
