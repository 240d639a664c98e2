package service

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
	"golang.org/x/crypto/bcrypt"
)

// These tests put the database's faults under their control: a store
// that is away (every call fails as while PostgreSQL restarts), or whose
// commits go unanswered (committed, reported failed). The clock stands
// still, so no lease ever ends by itself: only the service's own recovery
// can bring back what a fault left leased.

// faultyStore is a real store with the faults of a database that goes away.
type faultyStore struct {
	convo.Store
	// down fails every call.
	down atomic.Bool
	// lost is how many of the next Updates commit but report failure, as
	// when the connection drops before COMMIT is answered.
	lost atomic.Int32
}

var errDatabaseDown = convo.Errorf(convo.EUnavailable, convo.ReasonDatabaseUnavailable, "the database is not answering")

func (f *faultyStore) Update(ctx context.Context, fn func(convo.Tx) error) error {
	if f.down.Load() {
		return errDatabaseDown
	}
	err := f.Store.Update(ctx, fn)
	if err == nil && f.lost.Add(-1) >= 0 {
		return errDatabaseDown
	}
	return err
}

func (f *faultyStore) View(ctx context.Context, fn func(convo.Tx) error) error {
	if f.down.Load() {
		return errDatabaseDown
	}
	return f.Store.View(ctx, fn)
}

type stoppedClock struct{ at time.Time }

func (c stoppedClock) Now() time.Time { return c.at }

// outageTest is a service over a faulty store, with a customer whose
// webhook is answered by handler.
type outageTest struct {
	store *faultyStore
	s     *Service
	cust  *convo.Customer
}

func newOutageTest(t *testing.T, handler http.HandlerFunc) *outageTest {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "convo.db"), sqlstore.Options{SQLiteSynchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if handler == nil {
		handler = func(http.ResponseWriter, *http.Request) {}
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	o := &outageTest{store: &faultyStore{Store: store}}
	o.s = New(o.store, stoppedClock{time.Now()}, Config{WebhookAllowPrivate: true, EventPoll: 10 * time.Millisecond, PasswordCost: bcrypt.MinCost})
	if err := o.s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	now := o.s.now()
	o.cust = &convo.Customer{ID: convo.NewID(), Name: "c", WebhookMethod: "POST", WebhookURI: srv.URL, WebhookSecret: "k",
		TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
	if err := o.s.update(ctx, func(tx convo.Tx) error { return tx.CreateCustomer(ctx, o.cust) }); err != nil {
		t.Fatal(err)
	}
	return o
}

// loseNext makes the next n Updates commit but report failure.
func (o *outageTest) loseNext(n int32) { o.store.lost.Store(n) }

// emit writes an event of a conversation of its own and returns it.
func (o *outageTest) emit(t *testing.T) *convo.Event {
	t.Helper()
	ctx := context.Background()
	var e *convo.Event
	err := o.s.update(ctx, func(tx convo.Tx) error {
		stream := convo.NewID()
		return o.s.emit(ctx, &eventCatcher{Tx: tx, got: &e}, convo.EventConversationCreated, o.cust.ID, stream, stream, map[string]string{"id": stream})
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// eventCatcher keeps the event written through it.
type eventCatcher struct {
	convo.Tx
	got **convo.Event
}

func (c *eventCatcher) CreateEvent(ctx context.Context, e *convo.Event) error {
	*c.got = e
	return c.Tx.CreateEvent(ctx, e)
}

// status reads an event's delivery status.
func (o *outageTest) status(t *testing.T, id string) string {
	t.Helper()
	ctx := context.Background()
	var e *convo.Event
	if err := o.store.Store.View(ctx, func(tx convo.Tx) (err error) { e, err = tx.GetEvent(ctx, id); return err }); err != nil {
		t.Fatal(err)
	}
	return e.Status
}

// run runs the service's background work until the test ends.
func (o *outageTest) run(t *testing.T, work func(*Service, context.Context)) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		work(o.s, ctx)
		close(done)
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
}

// A claim of due jobs whose commit goes unanswered leaves them leased to
// nobody; the next claim frees and runs them, not the end of the lease.
func TestJobsClaimedByAnUnansweredCommitRun(t *testing.T) {
	o := newOutageTest(t, nil)
	ctx := context.Background()
	now := o.s.now()
	// A kind no runner knows is dropped when run: the job's end says it ran.
	job := &convo.Job{ID: convo.NewID(), Kind: "retired", RefID: convo.NewID(), RunAt: now, TMCreate: now}
	if err := o.store.Update(ctx, func(tx convo.Tx) error { return tx.CreateJob(ctx, job) }); err != nil {
		t.Fatal(err)
	}
	o.loseNext(1)
	o.run(t, (*Service).RunJobs)
	waitFor(t, "the job to run", func() bool {
		var claimable []*convo.Job
		errRollback := errors.New("roll back")
		err := o.store.Store.Update(ctx, func(tx convo.Tx) (err error) {
			far := convo.NewTime(now.Add(24 * time.Hour))
			if claimable, err = tx.ClaimJobs(ctx, convo.ClaimJobsParams{ID: job.ID, Now: far, LeaseUntil: far, Limit: 1}); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
		return len(claimable) == 0
	})
}

// Deliveries go on after the database's faults: an event claimed by an
// unanswered commit is claimed again, and an attempt that could not be
// recorded while the database was away is recorded once it is back, not
// made again.
func TestDeliveriesResumeAfterFaults(t *testing.T) {
	var mu sync.Mutex
	received := map[string]int{}
	var o *outageTest
	o = newOutageTest(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received[r.Header.Get("webhook-id")]++
		first := received[r.Header.Get("webhook-id")] == 1
		mu.Unlock()
		// The database goes away as the receiver answers, for a while.
		if first && o.store.down.CompareAndSwap(false, true) {
			time.AfterFunc(200*time.Millisecond, func() { o.store.down.Store(false) })
		}
	})
	e := o.emit(t)
	o.loseNext(1)
	o.run(t, (*Service).RunEvents)
	waitFor(t, "the event to be delivered", func() bool { return !o.store.down.Load() && o.status(t, e.ID) == convo.DeliveryDelivered })
	mu.Lock()
	defer mu.Unlock()
	if received[e.ID] != 1 {
		t.Errorf("the receiver got the event %d times, want once", received[e.ID])
	}
}

// A realtime stream that reads while the database is away waits for it,
// and goes on where it was.
func TestStreamWaitsForTheDatabase(t *testing.T) {
	o := newOutageTest(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	caller := &convo.Caller{CustomerID: o.cust.ID, Permission: convo.PermissionCustomerAdmin}
	after, err := o.s.StreamStart(ctx, caller, "")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 10)
	ended := make(chan error, 1)
	go func() {
		ended <- o.s.StreamEvents(ctx, caller, after, func(batch []StreamEvent) error {
			for _, e := range batch {
				got <- e.ID
			}
			return nil
		})
	}()
	o.run(t, (*Service).RunEvents)
	first := o.emit(t)
	if id := <-got; id != first.ID {
		t.Fatalf("the stream sent %s, want %s", id, first.ID)
	}
	o.store.down.Store(true)
	// Woken while the database is away, as by another replica's progress.
	o.s.settled.notify()
	time.Sleep(100 * time.Millisecond)
	o.store.down.Store(false)
	second := o.emit(t)
	select {
	case id := <-got:
		if id != second.ID {
			t.Fatalf("the stream sent %s, want %s", id, second.ID)
		}
	case err := <-ended:
		t.Fatalf("the stream ended (%v) instead of waiting for the database", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the stream sent nothing within 10 s of the database's return")
	}
}
