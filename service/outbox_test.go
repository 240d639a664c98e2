package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/outbox"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/sqlstore"
	"golang.org/x/crypto/bcrypt"
)

// dispatchTest is a service on a fresh SQLite store whose customer's
// webhook is a local server answering with handler.
type dispatchTest struct {
	s     *Service
	store *sqlstore.DB
	srv   *httptest.Server
	cust  *convo.Customer
	// newConns counts the connections the server accepted.
	newConns atomic.Int32
	// tidies counts the service's tidies of the delivery queue.
	tidies atomic.Int32
}

// tidyCounter is a store that counts its tidies.
type tidyCounter struct {
	convo.Store
	n *atomic.Int32
}

func (c tidyCounter) Tidy(ctx context.Context) error {
	c.n.Add(1)
	return c.Store.Tidy(ctx)
}

func newDispatchTest(t *testing.T, handler http.HandlerFunc) *dispatchTest {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "convo.db"), sqlstore.Options{SQLiteSynchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	d := &dispatchTest{store: store, srv: httptest.NewUnstartedServer(handler)}
	d.srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			d.newConns.Add(1)
		}
	}
	d.srv.Start()
	t.Cleanup(d.srv.Close)
	d.s = New(tidyCounter{store, &d.tidies}, convo.SystemClock{}, Config{WebhookAllowPrivate: true, WebhookRetryBase: 10 * time.Millisecond,
		EventPoll: 10 * time.Millisecond, PasswordCost: bcrypt.MinCost, QueueTidyAfter: 10})
	if err := d.s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	now := d.s.now()
	d.cust = &convo.Customer{ID: convo.NewID(), Name: "c", WebhookMethod: "POST", WebhookURI: d.srv.URL, WebhookSecret: "k",
		TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
	if err := d.s.update(ctx, func(tx convo.Tx) error { return tx.CreateCustomer(ctx, d.cust) }); err != nil {
		t.Fatal(err)
	}
	return d
}

// emit writes n events, each of a conversation of its own, so that none
// waits for another.
func (d *dispatchTest) emit(t *testing.T, n int) {
	t.Helper()
	ctx := context.Background()
	err := d.s.update(ctx, func(tx convo.Tx) error {
		for i := range n {
			stream := convo.NewID()
			if err := d.s.emit(ctx, tx, convo.EventConversationCreated, d.cust.ID, stream, stream, map[string]int{"i": i}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// run starts the dispatcher until the test ends.
func (d *dispatchTest) run(t *testing.T) {
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		d.s.RunEvents(runCtx)
		close(done)
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
}

// claimable returns the events a claim would lease now, leasing none.
func (d *dispatchTest) claimable(t *testing.T) []*convo.Event {
	t.Helper()
	ctx := context.Background()
	var claimed []*convo.Event
	errRollback := errors.New("roll back")
	err := d.store.Update(ctx, func(tx convo.Tx) (err error) {
		now := convo.NewTime(time.Now())
		if claimed, err = tx.ClaimEvents(ctx, convo.ClaimEventsParams{Now: now, LeaseUntil: now, Limit: 100000}); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	return claimed
}

// events lists the customer's events.
func (d *dispatchTest) events(t *testing.T) []*convo.Event {
	t.Helper()
	ctx := context.Background()
	var events []*convo.Event
	err := d.store.View(ctx, func(tx convo.Tx) (err error) {
		events, err = tx.ListEvents(ctx, convo.EventListParams{CustomerID: d.cust.ID, Page: convo.Page{Limit: 1000}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

// TestDispatcherClaimsOnlyWhatItAttempts checks that a process leases no
// more events than it attempts at once: a leased event queued behind slow
// deliveries would outlive its lease and be delivered twice.
func TestDispatcherClaimsOnlyWhatItAttempts(t *testing.T) {
	release := make(chan struct{})
	var inFlight atomic.Int32
	var mu sync.Mutex
	received := map[string]int{}
	d := newDispatchTest(t, func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		mu.Lock()
		received[r.Header.Get("webhook-id")]++
		mu.Unlock()
		<-release
	})
	const n = outbox.MaxActive + 8
	d.emit(t, n)
	d.run(t)
	// A failure before the release must not leave the dispatcher's stop waiting on held deliveries.
	openRelease := sync.OnceFunc(func() { close(release) })
	t.Cleanup(openRelease)

	waitFor(t, fmt.Sprintf("%d deliveries in flight", outbox.MaxActive), func() bool { return inFlight.Load() >= outbox.MaxActive })
	// Let the dispatcher poll a few times while every slot is busy.
	time.Sleep(100 * time.Millisecond)
	leased := n - len(d.claimable(t))
	if leased != outbox.MaxActive || inFlight.Load() != outbox.MaxActive {
		t.Errorf("%d events leased with %d deliveries in flight, want %d of each", leased, inFlight.Load(), outbox.MaxActive)
	}
	openRelease()
	waitFor(t, fmt.Sprintf("%d events delivered", n), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) == n
	})
	// Recorded outcomes: nothing is delivered again.
	waitFor(t, "every delivery recorded", func() bool { return delivered(d.events(t)) == n })
	mu.Lock()
	defer mu.Unlock()
	for id, c := range received {
		if c != 1 {
			t.Errorf("event %s delivered %d times", id, c)
		}
	}
}

func delivered(events []*convo.Event) int {
	n := 0
	for _, e := range events {
		if e.Status == convo.DeliveryDelivered {
			n++
		}
	}
	return n
}

// TestDispatcherKeepsConnections: deliveries reuse the connections of
// earlier ones, as many as may be in flight at once. A new connection per
// delivery cost more CPU than the request, and leaves sockets waiting to
// close on both ends.
func TestDispatcherKeepsConnections(t *testing.T) {
	var gate atomic.Pointer[chan struct{}]
	var inFlight atomic.Int32
	d := newDispatchTest(t, func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		<-*gate.Load()
	})
	d.run(t)
	// A failure while a gate is shut must not leave the dispatcher's stop waiting on held deliveries.
	openGate := func() {}
	t.Cleanup(func() { openGate() })
	total := 0
	round := func() int32 {
		before := d.newConns.Load()
		shut := make(chan struct{})
		gate.Store(&shut)
		openGate = sync.OnceFunc(func() { close(shut) })
		d.emit(t, outbox.MaxActive)
		total += outbox.MaxActive
		// All at once: each delivery needs a connection of its own.
		waitFor(t, fmt.Sprintf("%d deliveries in flight", outbox.MaxActive), func() bool { return inFlight.Load() == outbox.MaxActive })
		openGate()
		waitFor(t, "every delivery recorded", func() bool { return delivered(d.events(t)) == total })
		return d.newConns.Load() - before
	}
	if first := round(); first != outbox.MaxActive {
		t.Fatalf("%d connections for %d deliveries at once, want one each", first, outbox.MaxActive)
	}
	if again := round(); again != 0 {
		t.Errorf("the next %d deliveries at once opened %d new connections, want none", outbox.MaxActive, again)
	}
}

// TestStreamStartSinceUnsettledEvent: a stream resumed after an event that
// is committed but not settled yet (an older transaction is still open)
// starts before the older transaction's events, which come first, so that
// they still reach it.
func TestStreamStartSinceUnsettledEvent(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		if b.Name != "postgres" {
			return // SQLite has one writer: nothing commits while an older transaction is open
		}
		ctx := t.Context()
		store, err := sqlstore.Open(ctx, b.DSN, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		s := New(store, convo.SystemClock{}, Config{PasswordCost: bcrypt.MinCost})
		customer, stream := convo.NewID(), convo.NewID()
		emitOne := func(tx convo.Tx) (string, error) {
			if err := s.emit(ctx, tx, convo.EventConversationCreated, customer, stream, stream, map[string]string{}); err != nil {
				return "", err
			}
			list, err := tx.ListEvents(ctx, convo.EventListParams{CustomerID: customer, Page: convo.Page{Limit: 1}})
			if err != nil || len(list) == 0 {
				return "", fmt.Errorf("the new event does not list: %v", err)
			}
			return list[0].ID, nil
		}
		written, release, done := make(chan string, 1), make(chan struct{}), make(chan error, 1)
		go func() {
			done <- store.Update(ctx, func(tx convo.Tx) error {
				// Listing sends the event's insert: it is written, and stays uncommitted.
				id, err := emitOne(tx)
				if err != nil {
					return err
				}
				written <- id
				<-release
				return nil
			})
		}()
		var early string
		select {
		case early = <-written:
		case err := <-done:
			t.Fatalf("the early transaction ended before it was held open: %v", err)
		}
		var late string
		err = store.Update(ctx, func(tx convo.Tx) (err error) { late, err = emitOne(tx); return err })
		if err != nil {
			close(release)
			t.Fatal(err)
		}
		after, err := s.StreamStart(ctx, &convo.Caller{CustomerID: customer}, late)
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		var earlyPos int64
		err = store.View(ctx, func(tx convo.Tx) error {
			e, err := tx.GetEvent(ctx, early)
			earlyPos = e.Pos
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if after >= earlyPos {
			t.Fatalf("a stream resumed after the late event starts after position %d, past the early event at %d", after, earlyPos)
		}
	})
}

// TestDispatcherTidiesQueue: deliveries that end, and only those, count
// towards the next tidy of the delivery queue.
func TestDispatcherTidiesQueue(t *testing.T) {
	var failing atomic.Bool
	d := newDispatchTest(t, func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	failing.Store(true)
	d.emit(t, 9)
	d.run(t)
	waitFor(t, "failed attempts", func() bool {
		failed := 0
		for _, e := range d.events(t) {
			if e.Attempts >= 2 {
				failed++
			}
		}
		return failed == 9
	})
	if n := d.tidies.Load(); n != 0 {
		t.Fatalf("tidied %d times after retries only", n)
	}
	failing.Store(false)
	waitFor(t, "deliveries", func() bool {
		for _, e := range d.events(t) {
			if e.Status != convo.DeliveryDelivered {
				return false
			}
		}
		return true
	})
	if n := d.tidies.Load(); n != 0 {
		t.Fatalf("tidied %d times after 9 of the 10 deliveries that call for it", n)
	}
	d.emit(t, 1)
	waitFor(t, "a tidy after the 10th delivery", func() bool { return d.tidies.Load() == 1 })
}
