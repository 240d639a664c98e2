package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/convohq/convo"
)

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
		list, err = t.claimPostgres(ctx, pick, lease, now, max(p.Limit, 1))
	} else {
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
	return t.recordDeliveriesOneByOne(ctx, outcomes)
}
