package sqlstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/sqlstore"
)

// TestWork covers the durable work of the store: grouped commits, jobs and
// the event outbox, on every backend.
func TestWork(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		db := open(t, b.DSN)
		t.Run("GroupCommit", func(t *testing.T) { testGroupCommit(t, db) })
		t.Run("Jobs", func(t *testing.T) { testJobs(t, db) })
		t.Run("Events", func(t *testing.T) { testEvents(t, db) })
		t.Run("SkipEvents", func(t *testing.T) { testSkipEvents(t, db) })
		t.Run("ListWaiting", func(t *testing.T) { testListWaiting(t, db) })
		// SQLite has one writer: a second transaction cannot commit while
		// a first is open, so there is nothing to hold back.
		if b.Name == "postgres" {
			t.Run("OpenWriterHoldsBackReaders", func(t *testing.T) { testOpenWriterHoldsBackReaders(t, db) })
		}
		// Last: its claims lease what earlier subtests left due.
		t.Run("WaitBehindFailure", func(t *testing.T) { testWaitBehindFailure(t, db) })
	})
}

// testGroupCommit runs many Updates at once: each one's outcome is its own
// even when they share a commit — failures and panics undo only their writes.
func testGroupCommit(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	const n = 60
	customers := make([]*convo.Customer, n)
	errs := make([]error, n)
	panics := make([]any, n)
	failure := convo.Errorf(convo.EPrecondition, "SOME_RULE", "refused")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	meet := rendezvous(n)
	var wg sync.WaitGroup
	for i := range n {
		customers[i] = newCustomer(base)
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			meet()
			callCtx := ctx
			if i%10 == 9 {
				callCtx = cancelled
			}
			errs[i] = db.Update(callCtx, func(tx convo.Tx) error {
				if err := tx.CreateCustomer(ctx, customers[i]); err != nil {
					return err
				}
				switch i % 3 {
				case 1:
					return failure
				case 2:
					if i%6 == 5 {
						panic("boom")
					}
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, c := range customers {
		_, err := readErr(db, func(tx convo.Tx) (*convo.Customer, error) { return tx.GetCustomer(ctx, c.ID) })
		switch {
		case i%10 == 9:
			if !errors.Is(errs[i], context.Canceled) || err == nil {
				t.Errorf("update %d with a cancelled context: err %v, row found %v", i, errs[i], err == nil)
			}
		case i%3 == 1:
			if errs[i] != failure || err == nil {
				t.Errorf("failing update %d: err %v, row found %v; want its error and no row", i, errs[i], err == nil)
			}
		case i%6 == 5:
			if panics[i] != "boom" || err == nil {
				t.Errorf("panicking update %d: panic %v, row found %v; want the panic and no row", i, panics[i], err == nil)
			}
		default:
			if errs[i] != nil || panics[i] != nil || err != nil {
				t.Errorf("update %d: err %v, panic %v, read %v; want it committed", i, errs[i], panics[i], err)
			}
		}
	}
}
