package sqlstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

func testJobs(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	due, later := &convo.Job{ID: convo.NewID(), Kind: convo.JobSendMessage, RefID: convo.NewID(), RunAt: at(0), TMCreate: at(0)},
		&convo.Job{ID: convo.NewID(), Kind: convo.JobPeerName, RefID: convo.NewID(), RunAt: at(time.Hour), TMCreate: at(0)}
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateJob, due, later) })
	claim := func(p convo.ClaimJobsParams) []*convo.Job {
		return read(t, db, func(tx convo.Tx) ([]*convo.Job, error) {
			var jobs []*convo.Job
			err := db.Update(ctx, func(tx convo.Tx) (err error) { jobs, err = tx.ClaimJobs(ctx, p); return err })
			return jobs, err
		})
	}
	lease := convo.ClaimJobsParams{Now: at(time.Minute), LeaseUntil: at(2 * time.Minute), Limit: 10}
	if got := claim(lease); len(got) != 1 || got[0].ID != due.ID || got[0].Attempts != 1 || got[0].RefID != due.RefID {
		t.Fatalf("first claim got %+v, want only the due job with 1 attempt", got)
	}
	if got := claim(lease); len(got) != 0 {
		t.Fatalf("a leased job was claimed again: %+v", got)
	}
	// By id, a job not yet due can be claimed; a leased one cannot.
	if got := claim(convo.ClaimJobsParams{ID: later.ID, Now: at(time.Minute), LeaseUntil: at(2 * time.Minute), Limit: 1}); len(got) != 1 {
		t.Fatalf("claim by id got %d jobs", len(got))
	}
	if got := claim(convo.ClaimJobsParams{ID: due.ID, Now: at(time.Minute), LeaseUntil: at(2 * time.Minute), Limit: 1}); len(got) != 0 {
		t.Fatal("claim by id took a job leased to someone else")
	}
	// After the lease expires the job comes back; a rescheduled one waits until due.
	if got := claim(convo.ClaimJobsParams{Now: at(3 * time.Minute), LeaseUntil: at(4 * time.Minute), Limit: 10}); len(got) != 1 || got[0].Attempts != 2 {
		t.Fatalf("after the lease expired got %+v, want the job again with 2 attempts", got)
	}
	update(t, db, func(tx convo.Tx) error { return tx.RescheduleJob(ctx, due.ID, at(10*time.Minute), "try later") })
	if got := claim(convo.ClaimJobsParams{Now: at(5 * time.Minute), LeaseUntil: at(6 * time.Minute), Limit: 10}); len(got) != 0 {
		t.Fatalf("a rescheduled job was claimed early: %+v", got)
	}
	update(t, db, func(tx convo.Tx) error { return tx.DeleteJob(ctx, due.ID) })
	update(t, db, func(tx convo.Tx) error { return tx.DeleteJob(ctx, later.ID) })
	// A job created claimed (its creator runs it) is left to others until
	// its lease ends, as if its creator had died; then it counts a second attempt.
	born := &convo.Job{ID: convo.NewID(), Kind: convo.JobPeerName, RefID: convo.NewID(), RunAt: at(0), TMCreate: at(0), Attempts: 1, LockedUntil: at(20 * time.Minute)}
	update(t, db, func(tx convo.Tx) error { return tx.CreateJob(ctx, born) })
	if got := claim(convo.ClaimJobsParams{Now: at(19 * time.Minute), LeaseUntil: at(21 * time.Minute), Limit: 10}); len(got) != 0 {
		t.Fatalf("a job created claimed was claimed during its lease: %+v", got)
	}
	if got := claim(convo.ClaimJobsParams{Now: at(20 * time.Minute), LeaseUntil: at(21 * time.Minute), Limit: 10}); len(got) != 1 || got[0].ID != born.ID || got[0].Attempts != 2 {
		t.Fatalf("after the creator's lease got %+v, want the job with 2 attempts", got)
	}
	update(t, db, func(tx convo.Tx) error { return tx.DeleteJob(ctx, born.ID) })
	// A claim whose commit went unanswered is undone by its lease's end,
	// and only that claim: the job is free again, its attempt uncounted.
	undone, kept := &convo.Job{ID: convo.NewID(), Kind: convo.JobSendMessage, RefID: convo.NewID(), RunAt: at(30 * time.Minute), TMCreate: at(0)},
		&convo.Job{ID: convo.NewID(), Kind: convo.JobSendMessage, RefID: convo.NewID(), RunAt: at(30 * time.Minute), TMCreate: at(0)}
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateJob, undone, kept) })
	claim(convo.ClaimJobsParams{ID: undone.ID, Now: at(30 * time.Minute), LeaseUntil: at(31 * time.Minute), Limit: 1})
	claim(convo.ClaimJobsParams{ID: kept.ID, Now: at(30 * time.Minute), LeaseUntil: at(31*time.Minute + time.Microsecond), Limit: 1})
	update(t, db, func(tx convo.Tx) error {
		return tx.ReleaseJobLeases(ctx, []convo.Time{at(31 * time.Minute), at(time.Hour)})
	})
	if got := claim(convo.ClaimJobsParams{Now: at(30 * time.Minute), LeaseUntil: at(32 * time.Minute), Limit: 10}); len(got) != 1 || got[0].ID != undone.ID || got[0].Attempts != 1 {
		t.Fatalf("after releasing a lease got %+v, want only its job, with 1 attempt", got)
	}
	update(t, db, func(tx convo.Tx) error { return errors.Join(tx.DeleteJob(ctx, undone.ID), tx.DeleteJob(ctx, kept.ID)) })
	if got := claim(convo.ClaimJobsParams{Now: at(24 * time.Hour), LeaseUntil: at(25 * time.Hour), Limit: 10}); len(got) != 0 {
		t.Fatalf("deleted jobs were claimed: %+v", got)
	}
}
