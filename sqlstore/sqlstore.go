// Package sqlstore implements convo.Store on SQLite and PostgreSQL with one
// set of SQL statements, written with ? placeholders and rebound for
// PostgreSQL. Schema changes are goose migrations embedded per dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/convohq/convo"
)

// Dialect names returned by DB.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Options tunes a store beyond its DSN.
type Options struct {
	// SQLiteSynchronous is SQLite's synchronous pragma. "" or "FULL" fsyncs
	// every commit, so an acknowledged transaction survives a power loss;
	// "NORMAL" is faster but a power loss may drop the latest commits
	// (the database stays consistent). PostgreSQL ignores it.
	SQLiteSynchronous string
}

// DB is a convo.Store over SQLite or PostgreSQL. Update runs on the writer
// handle (on PostgreSQL, on pool, which writer shares) and View on a
// separate read-only handle.
type DB struct {
	dialect string
	writer  *sql.DB
	reader  *sql.DB
	// pool holds the PostgreSQL writer's connections, used natively by
	// Update; readPool the reader's, used natively by pinned lists.
	pool, readPool *pgxpool.Pool
	// readiness tells Ready whether migrations are pending.
	readiness *goose.Provider
	// updates feeds the committers that group concurrent Updates.
	updates    chan *update
	committers sync.WaitGroup
	// closing guards updates: no Update may send once Close has begun.
	closing sync.RWMutex
	closed  bool
}

var _ convo.Store = (*DB)(nil)

// Open connects to dsn, "sqlite:PATH" or "postgres://..." (also
// "postgresql://..."), applies the pending migrations and returns the store.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	var db *DB
	var err error
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		db, err = openSQLite(strings.TrimPrefix(dsn, "sqlite:"), opts)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err = openPostgres(dsn)
	default:
		// The DSN may hold a password, so it is not echoed.
		return nil, errors.New("sqlstore: the database DSN must start with sqlite:, postgres:// or postgresql://")
	}
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, db.writer, db.dialect); err != nil {
		db.Close()
		return nil, err
	}
	// Rows noted for the search index by a writer that stopped short of
	// indexing them (none does) are indexed now.
	if db.dialect != DialectPostgres {
		if err := db.seedTx(ctx, func(querier) error { return nil }); err != nil {
			db.Close()
			return nil, err
		}
	}
	if db.readiness, err = readinessProvider(db); err != nil {
		db.Close()
		return nil, err
	}
	db.startCommitters()
	return db, nil
}

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect }

// Close waits for the Updates under way, then releases both database handles.
func (db *DB) Close() error {
	db.closing.Lock()
	if db.closed {
		db.closing.Unlock()
		return nil
	}
	db.closed = true
	if db.updates != nil {
		close(db.updates)
	}
	db.closing.Unlock()
	db.committers.Wait()
	err := errors.Join(db.reader.Close(), db.writer.Close())
	if db.pool != nil {
		db.pool.Close()
		db.readPool.Close()
	}
	return err
}

// View runs fn on the read-only handle. On SQLite fn reads one snapshot; on
// PostgreSQL each statement reads the latest commit, which saves the
// BEGIN and COMMIT round trips.
func (db *DB) View(ctx context.Context, fn func(convo.Tx) error) error {
	if db.dialect == DialectPostgres {
		return asUnavailable(fn(db.tx(pgView{sqlQuerier{db.reader}, db.readPool})))
	}
	sqlTx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return asUnavailable(fmt.Errorf("sqlstore: begin: %w", err))
	}
	defer sqlTx.Rollback()
	return asUnavailable(fn(db.tx(sqlQuerier{sqlTx})))
}

// Update runs fn in a transaction on the writer, possibly shared with
// concurrent Updates, and returns once fn's writes are durably committed.
// An error from fn undoes fn's writes (and only those) and is returned as
// is; a panic in fn is re-raised here.
func (db *DB) Update(ctx context.Context, fn func(convo.Tx) error) error {
	u := &update{ctx: ctx, fn: fn, done: make(chan error, 1)}
	db.closing.RLock()
	if db.closed {
		db.closing.RUnlock()
		return errors.New("sqlstore: the store is closed")
	}
	if db.dialect == DialectPostgres {
		// Close waits for this read lock, hence for the transaction.
		err := db.runPostgres(u)
		db.closing.RUnlock()
		if p, ok := err.(panicked); ok {
			panic(p.value)
		}
		return asUnavailable(err)
	}
	select {
	case db.updates <- u:
	case <-ctx.Done():
		db.closing.RUnlock()
		return ctx.Err()
	}
	db.closing.RUnlock()
	// Once queued, the outcome is awaited even if ctx ends: it may be committed.
	err := <-u.done
	if p, ok := err.(panicked); ok {
		panic(p.value)
	}
	return asUnavailable(err)
}

// update is one Update waiting for its group.
type update struct {
	ctx  context.Context
	fn   func(convo.Tx) error
	done chan error
}

// panicked carries a panic from fn back to the goroutine that called Update.
type panicked struct{ value any }

func (p panicked) Error() string { return fmt.Sprintf("panic: %v", p.value) }

func isPanic(err error) bool {
	_, ok := err.(panicked)
	return ok
}

// call runs fn, turning a panic into a panicked error.
func call(fn func(convo.Tx) error, t *tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicked{v}
		}
	}()
	return fn(t)
}
