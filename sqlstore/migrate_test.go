package sqlstore

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/pressly/goose/v3"
)

// TestMigrationsRoundTrip takes every migration down and up again on each
// backend, so that a release can be rolled back, and checks that the store
// works on the schema that results.
func TestMigrationsRoundTrip(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ctx := t.Context()
		db, provider := openMigrated(t, b)
		all := len(provider.ListSources())
		down, err := provider.DownTo(ctx, 0)
		if err != nil {
			t.Fatalf("down: %v", err)
		}
		up, err := provider.Up(ctx)
		if err != nil {
			t.Fatalf("up again: %v", err)
		}
		if len(down) != all || len(up) != all {
			t.Fatalf("%d migrations: %d went down, %d came up again", all, len(down), len(up))
		}
		err = db.Update(ctx, func(tx convo.Tx) error {
			if _, err := tx.InitSetting(ctx, "k", "v"); err != nil {
				return err
			}
			if _, err := tx.SettledEvents(ctx, 0, 10); err != nil {
				return err
			}
			pos, err := tx.LastEventPos(ctx)
			if err == nil && pos != 0 {
				t.Errorf("LastEventPos on an empty outbox = %d, want 0", pos)
			}
			return err
		})
		if err != nil {
			t.Fatalf("store on the migrated schema: %v", err)
		}
	})
}

// TestMigrationNumbersWaitingEvents: events the old sequencer had not yet
// numbered when the store is upgraded get positions after the numbered
// ones, in creation order, and events written afterwards come after both.
func TestMigrationNumbersWaitingEvents(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ctx := t.Context()
		db, provider := openMigratedTo(t, b, 3) // the sequencer's schema
		customer, stream := convo.NewID(), convo.NewID()
		ids := []string{convo.NewID(), convo.NewID(), convo.NewID()} // in creation order
		for i, pos := range []any{int64(7), nil, nil} {
			_, err := db.writer.ExecContext(ctx, rebindFor(db, `INSERT INTO events (id, customer_id, type, stream_id, conversation_id, payload,
				target_uri, target_method, content_type, pos, status, attempts, next_attempt_at, locked_until, last_error, tm_create, tm_delivered)
				VALUES (?, ?, 'conversation_message_created', ?, ?, ?, '', '', '', ?, 'pending', 0, 0, 0, '', 0, 0)`),
				ids[i], customer, stream, stream, fmt.Sprintf(`{"n":%d}`, i), pos)
			if err != nil {
				t.Fatalf("event as the old sequencer left it: %v", err)
			}
		}
		if _, err := provider.Up(ctx); err != nil {
			t.Fatalf("up: %v", err)
		}
		later := &convo.Event{ID: convo.NewID(), CustomerID: customer, Type: convo.EventMessageCreated, StreamID: stream, ConversationID: stream,
			Payload: []byte(`{"n":3}`), NextAttemptAt: convo.NewTime(time.Unix(0, 0)), TMCreate: convo.NewTime(time.Unix(0, 0)), TMDelivered: convo.Never}
		if err := db.Update(ctx, func(tx convo.Tx) error { return tx.CreateEvent(ctx, later) }); err != nil {
			t.Fatal(err)
		}
		want := append(ids, later.ID)
		var list []*convo.Event
		// Another test's open transaction on the server may hold later back a moment.
		for deadline := time.Now().Add(10 * time.Second); len(list) < len(want) && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			err := db.View(ctx, func(tx convo.Tx) (err error) {
				zero := int64(0)
				list, err = tx.ListEvents(ctx, convo.EventListParams{CustomerID: customer, AfterPos: &zero, Page: convo.Page{Limit: 10}})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if len(list) != len(want) {
			t.Fatalf("listed %d events after the upgrade, want %d", len(list), len(want))
		}
		for i, e := range list {
			if e.ID != want[i] || (i > 0 && e.Pos <= list[i-1].Pos) {
				t.Fatalf("event %d after the upgrade: %s at position %d, want %s after position %d", i, e.ID, e.Pos, want[i], list[max(i-1, 0)].Pos)
			}
		}
		if list[0].Pos != 7 {
			t.Errorf("the numbered event moved from position 7 to %d", list[0].Pos)
		}
	})
}

// TestMigrationQueuesUndelivered: events waiting for delivery when the
// store is upgraded to the delivery queue are listed by their status and
// delivered afterwards, retries at their time; delivered and dead ones
// are not, and dead ones are listed as such.
func TestMigrationQueuesUndelivered(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ctx := t.Context()
		db, provider := openMigratedTo(t, b, 6) // the schema before the queue
		customer := convo.NewID()
		later := time.Now().Add(time.Hour)
		ids := map[string]string{"pending": convo.NewID(), "failed": convo.NewID(), "delivered": convo.NewID(), "dead": convo.NewID()}
		for i, status := range []string{"pending", "failed", "delivered", "dead"} {
			next := int64(0)
			if status == "failed" {
				next = later.UnixMicro()
			}
			stream := convo.NewID()
			_, err := db.writer.ExecContext(ctx, rebindFor(db, `INSERT INTO events (id, customer_id, type, stream_id, conversation_id, payload,
				target_uri, target_method, content_type, pos, status, attempts, next_attempt_at, locked_until, last_error, tm_create, tm_delivered)
				VALUES (?, ?, 'conversation_message_created', ?, ?, '{}', '', '', '', ?, ?, 0, ?, 0, '', 0, 0)`),
				ids[status], customer, stream, stream, i+1, status, next)
			if err != nil {
				t.Fatalf("%s event before the upgrade: %v", status, err)
			}
		}
		if _, err := provider.Up(ctx); err != nil {
			t.Fatalf("up: %v", err)
		}
		for _, status := range []string{"pending", "failed", "dead"} {
			err := db.View(ctx, func(tx convo.Tx) error {
				list, err := tx.ListEvents(ctx, convo.EventListParams{CustomerID: customer, Status: status, Page: convo.Page{Limit: 10}})
				if err == nil && (len(list) != 1 || list[0].ID != ids[status]) {
					t.Errorf("listed %d %s events after the upgrade, want %s", len(list), status, ids[status])
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		claim := func(now time.Time) []string {
			var got []string
			err := db.Update(ctx, func(tx convo.Tx) error {
				list, err := tx.ClaimEvents(ctx, convo.ClaimEventsParams{Now: convo.NewTime(now), LeaseUntil: convo.NewTime(now.Add(24 * time.Hour)), Limit: 10})
				for _, e := range list {
					got = append(got, e.ID)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if got := claim(time.Now()); len(got) != 1 || got[0] != ids["pending"] {
			t.Errorf("claimed %v after the upgrade, want the pending event %s", got, ids["pending"])
		}
		if got := claim(later.Add(2 * time.Minute)); len(got) != 1 || got[0] != ids["failed"] {
			t.Errorf("claimed %v once the retry was due, want the failed event %s", got, ids["failed"])
		}
	})
}

// TestMigrationOldMessagesHaveNoSender: messages stored before senders
// were kept read back with none (null on the wire), since nobody recorded
// who sent them; those written afterwards keep theirs.
func TestMigrationOldMessagesHaveNoSender(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ctx := t.Context()
		db, provider := openMigratedTo(t, b, 18) // the schema before senders
		old := convo.NewID()
		_, err := db.writer.ExecContext(ctx, rebindFor(db, `INSERT INTO messages (id, customer_id, conversation_id, direction, status,
			reference_type, reference_id, source, destination, text, medias, account_id, provider_id, tm_create, tm_update, tm_delete)
			VALUES (?, ?, ?, 'outgoing', 'done', 'line', '', '{}', '{}', 'sent long ago', '[]', ?, '', 0, 0, 253370764800000000)`),
			old, convo.NewID(), convo.NewID(), convo.NewID())
		if err != nil {
			t.Fatalf("message as the old schema stored it: %v", err)
		}
		if _, err := provider.Up(ctx); err != nil {
			t.Fatalf("up: %v", err)
		}
		newer := &convo.Message{ID: convo.NewID(), CustomerID: convo.NewID(), ConversationID: convo.NewID(), Direction: convo.DirectionOutgoing,
			Status: convo.MessageProgressing, Medias: []convo.Media{}, Sender: &convo.MessageSender{Type: convo.SenderAgent, ID: convo.NewID()},
			AccountID: convo.NewID(), TMCreate: convo.NewTime(time.Unix(1, 0)), TMUpdate: convo.NewTime(time.Unix(1, 0)), TMDelete: convo.Never}
		err = db.Update(ctx, func(tx convo.Tx) error {
			if err := tx.CreateMessage(ctx, newer); err != nil {
				return err
			}
			m, err := tx.GetMessage(ctx, old)
			if err == nil && (m.Sender != nil || m.Text != "sent long ago") {
				t.Errorf("the old message reads back with sender %+v, text %q; want none and its text", m.Sender, m.Text)
			}
			if err != nil {
				return err
			}
			m, err = tx.GetMessage(ctx, newer.ID)
			if err == nil && (m.Sender == nil || *m.Sender != *newer.Sender) {
				t.Errorf("a new message reads back with sender %+v, want %+v", m.Sender, newer.Sender)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestMigrationListKeys: the conversations and labels kept before 00021
// get the order keys its lists walk: the newest incoming message of each
// conversation (unread state) and, on each label row, the conversation's
// activity and creation (lists of a label, in both orders).
func TestMigrationListKeys(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ctx := t.Context()
		db, provider := openMigratedTo(t, b, 19) // the schema before the keys
		cust, account, agent, label := convo.NewID(), convo.NewID(), convo.NewID(), convo.NewID()
		base := time.Unix(1_700_000_000, 0)
		at := func(d time.Duration) convo.Time { return convo.NewTime(base.Add(d)) }
		var convs []*convo.Conversation
		var msgs []*convo.Message
		for i := range 3 {
			c := &convo.Conversation{ID: convo.NewID(), CustomerID: cust, OwnerID: convo.NilID, AccountID: account, Type: convo.ConversationLine,
				DialogID: fmt.Sprint("U", i), Status: convo.StatusOpen, SnoozedUntil: convo.Never, TMLastMessage: convo.Never,
				TMCreate: at(time.Duration(i) * time.Second), TMUpdate: at(0), TMDelete: convo.Never, TMActivity: at(time.Duration(i) * time.Second)}
			convs = append(convs, c)
		}
		// The oldest conversation has the newest message; the middle one none.
		for _, m := range []struct {
			conv int
			at   time.Duration
			dir  string
		}{{0, time.Hour, convo.DirectionIncoming}, {0, 2 * time.Hour, convo.DirectionOutgoing}, {2, time.Minute, convo.DirectionIncoming}} {
			msgs = append(msgs, &convo.Message{ID: convo.NewID(), CustomerID: cust, ConversationID: convs[m.conv].ID, Direction: m.dir, Status: convo.MessageDone,
				Medias: []convo.Media{}, AccountID: account, TMCreate: at(m.at), TMUpdate: at(m.at), TMDelete: convo.Never})
		}
		// The rows as the schema before stored them (today's code writes
		// columns of later migrations too).
		for _, c := range convs {
			if _, err := db.writer.ExecContext(ctx, rebindFor(db, `INSERT INTO conversations (id, customer_id, owner_type, owner_id,
				account_id, name, detail, type, dialog_id, self, peer, tm_create, tm_update, tm_delete, status, tm_activity)
				VALUES (?, ?, '', ?, ?, '', '', ?, ?, '{}', '{}', ?, ?, 253370764800000000, 'open', ?)`),
				c.ID, cust, convo.NilID, account, c.Type, c.DialogID, c.TMCreate.Micros(), c.TMUpdate.Micros(), c.TMActivity.Micros()); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range msgs {
			if _, err := db.writer.ExecContext(ctx, rebindFor(db, `INSERT INTO messages (id, customer_id, conversation_id, direction, status,
				reference_type, reference_id, source, destination, text, medias, account_id, provider_id, tm_create, tm_update, tm_delete)
				VALUES (?, ?, ?, ?, 'done', 'line', '', '{}', '{}', '', '[]', ?, '', ?, ?, 253370764800000000)`),
				m.ID, cust, m.ConversationID, m.Direction, account, m.TMCreate.Micros(), m.TMUpdate.Micros()); err != nil {
				t.Fatal(err)
			}
		}
		// The activity as the touches of the schema before left it.
		last := at(2 * time.Hour).Micros()
		if _, err := db.writer.ExecContext(ctx, rebindFor(db, "UPDATE conversations SET tm_activity = ?, tm_last_message = ? WHERE id = ?"), last, last, convs[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.writer.ExecContext(ctx, rebindFor(db, "INSERT INTO labels (id, customer_id, name, name_fold, color, detail, tm_create, tm_update, tm_delete) VALUES (?, ?, 'billing', 'billing', '', '', 0, 0, 253370764800000000)"), label, cust); err != nil {
			t.Fatal(err)
		}
		for _, c := range convs {
			if _, err := db.writer.ExecContext(ctx, rebindFor(db, "INSERT INTO conversation_labels (conversation_id, label_id) VALUES (?, ?)"), c.ID, label); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := provider.Up(ctx); err != nil {
			t.Fatalf("up: %v", err)
		}
		listed := func(p convo.ConversationListParams) (ids []string) {
			t.Helper()
			p.CustomerID, p.Page = cust, convo.Page{Limit: 10}
			err := db.View(ctx, func(tx convo.Tx) error {
				list, err := tx.ListConversations(ctx, p)
				for _, c := range list {
					ids = append(ids, c.ID)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return ids
		}
		want := func(what string, got []string, want ...*convo.Conversation) {
			t.Helper()
			var ids []string
			for _, c := range want {
				ids = append(ids, c.ID)
			}
			if !slices.Equal(got, ids) {
				t.Errorf("%s: %v, want %v", what, got, ids)
			}
		}
		want("unread", listed(convo.ConversationListParams{UnreadFor: agent, ByActivity: true}), convs[0], convs[2])
		want("label by activity", listed(convo.ConversationListParams{Labels: []string{"billing"}, ByActivity: true}), convs[0], convs[2], convs[1])
		want("label", listed(convo.ConversationListParams{Labels: []string{"billing"}}), convs[2], convs[1], convs[0])
		err := db.Update(ctx, func(tx convo.Tx) error {
			_, err := tx.MarkRead(ctx, &convo.ReadMark{AgentID: agent, ConversationID: convs[0].ID, MessageID: msgs[1].ID, TMMessage: msgs[1].TMCreate, TMUpdate: at(0)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		want("unread after reading the oldest", listed(convo.ConversationListParams{UnreadFor: agent, ByActivity: true}), convs[2])
	})
}

// openMigratedTo opens b's store as openMigrated does, then takes its
// schema down to version.
func openMigratedTo(t *testing.T, b testdb.Backend, version int64) (*DB, *goose.Provider) {
	t.Helper()
	db, provider := openMigrated(t, b)
	if _, err := provider.DownTo(t.Context(), version); err != nil {
		t.Fatalf("down to version %d: %v", version, err)
	}
	return db, provider
}

// openMigrated opens b's store, closed when t ends, with its migrations.
func openMigrated(t *testing.T, b testdb.Backend) (*DB, *goose.Provider) {
	t.Helper()
	db, err := Open(t.Context(), b.DSN, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	provider, err := migrationProvider(t.Context(), db.writer, db.dialect)
	if err != nil {
		t.Fatal(err)
	}
	return db, provider
}

// rebindFor returns query in db's placeholder syntax.
func rebindFor(db *DB, query string) string {
	if db.dialect == DialectPostgres {
		return rebind(query)
	}
	return query
}
