package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// recorder is a querier that keeps every statement it runs and its arguments.
type recorder struct {
	q     querier
	stmts []recorded
}

type recorded struct {
	query string
	args  []any
}

func (r *recorder) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r.stmts = append(r.stmts, recorded{query, args})
	return r.q.ExecContext(ctx, query, args...)
}

func (r *recorder) QueryContext(ctx context.Context, query string, args ...any) (rows, error) {
	r.stmts = append(r.stmts, recorded{query, args})
	return r.q.QueryContext(ctx, query, args...)
}

func (r *recorder) QueryRowContext(ctx context.Context, query string, args ...any) row {
	r.stmts = append(r.stmts, recorded{query, args})
	return r.q.QueryRowContext(ctx, query, args...)
}

// queryPinned records the setting a pinned query runs under, then the query.
func (r *recorder) queryPinned(ctx context.Context, query string, args []any) (rows, error) {
	r.stmts = append(r.stmts, recorded{query: pinSQL})
	return r.QueryContext(ctx, query, args...)
}

func (r *recorder) queryPinnedWith(ctx context.Context, pin, _ string, query string, args []any) (rows, error) {
	r.stmts = append(r.stmts, recorded{query: pin})
	return r.QueryContext(ctx, query, args...)
}

// TestHotQueryPlans pins the plans of the statements on the paths that run
// per message, per delivery and per list page. SQLite plans without table
// statistics, so its plans are the same on an empty file as on a full one:
// a statement that would walk a whole table, or sort a list, fails here
// instead of in production. Each must use the index named and none may scan
// a table or sort in a temporary tree.
func TestHotQueryPlans(t *testing.T) {
	db, err := Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "plans.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	id := convo.NewID
	now := convo.NewTime(time.Now())
	cursor := &convo.Cursor{Time: now, ID: id()}
	pos := int64(10)
	// A customer with labels: a list of labels that do not exist reads nothing more.
	labelled := id()
	err = db.Update(ctx, func(tx convo.Tx) error {
		for _, name := range []string{"vip", "billing"} {
			if err := tx.CreateLabel(ctx, &convo.Label{ID: id(), CustomerID: labelled, Name: name, TMCreate: now, TMUpdate: now, TMDelete: convo.Never}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		// uses are the plan steps, an index or key each, the plan must take.
		uses []string
		run  func(tx *tx) error
	}{
		{"live conversations of an inbound batch", []string{"INDEX conversations_live_dialog"}, func(tx *tx) error {
			_, err := tx.GetLiveConversations(ctx, id(), []string{"U1", "U2", "U3", "U4"})
			return err
		}},
		{"message by provider id", []string{"INDEX messages_provider_id"}, func(tx *tx) error {
			_, err := tx.GetMessageByProviderID(ctx, id(), "p1")
			return ignoreNotFound(err)
		}},
		{"settled events", []string{"INDEX events_pos", "event_queue USING INTEGER PRIMARY KEY"}, func(tx *tx) error {
			_, err := tx.SettledEvents(ctx, pos, 256)
			return err
		}},
		{"event insert", []string{"INDEX sqlite_autoindex_customers_1", "INDEX events_pos"}, func(tx *tx) error {
			stream := id()
			return tx.CreateEvents(ctx, []*convo.Event{{ID: id(), CustomerID: id(), Type: convo.EventMessageCreated, StreamID: stream, ConversationID: stream, Payload: []byte(`{}`)}})
		}},
		{"event prune", []string{"INDEX events_pos"}, func(tx *tx) error {
			_, err := tx.PruneEvents(ctx, now, 2000)
			return err
		}},
		{"delivery claim", []string{"INDEX event_queue_due", "INDEX event_queue_stream"}, func(tx *tx) error {
			_, err := tx.ClaimEvents(ctx, convo.ClaimEventsParams{Now: now, LeaseUntil: now, Limit: 256})
			return err
		}},
		{"delivery outcomes", []string{"sqlite_autoindex_events_1", "INDEX event_queue_stream", "INTEGER PRIMARY KEY"}, func(tx *tx) error {
			outcomes := []convo.DeliveryOutcome{{Event: &convo.Event{ID: id(), Status: convo.DeliveryFailed}}, {Event: &convo.Event{ID: id(), Status: convo.DeliveryDelivered}}}
			return tx.RecordDeliveries(ctx, outcomes)
		}},
		{"job claim", []string{"INDEX jobs_due"}, func(tx *tx) error {
			_, err := tx.ClaimJobs(ctx, convo.ClaimJobsParams{Now: now, LeaseUntil: now, Limit: 32})
			return err
		}},
		{"realtime replay", []string{"INDEX events_by_customer_pos"}, func(tx *tx) error {
			_, err := tx.ListEvents(ctx, convo.EventListParams{CustomerID: id(), AfterPos: &pos, Page: convo.Page{Limit: 100}})
			return err
		}},
		{"event list page", []string{"INDEX events_by_customer"}, func(tx *tx) error {
			_, err := tx.ListEvents(ctx, convo.EventListParams{CustomerID: id(), Page: convo.Page{After: cursor, Limit: 100}})
			return err
		}},
		{"waiting delivery list page", []string{"INDEX events_pos", "USING ROWID SEARCH ON TABLE event_queue FOR IN-OPERATOR"}, func(tx *tx) error {
			_, err := tx.ListEvents(ctx, convo.EventListParams{CustomerID: id(), Status: convo.DeliveryFailed, Page: convo.Page{After: cursor, Limit: 100}})
			return err
		}},
		{"dead delivery list page", []string{"INDEX events_pos", "USING ROWID SEARCH ON TABLE dead_events FOR IN-OPERATOR"}, func(tx *tx) error {
			_, err := tx.ListEvents(ctx, convo.EventListParams{CustomerID: id(), Status: convo.DeliveryDead, Page: convo.Page{After: cursor, Limit: 100}})
			return err
		}},
		{"conversation list page", []string{"INDEX conversations_by_customer"}, func(tx *tx) error {
			_, err := tx.ListConversations(ctx, convo.ConversationListParams{CustomerID: id(), Page: convo.Page{After: cursor, Limit: 100}})
			return err
		}},
		{"conversation list by owner", []string{"INDEX conversations_by_owner"}, func(tx *tx) error {
			_, err := tx.ListConversations(ctx, convo.ConversationListParams{CustomerID: id(), OwnerID: id(), Page: convo.Page{After: cursor, Limit: 100}})
			return err
		}},
		{"conversation list by account", []string{"INDEX conversations_by_customer_account"}, func(tx *tx) error {
			_, err := tx.ListConversations(ctx, convo.ConversationListParams{CustomerID: id(), AccountID: id(), Page: convo.Page{After: cursor, Limit: 100}})
			return err
		}},
		{"conversation list by label by last message: the label's rows in order", []string{"INDEX labels_live_name", "INDEX conversation_labels_by_activity", "INDEX sqlite_autoindex_conversations_1"}, func(tx *tx) error {
			_, err := tx.ListConversations(ctx, convo.ConversationListParams{CustomerID: labelled, Labels: []string{"billing"}, ByActivity: true, Page: convo.Page{After: cursor, Limit: 100}})
			return err
		}},
		{"conversation list by label: the label's rows in order", []string{"INDEX labels_live_name", "INDEX conversation_labels_by_time", "INDEX sqlite_autoindex_conversations_1"}, func(tx *tx) error {
			_, err := tx.ListConversations(ctx, convo.ConversationListParams{CustomerID: labelled, Labels: []string{"billing"}, Page: convo.Page{After: cursor, Limit: 100}})
			return err
		}},
		{"conversation list by two labels: the rarer one's rows, the other checked", []string{"INDEX labels_live_name", "COVERING INDEX conversation_labels_by_activity", "INDEX conversation_labels_by_activity", "PRIMARY KEY"}, func(tx *tx) error {
			_, err := tx.ListConversations(ctx, convo.ConversationListParams{CustomerID: labelled, OwnerID: id(), Statuses: []string{convo.StatusOpen}, Labels: []string{"vip", "billing"}, ByActivity: true, Page: convo.Page{After: cursor, Limit: 100}})
			return err
		}},
		{"unread conversation list", []string{"INDEX conversations_activity_by_owner", "PRIMARY KEY", "INDEX messages_by_conversation"}, func(tx *tx) error {
			_, err := tx.ListConversations(ctx, convo.ConversationListParams{CustomerID: id(), OwnerID: id(), UnreadFor: id(), ByActivity: true, Page: convo.Page{After: cursor, Limit: 100}})
			return err
		}},
		{"labels of a page", []string{"PRIMARY KEY", "sqlite_autoindex_labels_1"}, func(tx *tx) error {
			_, err := tx.ConversationLabels(ctx, []string{id(), id(), id()})
			return err
		}},
		{"unread counts of a page", []string{"sqlite_autoindex_conversations_1", "PRIMARY KEY", "INDEX messages_by_conversation"}, func(tx *tx) error {
			_, err := tx.UnreadCounts(ctx, id(), []string{id(), id(), id()})
			return err
		}},
		{"message list page", []string{"INDEX messages_by_conversation"}, func(tx *tx) error {
			_, err := tx.ListMessages(ctx, convo.MessageListParams{ConversationID: id(), Page: convo.Page{After: cursor, Limit: 100}})
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{q: sqlQuerier{db.writer}}
			if err := c.run(&tx{q: rec}); err != nil {
				t.Fatal(err)
			}
			var plan []string
			for _, s := range rec.stmts {
				lines, err := explain(ctx, sqlQuerier{db.writer}, s)
				if err != nil {
					t.Fatalf("explain %q: %v", s.query, err)
				}
				plan = append(plan, lines...)
			}
			all := strings.Join(plan, "\n")
			t.Logf("plan:\n%s", all)
			for _, want := range c.uses {
				if !regexp.MustCompile(`(?m)` + regexp.QuoteMeta(want) + `( |$)`).MatchString(all) {
					t.Errorf("plan does not use %s:\n%s", want, all)
				}
			}
			// Subquery results are scanned by name; tables must be searched.
			subqueries := map[string]bool{"CONSTANT ROW": true}
			for _, line := range plan {
				for _, prefix := range []string{"MATERIALIZE ", "CO-ROUTINE "} {
					if name, ok := strings.CutPrefix(line, prefix); ok {
						subqueries[name] = true
					}
				}
			}
			for _, line := range plan {
				name, scan := strings.CutPrefix(line, "SCAN ")
				tableScan := scan && !strings.Contains(name, " USING ") && !subqueries[name] && !strings.HasPrefix(name, "(")
				// The events waiting for delivery or given up on are few, and only those are sorted.
				sortsWaiting := strings.HasSuffix(c.name, " delivery list page") && line == "USE TEMP B-TREE FOR ORDER BY"
				if tableScan || strings.Contains(line, "TEMP B-TREE") && !sortsWaiting {
					t.Errorf("plan step %q reads more than it returns:\n%s", line, all)
				}
			}
		})
	}
}

// explain returns the steps of SQLite's plan for a recorded statement.
func explain(ctx context.Context, q querier, s recorded) ([]string, error) {
	rows, err := q.QueryContext(ctx, "EXPLAIN QUERY PLAN "+s.query, s.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return nil, err
		}
		steps = append(steps, detail)
	}
	return steps, rows.Err()
}

func ignoreNotFound(err error) error {
	if convo.ErrorStatus(err) == convo.ENotFound {
		return nil
	}
	return err
}

// TestClaimPlanPostgres pins the plan of the delivery claim on PostgreSQL
// as it runs in production: a generic plan of a cached statement, made
// while the outbox is young and its statistics say it is nearly empty.
// Such a plan once compared every candidate with every undelivered event
// (a nested loop whose inner side was not keyed by stream) and took
// seconds a claim under a backlog. The claim must look up the head of each
// candidate's stream by index and walk candidates in position order
// instead of sorting them all.
func TestClaimPlanPostgres(t *testing.T) {
	onPostgres(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		customer := convo.NewID()
		streams := []string{convo.NewID(), convo.NewID(), convo.NewID(), convo.NewID()}
		var backlog []*convo.Event
		for i := range 2000 {
			s := streams[i%len(streams)]
			backlog = append(backlog, &convo.Event{ID: convo.NewID(), CustomerID: customer, Type: convo.EventMessageCreated, StreamID: s, ConversationID: s,
				Payload: []byte(`{}`), NextAttemptAt: convo.NewTime(time.Unix(0, 0)), TMCreate: convo.NewTime(time.Unix(0, 0)), TMDelivered: convo.Never})
		}
		// Statistics taken while the outbox held a few delivered events.
		if err := db.Update(ctx, func(tx convo.Tx) error { return tx.CreateEvents(ctx, backlog[:8]) }); err != nil {
			t.Fatal(err)
		}
		if _, err := db.writer.ExecContext(ctx, "UPDATE events SET status = 'delivered'"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.writer.ExecContext(ctx, "DELETE FROM event_queue"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.writer.ExecContext(ctx, "ANALYZE events, event_queue"); err != nil {
			t.Fatal(err)
		}
		if err := db.Update(ctx, func(tx convo.Tx) error { return tx.CreateEvents(ctx, backlog[8:]) }); err != nil {
			t.Fatal(err)
		}
		now := convo.NewTime(time.Now())
		rec := &recorder{q: sqlQuerier{db.writer}}
		claimer := &tx{q: rec, postgres: true}
		if _, err := claimer.ClaimEvents(ctx, convo.ClaimEventsParams{Now: now, LeaseUntil: now, Limit: 64}); err != nil {
			t.Fatal(err)
		}
		plan := explainGeneric(t, db, rec.stmts, "UPDATE")
		all := strings.Join(plan, "\n")
		if !regexp.MustCompile(`using event_queue_stream on event_queue b[^\n]*\n\s*Index Cond: \(\(stream_id = c\.stream_id\)`).MatchString(all) {
			t.Errorf("the claim does not look up each candidate's stream by index:\n%s", all)
		}
		if !regexp.MustCompile(`Index Scan using event_queue_due on event_queue c`).MatchString(all) || strings.Contains(all, "Sort") {
			t.Errorf("the claim does not walk candidates in due order:\n%s", all)
		}
		if !regexp.MustCompile(`Index Scan using events_pos on events e`).MatchString(all) || strings.Contains(all, "Seq Scan") {
			t.Errorf("the claim does not look up its events by position:\n%s", all)
		}
	})
}

// TestQueuePlansPostgres pins the generic plans of the writes that keep the
// delivery queue while a backlog waits in it: queuing an event (which looks
// up how long its stream waits) and recording outcomes (which move the
// waits of the events behind them) must reach the queue and the outbox by
// index, not by scanning the backlog at every pass. (While the queue is
// small a scan is as good; every Tidy refreshes its statistics.)
func TestQueuePlansPostgres(t *testing.T) {
	onPostgres(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		events := writeOutbox(t, db, 5000, []byte(`{"type":"conversation_message_created"}`), convo.NewTime(time.Unix(0, 0)))
		if _, err := db.writer.ExecContext(ctx, "ANALYZE events, event_queue"); err != nil {
			t.Fatal(err)
		}
		rec := &recorder{q: sqlQuerier{db.writer}}
		writer := &tx{q: rec, postgres: true}
		events[0].Status, events[0].Attempts, events[0].NextAttemptAt = convo.DeliveryFailed, 1, convo.NewTime(time.Now().Add(time.Hour))
		events[1].Status, events[1].Attempts, events[1].TMDelivered = convo.DeliveryDelivered, 1, convo.NewTime(time.Now())
		if err := writer.RecordDeliveries(ctx, []convo.DeliveryOutcome{{Event: events[0]}, {Event: events[1]}}); err != nil {
			t.Fatal(err)
		}
		more := writeOutbox(t, db, 1, []byte(`{}`), convo.NewTime(time.Unix(0, 0)))
		more[0].ID = convo.NewID()
		if err := writer.CreateEvents(ctx, more); err != nil {
			t.Fatal(err)
		}
		plan := explainGeneric(t, db, rec.stmts, "WITH")
		all := strings.Join(plan, "\n")
		if regexp.MustCompile(`Seq Scan on events?(_queue)? `).MatchString(all) || strings.Count(all, "using event_queue_stream on event_queue") < 3 {
			t.Errorf("queue writes do not find a stream's queued events by index:\n%s", all)
		}
	})
}

// TestDeliveryUpdatesInPlacePostgres: a claim leases the event's queue
// row and leaves the outbox alone; recording the delivery changes only
// columns no index covers, and the outbox keeps room on its pages for it,
// so PostgreSQL updates the event in place (HOT) instead of writing it anew
// with an entry in every index.
func TestDeliveryUpdatesInPlacePostgres(t *testing.T) {
	onPostgres(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		// Events the size of a message's, a few to a page.
		payload := []byte(`{"type":"conversation_message_created","data":{"text":"` + strings.Repeat("x", 1200) + `"}}`)
		events := writeOutbox(t, db, 60, payload, convo.NewTime(time.Unix(0, 0)))
		sqlTx := statTx(t, db)
		defer sqlTx.Rollback()
		claimer := &tx{q: sqlQuerier{sqlTx}, postgres: true}
		claimed := claimAll(t, claimer, len(events))
		updated, hot := tupleUpdates(t, sqlTx, "events")
		if updated != 0 {
			t.Errorf("claims updated %d events; the lease is the queue's", updated)
		}
		outcomes := make([]convo.DeliveryOutcome, len(claimed))
		for i, e := range claimed {
			e.Status, e.Attempts, e.TMDelivered, e.LockedUntil = convo.DeliveryDelivered, 1, convo.NewTime(time.Now()), convo.TimeFromMicros(0)
			outcomes[i] = convo.DeliveryOutcome{Event: e, Attempt: &convo.EventAttempt{EventID: e.ID, At: e.TMDelivered, HTTPStatus: 200}}
		}
		if err := claimer.RecordDeliveries(ctx, outcomes); err != nil {
			t.Fatal(err)
		}
		updated, hot = tupleUpdates(t, sqlTx, "events")
		if updated != len(events) {
			t.Fatalf("recording %d deliveries updated %d events", len(events), updated)
		}
		if hot < updated*9/10 {
			t.Errorf("%d of %d recorded deliveries updated their event in place", hot, updated)
		}
		var queued int
		if err := sqlTx.QueryRowContext(ctx, "SELECT COUNT(*) FROM event_queue").Scan(&queued); err != nil || queued != 0 {
			t.Errorf("%d events still queued after delivery (%v)", queued, err)
		}
	})
}

// TestTidyKeepsClaimsShortPostgres: each delivery leaves a dead entry in
// the queue's index that a claim steps over, page after page, until the
// queue is vacuumed; after Tidy a claim reads a few pages again however
// many deliveries came before.
func TestTidyKeepsClaimsShortPostgres(t *testing.T) {
	onPostgres(t, func(t *testing.T, db *DB) {
		const done = 5000
		recordDelivered(t, db, writeOutbox(t, db, done, []byte(`{}`), convo.NewTime(time.Unix(0, 0))))
		writeOutbox(t, db, 1, []byte(`{}`), convo.NewTime(time.Unix(0, 0)))
		before := claimPages(t, db)
		after := tidiedClaimPages(t, db, 20)
		t.Logf("a claim read %d pages after %d deliveries, %d after Tidy", before, done, after)
		if after > 20 || before < 2*after {
			t.Errorf("a claim read %d pages after Tidy (%d before)", after, before)
		}
	})
}

// TestClaimStepsOverWaitingPostgres: the events queued behind failing
// events of their conversations wait with them, so a claim reads a few
// pages to find what is due however many wait.
func TestClaimStepsOverWaitingPostgres(t *testing.T) {
	onPostgres(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		customer := convo.NewID()
		streams := make([]string, 100)
		for i := range streams {
			streams[i] = convo.NewID()
		}
		var queued []*convo.Event
		for i := range 20 * len(streams) {
			s := streams[i%len(streams)]
			queued = append(queued, &convo.Event{ID: convo.NewID(), CustomerID: customer, Type: convo.EventMessageCreated, StreamID: s, ConversationID: s,
				Payload: []byte(`{}`), NextAttemptAt: convo.NewTime(time.Unix(0, 0)), TMCreate: convo.NewTime(time.Unix(0, 0)), TMDelivered: convo.Never})
		}
		if err := db.Update(ctx, func(tx convo.Tx) error { return tx.CreateEvents(ctx, queued) }); err != nil {
			t.Fatal(err)
		}
		err := db.Update(ctx, func(w convo.Tx) error {
			heads := claimAll(t, w.(*tx), len(streams))
			outcomes := make([]convo.DeliveryOutcome, len(heads))
			for i, e := range heads {
				e.Status, e.Attempts, e.NextAttemptAt, e.LockedUntil = convo.DeliveryFailed, 1, convo.NewTime(time.Now().Add(time.Hour)), convo.TimeFromMicros(0)
				outcomes[i] = convo.DeliveryOutcome{Event: e}
			}
			return w.RecordDeliveries(ctx, outcomes)
		})
		if err != nil {
			t.Fatal(err)
		}
		writeOutbox(t, db, 1, []byte(`{}`), convo.NewTime(time.Unix(0, 0)))
		// The waits moved leave dead entries until the queue is tidied.
		if pages := tidiedClaimPages(t, db, 20); pages > 20 {
			t.Errorf("a claim read %d pages past %d events waiting behind %d failing ones", pages, len(queued)-len(streams), len(streams))
		}
	})
}

// TestRareStatusListsPostgres: listing a customer's events still waiting
// or given up on reads a few pages however many of its events were
// delivered before; walked in the outbox newest first, it read them all.
func TestRareStatusListsPostgres(t *testing.T) {
	onPostgres(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		kept := writeOutbox(t, db, 3, []byte(`{}`), convo.NewTime(time.Unix(0, 0)))
		customer := kept[0].CustomerID
		dead := kept[0]
		dead.Status, dead.Attempts, dead.TMDelivered = convo.DeliveryDead, 8, convo.NewTime(time.Now())
		if err := db.Update(ctx, func(tx convo.Tx) error { return tx.RecordDeliveries(ctx, []convo.DeliveryOutcome{{Event: dead}}) }); err != nil {
			t.Fatal(err)
		}
		// Delivered as the dispatcher delivers: a few at a time, the queue tidied meanwhile.
		const rounds, perRound = 10, 500
		for range rounds {
			delivered := writeOutbox(t, db, perRound, []byte(`{}`), convo.NewTime(time.Unix(60, 0)))
			if _, err := db.writer.ExecContext(ctx, "UPDATE events SET customer_id = $1 WHERE customer_id = $2", customer, delivered[0].CustomerID); err != nil {
				t.Fatal(err)
			}
			recordDelivered(t, db, delivered)
			if err := db.Tidy(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for status, want := range map[string]int{convo.DeliveryPending: 2, convo.DeliveryDead: 1} {
			rec := &recorder{q: sqlQuerier{db.writer}}
			list, err := (&tx{q: rec, postgres: true}).ListEvents(ctx, convo.EventListParams{CustomerID: customer, Status: status, Page: convo.Page{Limit: 100}})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != want {
				t.Fatalf("listed %d %s events, want %d", len(list), status, want)
			}
			pages := pagesRead(t, db, rec.stmts, "SELECT")
			t.Logf("listing %d %s events read %d pages past %d delivered", want, status, pages, rounds*perRound)
			if pages > 30 {
				t.Errorf("listing %d %s events read %d pages past %d delivered", want, status, pages, rounds*perRound)
			}
			// As prepared statements run once planned for any customer.
			if generic := strings.Join(explainGeneric(t, db, rec.stmts, "SELECT"), "\n"); !regexp.MustCompile(`Index Cond: [^\n]*pos = ANY \(\$\d+\)`).MatchString(generic) {
				t.Errorf("the generic plan does not look the %s events up by position:\n%s", status, generic)
			}
		}
	})
}

// tidiedClaimPages tidies the queue and returns the pages a claim then
// reads, trying again for up to 10 s while that is more than want: a
// vacuum keeps what an open transaction may still see, and other
// packages' tests on the server may hold one open a moment.
func tidiedClaimPages(t *testing.T, db *DB, want int) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err := db.Tidy(t.Context()); err != nil {
			t.Fatal(err)
		}
		if pages := claimPages(t, db); pages <= want || time.Now().After(deadline) {
			return pages
		}
	}
}

// claimPages returns the pages a claim of everything due reads, leasing nothing.
func claimPages(t *testing.T, db *DB) int {
	t.Helper()
	rec := &recorder{q: sqlQuerier{db.writer}}
	now := convo.NewTime(time.Now())
	if _, err := (&tx{q: rec, postgres: true}).ClaimEvents(t.Context(), convo.ClaimEventsParams{Now: now, LeaseUntil: now, Limit: 10}); err != nil {
		t.Fatal(err)
	}
	return pagesRead(t, db, rec.stmts, "UPDATE")
}

// pagesRead runs the recorded statements in a transaction it rolls back and
// returns the pages the one starting with prefix read.
func pagesRead(t *testing.T, db *DB, stmts []recorded, prefix string) int {
	t.Helper()
	sqlTx := statTx(t, db)
	defer sqlTx.Rollback()
	var plan []string
	for _, s := range stmts {
		query := s.query
		if strings.HasPrefix(query, prefix) {
			query = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query
		}
		rows, err := sqlTx.QueryContext(t.Context(), query, s.args...)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err == nil {
				plan = append(plan, line)
			}
		}
		rows.Close()
	}
	var out []struct {
		Plan struct {
			Hit  int `json:"Shared Hit Blocks"`
			Read int `json:"Shared Read Blocks"`
		}
	}
	if err := json.Unmarshal([]byte(strings.Join(plan, "")), &out); err != nil || len(out) != 1 {
		t.Fatalf("explain: %v in %q", err, plan)
	}
	return out[0].Plan.Hit + out[0].Plan.Read
}

// claimAll claims until n events are leased, in the transaction of claimer.
func claimAll(t *testing.T, claimer *tx, n int) []*convo.Event {
	t.Helper()
	now := convo.NewTime(time.Now())
	var claimed []*convo.Event
	for deadline := time.Now().Add(10 * time.Second); len(claimed) < n && time.Now().Before(deadline); {
		// Other packages' transactions on the server may hold positions back a moment.
		more, err := claimer.ClaimEvents(t.Context(), convo.ClaimEventsParams{Now: now, LeaseUntil: convo.NewTime(now.Add(time.Minute)), Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		claimed = append(claimed, more...)
	}
	if len(claimed) != n {
		t.Fatalf("claimed %d events, want %d", len(claimed), n)
	}
	return claimed
}

// tupleUpdates returns the rows of table that sqlTx updated, and how many in place.
func tupleUpdates(t *testing.T, sqlTx *sql.Tx, table string) (updated, hot int) {
	t.Helper()
	if err := sqlTx.QueryRowContext(t.Context(), "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relid = $1::regclass", table).Scan(&updated, &hot); err != nil {
		t.Fatal(err)
	}
	return updated, hot
}

// TestPruneYoungOutboxPostgres: when no event is old enough to prune, the
// prune reads one entry to learn so, not every event of the outbox.
func TestPruneYoungOutboxPostgres(t *testing.T) {
	onPostgres(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		now := convo.NewTime(time.Now())
		writeOutbox(t, db, 300, []byte(`{}`), now)
		sqlTx := statTx(t, db)
		defer sqlTx.Rollback()
		// Read through indexes, as on an outbox of any size, not by scanning this small one.
		if _, err := sqlTx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		pruned, err := (&tx{q: sqlQuerier{sqlTx}, postgres: true}).PruneEvents(ctx, convo.NewTime(now.Add(-7*24*time.Hour)), 2000)
		if err != nil || pruned != 0 {
			t.Fatalf("pruned %d events a week younger than the cut-off: %v", pruned, err)
		}
		var fetched, scanned int
		if err := sqlTx.QueryRowContext(ctx, "SELECT idx_tup_fetch, seq_tup_read FROM pg_stat_xact_user_tables WHERE relid = 'events'::regclass").Scan(&fetched, &scanned); err != nil {
			t.Fatal(err)
		}
		if fetched+scanned > 5 {
			t.Errorf("the prune read %d events (%d through indexes, %d scanned) to find none old enough", fetched+scanned, fetched, scanned)
		}
	})
}

// writeOutbox writes n events of one customer created at created, each of
// a conversation of its own.
func writeOutbox(t *testing.T, db *DB, n int, payload []byte, created convo.Time) []*convo.Event {
	t.Helper()
	customer := convo.NewID()
	events := make([]*convo.Event, n)
	for i := range events {
		s := convo.NewID()
		events[i] = &convo.Event{ID: convo.NewID(), CustomerID: customer, Type: convo.EventMessageCreated, StreamID: s, ConversationID: s,
			Payload: payload, NextAttemptAt: created, TMCreate: created, TMDelivered: convo.Never}
	}
	if err := db.Update(t.Context(), func(tx convo.Tx) error { return tx.CreateEvents(t.Context(), events) }); err != nil {
		t.Fatal(err)
	}
	return events
}

// recordDelivered records events as delivered at their first attempt, in
// one transaction.
func recordDelivered(t *testing.T, db *DB, events []*convo.Event) {
	t.Helper()
	err := db.Update(t.Context(), func(tx convo.Tx) error {
		outcomes := make([]convo.DeliveryOutcome, len(events))
		for i, e := range events {
			e.Status, e.Attempts, e.TMDelivered = convo.DeliveryDelivered, 1, convo.NewTime(time.Now())
			outcomes[i] = convo.DeliveryOutcome{Event: e}
		}
		return tx.RecordDeliveries(t.Context(), outcomes)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// statTx begins a transaction on db's writer whose pg_stat_xact_user_tables
// count what it alone did; the caller rolls it back before closing db.
func statTx(t *testing.T, db *DB) *sql.Tx {
	t.Helper()
	sqlTx, err := db.writer.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return sqlTx
}

// TestLiveConversationsPlanPostgres pins the plans of the reads of an
// inbound batch on PostgreSQL: the locks of the conversations its display
// names go to (a statement each) and the read of its live conversations
// (one statement), whose generic plans, made while the table is young and
// has no statistics yet, must look up each row by key. A join with the array of keys planned
// then walked the account's whole index range, or the whole table, for
// every batch (milliseconds a batch at tens of thousands of conversations).
func TestLiveConversationsPlanPostgres(t *testing.T) {
	onPostgres(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		rec := &recorder{q: sqlQuerier{db.writer}}
		reader := &tx{q: rec, postgres: true, lockRows: true}
		if err := reader.LockConversations(ctx, []string{convo.NewID(), convo.NewID()}); err != nil {
			t.Fatal(err)
		}
		if _, err := reader.GetLiveConversations(ctx, convo.NewID(), []string{"U1", "U2", "U3"}); err != nil {
			t.Fatal(err)
		}
		if len(rec.stmts) != 3 {
			t.Fatalf("%d statements to lock two conversations and read three dialogs, want 3", len(rec.stmts))
		}
		for _, s := range rec.stmts[:2] {
			lock := strings.Join(explainGeneric(t, db, []recorded{s}, "SELECT"), "\n")
			if !regexp.MustCompile(`LockRows[^\n]*\n\s*->  Index Scan using conversations_pkey on conversations[^\n]*\n\s*Index Cond: \(id = \$1\)`).MatchString(lock) {
				t.Errorf("the lock does not look up its conversation by key:\n%s", lock)
			}
		}
		read := strings.Join(explainGeneric(t, db, rec.stmts[2:], "SELECT"), "\n")
		if !regexp.MustCompile(`Index Scan using conversations_live_dialog on conversations[^\n]*\n\s*Index Cond: \(\(account_id = \$2\) AND \(dialog_id = d\.want\)\)`).MatchString(read) {
			t.Errorf("the read does not look up each dialog by index:\n%s", read)
		}
	})
}

// TestTouchPlanPostgres pins the plan of the touch of an inbound batch on
// PostgreSQL, which also moves the activity of the touched conversations'
// label rows: both tables are looked up by key, never read whole, however
// many labelled conversations there are.
func TestTouchPlanPostgres(t *testing.T) {
	onPostgres(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		customer, label := convo.NewID(), convo.NewID()
		now := convo.NewTime(time.Now())
		convs := make([]convo.Conversation, 20000)
		for i := range convs {
			convs[i] = convo.Conversation{ID: convo.NewID(), CustomerID: customer, OwnerID: convo.NilID, AccountID: customer, DialogID: fmt.Sprint(i),
				Status: convo.StatusOpen, SnoozedUntil: convo.Never, TMLastMessage: convo.Never, TMCreate: now, TMUpdate: now, TMDelete: convo.Never, TMActivity: now}
		}
		err := db.seedTx(ctx, func(q querier) error {
			w := db.tx(q)
			if err := insertRows(ctx, w, "conversations", conversations, convs); err != nil {
				return err
			}
			// A customer's 100,000 labelled conversations, a few of them here.
			return insertChunks(ctx, w, "conversation_labels", strings.Split(conversationLabelColumns, ", "), 100_000, func(i int) []any {
				id := convo.NewID()
				if i%5 == 0 && i/5 < len(convs) {
					id = convs[i/5].ID
				}
				return []any{id, label, customer, now.Micros(), now.Micros()}
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.writer.ExecContext(ctx, "ANALYZE conversations, conversation_labels"); err != nil {
			t.Fatal(err)
		}
		var touches []convo.Touch
		for i := range 64 {
			touches = append(touches, convo.Touch{ConversationID: convs[i*7].ID, Message: convo.LastMessage{ID: convo.NewID(), Direction: convo.DirectionIncoming, TMCreate: now}})
		}
		rec := &recorder{q: sqlQuerier{db.writer}}
		if err := (&tx{q: rec, postgres: true}).TouchConversations(ctx, touches); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			plan := strings.Join(explainPrepared(t, db, rec.stmts, "WITH", mode), "\n")
			for _, want := range []string{`Index Scan using conversations_pkey on conversations`, `Index Scan using conversation_labels_pkey on conversation_labels`} {
				if !strings.Contains(plan, want) {
					t.Errorf("%s: the touch does not use %s:\n%s", mode, want, plan)
				}
			}
			if strings.Contains(plan, "Seq Scan") {
				t.Errorf("%s: the touch reads a whole table:\n%s", mode, plan)
			}
		}
	})
}

// onPostgres runs fn on a fresh PostgreSQL database, when the tests have
// one; TestHotQueryPlans covers SQLite's plans.
func onPostgres(t *testing.T, fn func(t *testing.T, db *DB)) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		if b.Name != "postgres" {
			return
		}
		db, err := Open(t.Context(), b.DSN, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		fn(t, db)
	})
}

// explainGeneric returns PostgreSQL's generic plan, as a cached statement
// gets it, of the recorded statement starting with verb; the statements
// before it run first in the same transaction, which is rolled back.
func explainGeneric(t *testing.T, db *DB, stmts []recorded, verb string) []string {
	t.Helper()
	return explainPrepared(t, db, stmts, verb, "force_generic_plan")
}

// explainPrepared is explainGeneric with the plan_cache_mode given: a
// custom plan is made for the statement's values.
func explainPrepared(t *testing.T, db *DB, stmts []recorded, verb, mode string) []string {
	t.Helper()
	ctx := t.Context()
	conn, err := db.writer.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer conn.ExecContext(ctx, "ROLLBACK")
	var plan []string
	// Any JIT compilation a statement would get is shown (see pinSQL).
	for _, s := range append([]recorded{{query: "BEGIN"}, {query: "SET LOCAL plan_cache_mode = " + mode}, {query: "SET LOCAL jit_above_cost = 0"}}, stmts...) {
		if !strings.HasPrefix(s.query, verb) || s.query == pinSQL || s.query == unpinSQL || s.query == trigramsSQL || s.query == scopeSQL {
			if _, err := conn.ExecContext(ctx, s.query, s.args...); err != nil {
				t.Fatalf("%s: %v", s.query, err)
			}
			continue
		}
		if _, err := conn.ExecContext(ctx, "PREPARE explained AS "+s.query); err != nil {
			t.Fatalf("prepare %s: %v", s.query, err)
		}
		// EXECUTE takes values, not parameters.
		values := make([]string, len(s.args))
		for i, a := range s.args {
			switch v := a.(type) {
			case string:
				values[i] = "'" + v + "'"
			case []string:
				quoted := make([]string, len(v))
				for j, e := range v {
					quoted[j] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, `'`, `''`).Replace(e) + `"`
				}
				values[i] = "'{" + strings.Join(quoted, ",") + "}'"
			case []int64:
				values[i] = "'{" + strings.Trim(strings.Join(strings.Fields(fmt.Sprint(v)), ","), "[]") + "}'"
			default:
				values[i] = fmt.Sprint(a)
			}
		}
		rows, err := conn.QueryContext(ctx, "EXPLAIN EXECUTE explained("+strings.Join(values, ", ")+")")
		if err != nil {
			t.Fatalf("explain %s: %v", s.query, err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, "DEALLOCATE explained"); err != nil {
			t.Fatal(err)
		}
	}
	return plan
}

// TestDeadEventsLeaveOnRetry: an event given up on is noted in dead_events
// and a retry takes it out again, so that the table holds the dead alone
// (the list filters by status too, so a leftover would only take room).
func TestDeadEventsLeaveOnRetry(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		db, err := Open(t.Context(), b.DSN, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ctx := t.Context()
		e := writeOutbox(t, db, 1, []byte(`{}`), convo.NewTime(time.Unix(0, 0)))[0]
		noted := func() (n int) {
			t.Helper()
			if err := db.writer.QueryRowContext(ctx, rebindFor(db, "SELECT COUNT(*) FROM dead_events WHERE pos = (SELECT pos FROM events WHERE id = ?)"), e.ID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, step := range []struct {
			status string
			want   int
		}{{convo.DeliveryDead, 1}, {convo.DeliveryFailed, 0}, {convo.DeliveryDead, 1}, {convo.DeliveryPending, 0}} {
			e.Status, e.Attempts = step.status, e.Attempts+1
			if err := db.Update(ctx, func(tx convo.Tx) error { return tx.RecordDeliveries(ctx, []convo.DeliveryOutcome{{Event: e}}) }); err != nil {
				t.Fatal(err)
			}
			if got := noted(); got != step.want {
				t.Fatalf("recorded %s: noted as dead %d times, want %d", step.status, got, step.want)
			}
		}
	})
}
