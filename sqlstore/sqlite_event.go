package sqlstore

import (
	"context"
	"strings"

	"github.com/convohq/convo"
)

// createEventsRows is CreateEvents on SQLite: multi-row INSERTs, each
// followed by the queueing of its events that somebody receives.
func (t *tx) createEventsRows(ctx context.Context, es []*convo.Event) error {
	return inChunks(len(es), func(start, n int) error {
		args := make([]any, 0, n*17)
		for _, e := range es[start : start+n] {
			pos, err := t.placeEvent(ctx, e)
			if err != nil {
				return err
			}
			args = append(args, e.ID, e.CustomerID, e.Type, e.StreamID, e.ConversationID, string(e.Payload), e.TargetURI, e.TargetMethod, e.ContentType,
				pos, e.AudienceID, e.TargetURI, e.CustomerID, e.NextAttemptAt.Micros(), e.TMCreate.Micros(), e.TMDelivered.Micros(), e.AudienceID)
		}
		row := "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, " + eventStatus("?", "?", "?") + ", 0, ?, 0, '', ?, ?, ?)"
		// Nothing reads an event back in the transaction that makes it.
		if err := t.execLater(ctx, events, "INSERT INTO events ("+eventColumns+") VALUES "+row+strings.Repeat(", "+row, n-1), args...); err != nil {
			return err
		}
		// The chunk's positions follow each other.
		return t.execLater(ctx, events, queueRange, t.lastEventPos-int64(n)+1, t.lastEventPos)
	})
}

// claimSQLite is ClaimEvents on SQLite, which returns only the updated
// table's columns: the events follow by position.
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

// recordDeliveriesOneByOne is RecordDeliveries on SQLite, where a
// statement costs no round trip: one per row is as fast.
func (t *tx) recordDeliveriesOneByOne(ctx context.Context, outcomes []convo.DeliveryOutcome) error {
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
