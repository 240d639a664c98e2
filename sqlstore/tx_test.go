package sqlstore_test

import (
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

func testRollback(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	c := newCustomer(base)
	failure := convo.Errorf(convo.EPrecondition, "SOME_RULE", "refused")
	err := db.Update(ctx, func(tx convo.Tx) error {
		if err := tx.CreateCustomer(ctx, c); err != nil {
			return err
		}
		return failure
	})
	if err != failure {
		t.Fatalf("Update returned %v, want fn's error as is", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a panic in fn did not reach the caller")
			}
		}()
		db.Update(ctx, func(tx convo.Tx) error {
			if err := tx.CreateCustomer(ctx, c); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	_, err = readErr(db, func(tx convo.Tx) (*convo.Customer, error) { return tx.GetCustomer(ctx, c.ID) })
	wantErr(t, err, convo.ENotFound, convo.ReasonCustomerNotFound)
	// The store still works after the panic.
	update(t, db, func(tx convo.Tx) error { return tx.CreateCustomer(ctx, c) })
}

// testFailedWriteRollsBack checks writes that report nothing but an error
// (events, jobs): when one fails, Update fails with its error, whichever
// later call of fn saw it first, and nothing of the transaction is kept.
func testFailedWriteRollsBack(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust := newCustomer(base)
	update(t, db, func(tx convo.Tx) error { return tx.CreateCustomer(ctx, cust) })
	event := func(id string) *convo.Event {
		return &convo.Event{ID: id, CustomerID: cust.ID, Type: convo.EventConversationUpdated, StreamID: cust.ID, ConversationID: cust.ID,
			Payload: []byte(`{}`), NextAttemptAt: at(0), TMCreate: at(0), TMDelivered: convo.Never}
	}
	taken := event(convo.NewID())
	update(t, db, func(tx convo.Tx) error { return tx.CreateEvent(ctx, taken) })

	for _, then := range []struct {
		name string
		fn   func(tx convo.Tx) error
	}{
		{"followed by nothing", func(convo.Tx) error { return nil }},
		{"followed by a read", func(tx convo.Tx) error {
			_, err := tx.GetCustomer(ctx, cust.ID)
			return err
		}},
		{"followed by a write", func(tx convo.Tx) error {
			return tx.CreateJob(ctx, &convo.Job{ID: convo.NewID(), Kind: convo.JobPeerName, RefID: cust.ID, RunAt: at(0), TMCreate: at(0)})
		}},
	} {
		t.Run(then.name, func(t *testing.T) {
			kept := newCustomer(base)
			job := &convo.Job{ID: convo.NewID(), Kind: convo.JobPeerName, RefID: kept.ID, RunAt: at(0), TMCreate: at(0)}
			err := db.Update(ctx, func(tx convo.Tx) error {
				if err := tx.CreateCustomer(ctx, kept); err != nil {
					return err
				}
				if err := tx.CreateJob(ctx, job); err != nil {
					return err
				}
				if err := tx.CreateEvent(ctx, event(taken.ID)); err != nil {
					return err
				}
				return then.fn(tx)
			})
			wantErr(t, err, convo.EConflict, convo.ReasonEventExists)
			_, err = readErr(db, func(tx convo.Tx) (*convo.Customer, error) { return tx.GetCustomer(ctx, kept.ID) })
			wantErr(t, err, convo.ENotFound, convo.ReasonCustomerNotFound)
			var claimed []*convo.Job
			update(t, db, func(tx convo.Tx) (err error) {
				claimed, err = tx.ClaimJobs(ctx, convo.ClaimJobsParams{ID: job.ID, Now: at(time.Hour), LeaseUntil: at(2 * time.Hour), Limit: 1})
				return err
			})
			if len(claimed) != 0 {
				t.Errorf("the job of the failed transaction was kept: %+v", claimed[0])
			}
		})
	}
	// The store still works.
	update(t, db, func(tx convo.Tx) error { return tx.CreateEvent(ctx, event(convo.NewID())) })
}

func testViewIsReadOnly(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	c := newCustomer(base)
	if err := db.View(ctx, func(tx convo.Tx) error { return tx.CreateCustomer(ctx, c) }); err == nil {
		t.Error("View allowed a write")
	}
	_, err := readErr(db, func(tx convo.Tx) (*convo.Customer, error) { return tx.GetCustomer(ctx, c.ID) })
	wantErr(t, err, convo.ENotFound, convo.ReasonCustomerNotFound)
}

func testReopen(t *testing.T, dsn string) {
	ctx := t.Context()
	c := newCustomer(base)
	db := open(t, dsn)
	update(t, db, func(tx convo.Tx) error { return tx.CreateCustomer(ctx, c) })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	same(t, read(t, open(t, dsn), func(tx convo.Tx) (*convo.Customer, error) { return tx.GetCustomer(ctx, c.ID) }), c)
}
