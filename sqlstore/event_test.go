package sqlstore_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

func testEvents(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	customer, streamA, streamB := convo.NewID(), convo.NewID(), convo.NewID()
	event := func(stream string) *convo.Event {
		return &convo.Event{ID: convo.NewID(), CustomerID: customer, Type: convo.EventMessageCreated, StreamID: stream,
			ConversationID: stream, Payload: []byte(`{"type":"conversation_message_created","data":{}}`),
			NextAttemptAt: at(0), TMCreate: at(0), TMDelivered: convo.Never}
	}
	a1, a2, b1 := event(streamA), event(streamA), event(streamB)
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateEvent, a1, a2, b1) })
	awaitSettled(t, db, b1.ID)
	claimAt := func(now time.Duration) []*convo.Event {
		var got []*convo.Event
		update(t, db, func(tx convo.Tx) (err error) {
			got, err = tx.ClaimEvents(ctx, convo.ClaimEventsParams{Now: at(now), LeaseUntil: at(now + time.Minute), Limit: 10})
			return err
		})
		return got
	}
	var settled convo.Settled
	update(t, db, func(tx convo.Tx) (err error) { settled, err = tx.SettledEvents(ctx, 0, 100); return err })
	if last := read(t, db, func(tx convo.Tx) (int64, error) { return tx.LastEventPos(ctx) }); settled.Wanted != 3 || settled.LastPos != last {
		t.Fatalf("settled events: %+v, want 3 wanted and last position %d", settled, last)
	}
	b1Pos := read(t, db, func(tx convo.Tx) (*convo.Event, error) { return tx.GetEvent(ctx, b1.ID) }).Pos
	if settled.LastPos != b1Pos {
		t.Fatalf("last settled position %d, want b1's %d", settled.LastPos, b1Pos)
	}
	update(t, db, func(tx convo.Tx) (err error) { settled, err = tx.SettledEvents(ctx, b1Pos, 100); return err })
	if settled.Wanted != 0 || settled.LastPos != b1Pos {
		t.Fatalf("nothing new after b1, yet %+v", settled)
	}
	got := claimAt(0)
	if len(got) != 2 || got[0].ID != a1.ID || got[1].ID != b1.ID {
		t.Fatalf("claimed %v, want the first event of each stream (a1, b1)", eventIDs(got))
	}
	// b1 is delivered and a1 fails, recorded together: a2 waits behind a1
	// even when a1's lease has expired and a1 is not due.
	b1, a1 = got[1], got[0]
	b1.Status, b1.Attempts, b1.TMDelivered, b1.LockedUntil = convo.DeliveryDelivered, 1, at(time.Second), convo.TimeFromMicros(0)
	a1.Status, a1.Attempts, a1.NextAttemptAt, a1.LockedUntil, a1.LastError = convo.DeliveryFailed, 1, at(time.Hour), convo.TimeFromMicros(0), "answered 500"
	update(t, db, func(tx convo.Tx) error {
		return tx.RecordDeliveries(ctx, []convo.DeliveryOutcome{
			{Event: b1, Attempt: &convo.EventAttempt{At: at(time.Second), HTTPStatus: 204, LatencyMS: 1}},
			{Event: a1, Attempt: &convo.EventAttempt{At: at(0), HTTPStatus: 500, Error: "answered 500", LatencyMS: 3}},
		})
	})
	for _, want := range []*convo.Event{a1, b1} {
		got := read(t, db, func(tx convo.Tx) (*convo.Event, error) { return tx.GetEvent(ctx, want.ID) })
		if got.Status != want.Status || got.Attempts != want.Attempts || got.NextAttemptAt != want.NextAttemptAt ||
			got.LockedUntil != want.LockedUntil || got.LastError != want.LastError || got.TMDelivered != want.TMDelivered {
			t.Fatalf("event recorded as %+v, want %+v", got, want)
		}
	}
	if got := claimAt(2 * time.Minute); len(got) != 0 {
		t.Fatalf("claimed %v while a1 is failing and not due", eventIDs(got))
	}
	a1.Status, a1.Attempts, a1.TMDelivered = convo.DeliveryDelivered, 2, at(time.Hour)
	update(t, db, func(tx convo.Tx) error { return tx.RecordDeliveries(ctx, []convo.DeliveryOutcome{{Event: a1}}) })
	if got := claimAt(3 * time.Minute); len(got) != 1 || got[0].ID != a2.ID {
		t.Fatalf("claimed %v after a1 was delivered, want a2", eventIDs(got))
	}
	attempts := read(t, db, func(tx convo.Tx) ([]*convo.EventAttempt, error) { return tx.ListEventAttempts(ctx, a1.ID) })
	if len(attempts) != 1 || attempts[0].HTTPStatus != 500 || attempts[0].LatencyMS != 3 || attempts[0].Error != "answered 500" || attempts[0].At != at(0) {
		t.Fatalf("attempts of a1: %+v", attempts)
	}
	attempts = read(t, db, func(tx convo.Tx) ([]*convo.EventAttempt, error) { return tx.ListEventAttempts(ctx, b1.ID) })
	if len(attempts) != 1 || attempts[0].HTTPStatus != 204 || attempts[0].At != at(time.Second) {
		t.Fatalf("attempts of b1: %+v", attempts)
	}
	// Replay in position order, and pruning of delivered events.
	first := read(t, db, func(tx convo.Tx) (*convo.Event, error) { return tx.GetEvent(ctx, a1.ID) })
	after := read(t, db, func(tx convo.Tx) ([]*convo.Event, error) {
		return tx.ListEvents(ctx, convo.EventListParams{CustomerID: customer, AfterPos: &first.Pos, Page: convo.Page{Limit: 10}})
	})
	if ids := eventIDs(after); len(ids) != 2 || ids[0] != a2.ID || ids[1] != b1.ID {
		t.Fatalf("events after a1: %v, want a2, b1", ids)
	}
	if after[0].Pos <= first.Pos || after[1].Pos <= after[0].Pos {
		t.Fatalf("positions not increasing: a1 %d, a2 %d, b1 %d", first.Pos, after[0].Pos, after[1].Pos)
	}
	var pruned int
	update(t, db, func(tx convo.Tx) (err error) { pruned, err = tx.PruneEvents(ctx, at(2*time.Hour), 1); return err })
	if pruned != 1 {
		t.Fatalf("pruned %d events with a limit of 1", pruned)
	}
	if _, err := readErr(db, func(tx convo.Tx) (*convo.Event, error) { return tx.GetEvent(ctx, a1.ID) }); convo.ErrorStatus(err) != convo.ENotFound {
		t.Fatalf("the oldest delivered event a1 was not pruned first: %v", err)
	}
	update(t, db, func(tx convo.Tx) (err error) { pruned, err = tx.PruneEvents(ctx, at(2*time.Hour), 10); return err })
	if pruned != 1 {
		t.Fatalf("pruned %d events, want the delivered b1", pruned)
	}
	if _, err := readErr(db, func(tx convo.Tx) (*convo.Event, error) { return tx.GetEvent(ctx, a2.ID) }); err != nil {
		t.Fatalf("the undelivered a2 was pruned: %v", err)
	}
}

// testSkipEvents: events nobody would receive are skipped as they are written, others are pending.
func testSkipEvents(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	quiet, listening := newCustomer(base), newCustomer(base)
	quiet.WebhookURI, quiet.WebhookMethod = "", ""
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateCustomer, quiet, listening) })
	event := func(customer, target string) *convo.Event {
		stream := convo.NewID()
		return &convo.Event{ID: convo.NewID(), CustomerID: customer, Type: convo.EventConversationCreated, StreamID: stream,
			ConversationID: stream, Payload: []byte(`{}`), TargetURI: target, NextAttemptAt: at(0), TMCreate: at(0), TMDelivered: convo.Never}
	}
	before := read(t, db, func(tx convo.Tx) (int64, error) { return tx.LastEventPos(ctx) })
	unwanted, wanted, flowHook := event(quiet.ID, ""), event(listening.ID, ""), event(quiet.ID, "https://example.com/flow")
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateEvent, unwanted, wanted, flowHook) })
	awaitSettled(t, db, flowHook.ID)
	var settled convo.Settled
	update(t, db, func(tx convo.Tx) (err error) { settled, err = tx.SettledEvents(ctx, before, 100); return err })
	if settled.Wanted != 2 {
		t.Errorf("%d of the new events wait for delivery, want 2", settled.Wanted)
	}
	for e, want := range map[*convo.Event]string{unwanted: convo.DeliverySkipped, wanted: convo.DeliveryPending, flowHook: convo.DeliveryPending} {
		got := read(t, db, func(tx convo.Tx) (*convo.Event, error) { return tx.GetEvent(ctx, e.ID) })
		if got.Status != want || got.Pos <= before {
			t.Errorf("event of %s (target %q): status %s at position %d, want %s after position %d", e.CustomerID, e.TargetURI, got.Status, got.Pos, want, before)
		}
	}
}

// testListWaiting: listed by a waiting status, or as given up on, a
// customer's events are exactly those of its full list in that status, in
// the same order and pages, whatever other customers have waiting;
// delivered ones leave the list and a dead one retried comes back.
func testListWaiting(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	customer, other, streamA, streamB := convo.NewID(), convo.NewID(), convo.NewID(), convo.NewID()
	// Due long after every claim of the other subtests, so none leases these.
	event := func(customer, stream string, created time.Duration) *convo.Event {
		return &convo.Event{ID: convo.NewID(), CustomerID: customer, Type: convo.EventMessageCreated, StreamID: stream, ConversationID: stream,
			Payload: []byte(`{}`), NextAttemptAt: at(48 * time.Hour), TMCreate: at(created), TMDelivered: convo.Never}
	}
	mine := make([]*convo.Event, 9)
	for i := range mine {
		// Pairs share a creation time: the id orders them, as in every list.
		mine[i] = event(customer, []string{streamA, streamB}[i%2], time.Duration(i/2)*time.Second)
	}
	// Ids are made in increasing order; given against positions, only the id can order a pair.
	for i, j := 0, len(mine)-1; i < j; i, j = i+1, j-1 {
		mine[i].ID, mine[j].ID = mine[j].ID, mine[i].ID
	}
	mine[8].Type = convo.EventConversationCreated
	theirs := []*convo.Event{event(other, convo.NewID(), 0), event(other, convo.NewID(), 10*time.Second)}
	update(t, db, func(tx convo.Tx) error { return tx.CreateEvents(ctx, append(slices.Clone(mine), theirs...)) })
	record := func(e *convo.Event, status string) {
		e.Status, e.Attempts = status, e.Attempts+1
		if status == convo.DeliveryDelivered || status == convo.DeliveryDead {
			e.TMDelivered = at(time.Hour)
		}
		update(t, db, func(tx convo.Tx) error { return tx.RecordDeliveries(ctx, []convo.DeliveryOutcome{{Event: e}}) })
	}
	record(mine[0], convo.DeliveryDelivered)
	record(mine[2], convo.DeliveryFailed)
	record(mine[3], convo.DeliveryFailed)
	record(mine[5], convo.DeliveryDead)
	record(theirs[1], convo.DeliveryFailed)

	// pages lists every page of p, limit at a time.
	pages := func(p convo.EventListParams, limit int) []string {
		var all []string
		p.Limit = limit
		for {
			page := read(t, db, func(tx convo.Tx) ([]*convo.Event, error) { return tx.ListEvents(ctx, p) })
			all = append(all, eventIDs(page)...)
			if len(page) < limit {
				return all
			}
			last := page[len(page)-1]
			p.After = &convo.Cursor{Time: last.TMCreate, ID: last.ID}
		}
	}
	check := func(when string, wantPending, wantFailed, wantDead, wantCreated int) {
		t.Helper()
		everything := read(t, db, func(tx convo.Tx) ([]*convo.Event, error) {
			return tx.ListEvents(ctx, convo.EventListParams{CustomerID: customer, Page: convo.Page{Limit: 100}})
		})
		for _, c := range []struct {
			params convo.EventListParams
			want   int
		}{
			{convo.EventListParams{Status: convo.DeliveryPending}, wantPending},
			{convo.EventListParams{Status: convo.DeliveryFailed}, wantFailed},
			{convo.EventListParams{Status: convo.DeliveryDead}, wantDead},
			{convo.EventListParams{Status: convo.DeliveryPending, ConversationID: streamB}, -1},
			{convo.EventListParams{Status: convo.DeliveryPending, Type: convo.EventConversationCreated}, wantCreated},
			{convo.EventListParams{Status: convo.DeliveryFailed, ConversationID: "not-an-id"}, 0},
		} {
			var want []string
			for _, e := range everything {
				if e.Status == c.params.Status && (c.params.ConversationID == "" || e.ConversationID == c.params.ConversationID) && (c.params.Type == "" || e.Type == c.params.Type) {
					want = append(want, e.ID)
				}
			}
			if c.want >= 0 && len(want) != c.want {
				t.Fatalf("%s: %d events %+v in the full list, want %d", when, len(want), c.params, c.want)
			}
			c.params.CustomerID = customer
			for _, limit := range []int{1, 2, 100} {
				if got := pages(c.params, limit); !slices.Equal(got, want) {
					t.Errorf("%s: %+v listed %d at a time: %v, want %v", when, c.params, limit, got, want)
				}
			}
		}
	}
	check("as written", 5, 2, 1, 1)
	record(mine[8], convo.DeliveryDelivered)
	record(mine[3], convo.DeliveryDelivered)
	record(mine[5], convo.DeliveryFailed) // a retry of the dead event
	record(mine[6], convo.DeliveryDead)
	record(mine[7], convo.DeliveryDead)
	check("after deliveries, a retry and two given up", 2, 2, 2, 0)
	if got := pages(convo.EventListParams{CustomerID: other, Status: convo.DeliveryFailed}, 10); !slices.Equal(got, []string{theirs[1].ID}) {
		t.Errorf("the other customer's failed events: %v, want only its own", got)
	}
	if got := pages(convo.EventListParams{CustomerID: other, Status: convo.DeliveryDead}, 10); len(got) != 0 {
		t.Errorf("the other customer's dead events: %v, want none", got)
	}
}

// testWaitBehindFailure: events queued behind a failing event of their
// stream, also those written while it fails, wait for it; a retry asked
// for now moves it and them forward, and once it is delivered the next is
// due at once.
func testWaitBehindFailure(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	customer, stream := convo.NewID(), convo.NewID()
	event := func() *convo.Event {
		return &convo.Event{ID: convo.NewID(), CustomerID: customer, Type: convo.EventMessageCreated, StreamID: stream, ConversationID: stream,
			Payload: []byte(`{}`), NextAttemptAt: at(0), TMCreate: at(0), TMDelivered: convo.Never}
	}
	// claim returns the events of stream a claim at now leases.
	claim := func(now time.Duration) []*convo.Event {
		var got []*convo.Event
		update(t, db, func(tx convo.Tx) (err error) {
			got, err = tx.ClaimEvents(ctx, convo.ClaimEventsParams{Now: at(now), LeaseUntil: at(now + time.Second), Limit: 1000})
			return err
		})
		return slices.DeleteFunc(got, func(e *convo.Event) bool { return e.StreamID != stream })
	}
	claimAt := func(now time.Duration) []string { return eventIDs(claim(now)) }
	record := func(e *convo.Event) {
		update(t, db, func(tx convo.Tx) error { return tx.RecordDeliveries(ctx, []convo.DeliveryOutcome{{Event: e}}) })
	}
	a1, a2 := event(), event()
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateEvent, a1, a2) })
	awaitSettled(t, db, a2.ID)
	got := claim(0)
	if len(got) != 1 || got[0].ID != a1.ID {
		t.Fatalf("claimed %v, want a1", eventIDs(got))
	}
	a1 = got[0]
	a1.Status, a1.Attempts, a1.NextAttemptAt, a1.LockedUntil = convo.DeliveryFailed, 1, at(time.Hour), convo.TimeFromMicros(0)
	record(a1)
	a3 := event()
	update(t, db, func(tx convo.Tx) error { return tx.CreateEvent(ctx, a3) })
	awaitSettled(t, db, a3.ID)
	if got := claimAt(time.Minute); len(got) != 0 {
		t.Fatalf("claimed %v while a1 waits for its retry", got)
	}
	// A retry asked for now.
	a1.Status, a1.NextAttemptAt = convo.DeliveryPending, at(2*time.Minute)
	record(a1)
	if got := claimAt(2 * time.Minute); len(got) != 1 || got[0] != a1.ID {
		t.Fatalf("claimed %v after a1's retry was asked for, want a1", got)
	}
	a1.Status, a1.Attempts, a1.TMDelivered = convo.DeliveryDelivered, 2, at(2*time.Minute)
	record(a1)
	for _, want := range []*convo.Event{a2, a3} {
		if got := claimAt(2 * time.Minute); len(got) != 1 || got[0] != want.ID {
			t.Fatalf("claimed %v, want %s next", got, want.ID)
		}
		want.Status, want.Attempts, want.TMDelivered = convo.DeliveryDelivered, 1, at(2*time.Minute)
		record(want)
	}
	// A claim whose commit went unanswered is released by its lease's end,
	// and only by that.
	a4 := event()
	update(t, db, func(tx convo.Tx) error { return tx.CreateEvent(ctx, a4) })
	awaitSettled(t, db, a4.ID)
	if got := claimAt(3 * time.Minute); len(got) != 1 || got[0] != a4.ID {
		t.Fatalf("claimed %v, want a4", got)
	}
	update(t, db, func(tx convo.Tx) error {
		return tx.ReleaseEventLeases(ctx, []convo.Time{at(3*time.Minute + 2*time.Second), at(time.Hour)})
	})
	if got := claimAt(3 * time.Minute); len(got) != 0 {
		t.Fatalf("claimed %v after releasing other leases than a4's", got)
	}
	update(t, db, func(tx convo.Tx) error {
		return tx.ReleaseEventLeases(ctx, []convo.Time{at(3*time.Minute + time.Second)})
	})
	if got := claimAt(3 * time.Minute); len(got) != 1 || got[0] != a4.ID {
		t.Fatalf("claimed %v after releasing a4's lease, want a4", got)
	}
	a4.Status, a4.Attempts, a4.TMDelivered = convo.DeliveryDelivered, 1, at(3*time.Minute)
	record(a4)
}

// testOpenWriterHoldsBackReaders: an event committed while an earlier
// transaction is still open is not passed to ordered readers (delivery,
// realtime replay) until that transaction ends, so that the earlier one's
// events, which come first, are never skipped.
func testOpenWriterHoldsBackReaders(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	customer, stream := convo.NewID(), convo.NewID()
	event := func() *convo.Event {
		return &convo.Event{ID: convo.NewID(), CustomerID: customer, Type: convo.EventMessageCreated, StreamID: stream,
			ConversationID: stream, Payload: []byte(`{}`), NextAttemptAt: at(0), TMCreate: at(0), TMDelivered: convo.Never}
	}
	before := read(t, db, func(tx convo.Tx) (int64, error) { return tx.LastEventPos(ctx) })
	early, late := event(), event()
	written, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	go func() {
		done <- db.Update(ctx, func(tx convo.Tx) error {
			if err := tx.CreateEvent(ctx, early); err != nil {
				return err
			}
			// A read sends the write held back for the commit: early is now
			// written by a transaction that stays open.
			if _, err := tx.GetEvent(ctx, early.ID); err != nil {
				return err
			}
			close(written)
			<-release
			return nil
		})
	}()
	select {
	case <-written:
	case err := <-done:
		t.Fatalf("the early transaction ended before it was held open: %v", err)
	}
	update(t, db, func(tx convo.Tx) error { return tx.CreateEvent(ctx, late) })
	replay := func() []string {
		return eventIDs(read(t, db, func(tx convo.Tx) ([]*convo.Event, error) {
			return tx.ListEvents(ctx, convo.EventListParams{CustomerID: customer, AfterPos: &before, Page: convo.Page{Limit: 10}})
		}))
	}
	claim := func() []string {
		var got []*convo.Event
		update(t, db, func(tx convo.Tx) (err error) {
			got, err = tx.ClaimEvents(ctx, convo.ClaimEventsParams{Now: at(0), LeaseUntil: at(time.Minute), Limit: 10})
			return err
		})
		// Earlier tests left events of other streams pending.
		return slices.DeleteFunc(eventIDs(got), func(id string) bool { return id != early.ID && id != late.ID })
	}
	if ids := replay(); len(ids) != 0 {
		t.Fatalf("replay passed %v while an earlier transaction was open", ids)
	}
	if ids := claim(); len(ids) != 0 {
		t.Fatalf("claimed %v while an earlier transaction was open", ids)
	}
	var settled convo.Settled
	update(t, db, func(tx convo.Tx) (err error) { settled, err = tx.SettledEvents(ctx, before, 10); return err })
	if settled.LastPos != before {
		t.Fatalf("settled up to %d while an earlier transaction was open, want %d", settled.LastPos, before)
	}
	releaseOnce.Do(func() { close(release) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	awaitSettled(t, db, late.ID)
	if ids := replay(); len(ids) != 2 || ids[0] != early.ID || ids[1] != late.ID {
		t.Fatalf("replay after the early transaction committed: %v, want early, late", ids)
	}
	update(t, db, func(tx convo.Tx) (err error) { settled, err = tx.SettledEvents(ctx, before, 10); return err })
	if settled.Wanted < 2 || settled.LastPos <= before {
		t.Fatalf("settled %+v after both committed, want early and late wanted", settled)
	}
	if ids := claim(); len(ids) != 1 || ids[0] != early.ID {
		t.Fatalf("claimed %v, want the early event first", ids)
	}
}

// awaitSettled waits until the event with id is settled: on PostgreSQL a
// write transaction open anywhere on the server (another test's) holds
// positions back until it ends.
func awaitSettled(t *testing.T, db convo.Store, id string) {
	t.Helper()
	pos := read(t, db, func(tx convo.Tx) (*convo.Event, error) { return tx.GetEvent(t.Context(), id) }).Pos
	for deadline := time.Now().Add(10 * time.Second); read(t, db, func(tx convo.Tx) (int64, error) { return tx.LastEventPos(t.Context()) }) < pos; {
		if time.Now().After(deadline) {
			t.Fatalf("event %s at position %d did not settle", id, pos)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func eventIDs(events []*convo.Event) []string {
	return ids(events, func(e *convo.Event) string { return e.ID })
}
