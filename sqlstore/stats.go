package sqlstore

import (
	"context"
	"database/sql"

	"github.com/convohq/convo"
)

// BacklogCountLimit bounds each count of Backlog, so that a backlog of
// millions costs a scrape no more than this many index entries.
const BacklogCountLimit = 1_000_000

// Backlog reads what waits in the database, for monitoring. It reads only
// the delivery queue, the dead events' table and the jobs (all small while
// things go well, each count capped at BacklogCountLimit) on the reader,
// never the outbox's history; the caller bounds it with ctx.
func (db *DB) Backlog(ctx context.Context) (convo.Backlog, error) {
	b := convo.Backlog{JobsPending: map[string]int{}}
	err := db.View(ctx, func(ctxTx convo.Tx) error {
		t := ctxTx.(*tx)
		var oldest sql.NullInt64
		err := t.q.QueryRowContext(ctx, t.sql(`SELECT
			(SELECT COUNT(*) FROM (SELECT 1 FROM event_queue LIMIT ?) AS q),
			(SELECT e.tm_create FROM events e WHERE e.pos = (SELECT MIN(pos) FROM event_queue)),
			(SELECT COUNT(*) FROM (SELECT 1 FROM dead_events LIMIT ?) AS d)`),
			BacklogCountLimit, BacklogCountLimit).Scan(&b.EventsPending, &oldest, &b.EventsDead)
		if err != nil {
			return interpretError(err, events)
		}
		if oldest.Valid {
			b.OldestPending = convo.TimeFromMicros(oldest.Int64)
		}
		rows, err := t.q.QueryContext(ctx, t.sql(`SELECT kind, COUNT(*) FROM (SELECT kind FROM jobs LIMIT ?) AS j GROUP BY kind`), BacklogCountLimit)
		if err != nil {
			return interpretError(err, jobs)
		}
		defer rows.Close()
		for rows.Next() {
			var kind string
			var n int
			if err := rows.Scan(&kind, &n); err != nil {
				return interpretError(err, jobs)
			}
			b.JobsPending[kind] = n
		}
		return interpretError(rows.Err(), jobs)
	})
	return b, err
}

// Pools returns the figures of the database's connection pools: the
// reader's and the writer's. On PostgreSQL Updates borrow the writer's
// connections from pgx's pool directly, so its figures are the pool's.
func (db *DB) Pools() []convo.PoolStats {
	writer := sqlPoolStats("writer", db.writer.Stats())
	if db.pool != nil {
		s := db.pool.Stat()
		writer = convo.PoolStats{Name: "writer", MaxOpen: int(s.MaxConns()), Open: int(s.TotalConns()),
			InUse: int(s.AcquiredConns()), Idle: int(s.IdleConns()), Waits: s.EmptyAcquireCount(), WaitTime: s.EmptyAcquireWaitTime()}
	}
	return []convo.PoolStats{sqlPoolStats("reader", db.reader.Stats()), writer}
}

func sqlPoolStats(name string, s sql.DBStats) convo.PoolStats {
	return convo.PoolStats{Name: name, MaxOpen: s.MaxOpenConnections, Open: s.OpenConnections, InUse: s.InUse,
		Idle: s.Idle, Waits: s.WaitCount, WaitTime: s.WaitDuration}
}
