package sqlstore

import (
	"context"

	"github.com/convohq/convo"
)

var jobs = kind{what: "job", notFound: convo.ReasonJobNotFound, conflict: convo.ReasonJobExists, conflictDetail: "the job exists"}

func (t *tx) CreateJob(ctx context.Context, j *convo.Job) error {
	var lockedUntil int64 // unclaimed
	if !j.LockedUntil.IsZero() {
		lockedUntil = j.LockedUntil.Micros()
	}
	return t.execLater(ctx, jobs, "INSERT INTO jobs (id, kind, ref_id, run_at, locked_until, attempts, last_error, tm_create) VALUES (?, ?, ?, ?, ?, ?, '', ?)",
		j.ID, j.Kind, j.RefID, j.RunAt.Micros(), lockedUntil, j.Attempts, j.TMCreate.Micros())
}

func (t *tx) EnsureJob(ctx context.Context, j *convo.Job) error {
	return t.execLater(ctx, jobs, "INSERT INTO jobs (id, kind, ref_id, run_at, locked_until, attempts, last_error, tm_create) VALUES (?, ?, ?, ?, 0, 0, '', ?) ON CONFLICT (id) DO NOTHING",
		j.ID, j.Kind, j.RefID, j.RunAt.Micros(), j.TMCreate.Micros())
}

func (t *tx) ClaimJobs(ctx context.Context, p convo.ClaimJobsParams) ([]*convo.Job, error) {
	now := p.Now.Micros()
	due, args := "run_at <= ? AND locked_until <= ? ORDER BY run_at LIMIT ?", []any{p.LeaseUntil.Micros(), now, now, max(p.Limit, 1)}
	if p.ID != "" {
		id, ok := canonicalID(p.ID)
		if !ok {
			return nil, nil
		}
		due, args = "id = ? AND locked_until <= ?", []any{p.LeaseUntil.Micros(), id, now}
	}
	picked := "id IN (SELECT id FROM jobs WHERE " + due + ")"
	if t.postgres {
		// Several processes poll one database: each job goes to exactly one.
		// The ids picked are an array, looked up one by one: joined with
		// the table, a claim read every job to match a few.
		picked = "id = ANY(ARRAY(SELECT id FROM jobs WHERE " + due + " FOR UPDATE SKIP LOCKED))"
	}
	query := "UPDATE jobs SET locked_until = ?, attempts = attempts + 1 WHERE " + picked + " RETURNING id, kind, ref_id, run_at, attempts, last_error, tm_create"
	var res rows
	var err error
	if p.ID != "" {
		res, err = t.q.QueryContext(ctx, t.sql(query), args...)
	} else {
		// Walked in due order, not read whole and sorted (see pinSQL).
		res, err = t.queryInOrder(ctx, query, args...)
	}
	if err != nil {
		return nil, interpretError(err, jobs)
	}
	defer res.Close()
	var claimed []*convo.Job
	for res.Next() {
		j := &convo.Job{}
		if err := res.Scan(&j.ID, &j.Kind, &j.RefID, micros{&j.RunAt}, &j.Attempts, &j.LastError, micros{&j.TMCreate}); err != nil {
			return nil, interpretError(err, jobs)
		}
		claimed = append(claimed, j)
	}
	return claimed, interpretError(res.Err(), jobs)
}

func (t *tx) ReleaseJobLeases(ctx context.Context, ends []convo.Time) error {
	return t.releaseLeases(ctx, jobs, "UPDATE jobs SET locked_until = 0, attempts = attempts - 1 WHERE locked_until", ends)
}

// releaseLeases runs update, a statement ending in its lease column, on
// the rows leased until any of ends.
func (t *tx) releaseLeases(ctx context.Context, k kind, update string, ends []convo.Time) error {
	values := make([]int64, len(ends))
	for i, e := range ends {
		values[i] = e.Micros()
	}
	if t.postgres {
		return t.execLater(ctx, k, update+" = ANY(?::bigint[])", values)
	}
	return inChunks(len(values), func(start, n int) error {
		args := make([]any, n)
		for i := range args {
			args[i] = values[start+i]
		}
		return t.execLater(ctx, k, update+" IN ("+placeholders(n)+")", args...)
	})
}

func (t *tx) RescheduleJob(ctx context.Context, id string, runAt convo.Time, lastError string) error {
	return t.execLater(ctx, jobs, "UPDATE jobs SET run_at = ?, locked_until = 0, last_error = ? WHERE id = ?", runAt.Micros(), lastError, id)
}

func (t *tx) DeleteJob(ctx context.Context, id string) error {
	return t.execLater(ctx, jobs, "DELETE FROM jobs WHERE id = ?", id)
}
