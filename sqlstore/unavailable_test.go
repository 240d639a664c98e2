package sqlstore

import (
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// TestReady: a store is ready once migrated; a migration undone behind its
// back (an operator's goose down, an older backup restored) makes it not
// ready, with the reason, until it is applied again.
func TestReady(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ctx := t.Context()
		db, provider := openMigrated(t, b)
		if err := db.Ready(ctx); err != nil {
			t.Fatalf("a migrated store is not ready: %v", err)
		}
		sources := provider.ListSources()
		if _, err := provider.DownTo(ctx, sources[len(sources)-2].Version); err != nil {
			t.Fatal(err)
		}
		err := db.Ready(ctx)
		if convo.ErrorStatus(err) != convo.EUnavailable || convo.ErrorReason(err) != convo.ReasonMigrationsPending {
			t.Errorf("with the last migration undone, Ready says %v, want %s", err, convo.ReasonMigrationsPending)
		}
		if _, err := provider.Up(ctx); err != nil {
			t.Fatal(err)
		}
		if err := db.Ready(ctx); err != nil {
			t.Errorf("migrated again, the store is not ready: %v", err)
		}
	})
}

// TestSQLiteBusyIsUnavailable: a write lock held by another process beyond
// the busy timeout is the database being unavailable, not a fault.
func TestSQLiteBusyIsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	holder, err := openSQLiteHandle("file:" + path + "?_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	lock, err := holder.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	other, err := openSQLiteHandle("file:" + path + "?_pragma=busy_timeout(0)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, busy := other.Begin()
	if busy == nil {
		t.Fatal("a second writer began while the first held the lock")
	}
	err = interpretError(busy, kind{})
	if convo.ErrorStatus(err) != convo.EUnavailable || convo.ErrorReason(err) != convo.ReasonDatabaseUnavailable {
		t.Errorf("busy (%v) reads as %v, want %s %s", busy, err, convo.EUnavailable, convo.ReasonDatabaseUnavailable)
	}
	// A statement's own failure stays what it was.
	_, syntax := other.Exec("SELEC 1")
	if convo.ErrorStatus(interpretError(syntax, kind{})) != convo.EInternal {
		t.Errorf("a syntax error reads as %v", interpretError(syntax, kind{}))
	}
}

// TestTerminatedConnectionsAreUnavailable ends the store's sessions on the
// server, as a PostgreSQL shutting down does ("terminating connection due
// to administrator command"): the calls that meet them fail as
// unavailable, and the next ones work on new connections.
func TestTerminatedConnectionsAreUnavailable(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip("needs PostgreSQL: set " + testdb.PostgresEnv)
	}
	ctx := t.Context()
	b := testdb.Postgres(t)
	u, err := url.Parse(b.DSN)
	if err != nil {
		t.Fatal(err)
	}
	name := "convo-test-" + filepath.Base(t.TempDir())
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	db, err := Open(ctx, u.String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	admin, err := sql.Open("pgx", os.Getenv(testdb.PostgresEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	calls := map[string]func() error{
		"View": func() error {
			return db.View(ctx, func(tx convo.Tx) error { _, err := tx.LastEventPos(ctx); return err })
		},
		"Update": func() error {
			return db.Update(ctx, func(tx convo.Tx) error { _, err := tx.InitSetting(ctx, "k", "v"); return err })
		},
	}
	met := 0
	for _, call := range []string{"View", "Update"} {
		// Twice: the first may meet a session the previous round ended.
		calls[call]()
		if err := calls[call](); err != nil {
			t.Fatal(err)
		}
		var ended int
		if err := admin.QueryRowContext(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", name).Scan(&ended); err != nil || ended == 0 {
			t.Fatalf("terminate the store's sessions: %d ended, %v", ended, err)
		}
		// The sessions' goodbyes arrive; the connections stay idle less
		// than the second after which the pools check them first.
		time.Sleep(100 * time.Millisecond)
		// database/sql may take another connection by itself.
		if err := calls[call](); err != nil {
			met++
			if convo.ErrorStatus(err) != convo.EUnavailable || convo.ErrorReason(err) != convo.ReasonDatabaseUnavailable {
				t.Errorf("%s on a terminated session: %v, want %s %s", call, err, convo.EUnavailable, convo.ReasonDatabaseUnavailable)
			}
		}
		if err := calls[call](); err != nil {
			t.Errorf("%s after the terminated session: %v", call, err)
		}
	}
	if met == 0 {
		t.Error("no call met a terminated session")
	}
}
