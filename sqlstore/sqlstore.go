// Package sqlstore implements convo.Store on SQLite and PostgreSQL with one
// set of SQL statements, written with ? placeholders and rebound for
// PostgreSQL. Schema changes are goose migrations embedded per dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"strconv"
	"strings"
	"sync"

	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/convohq/convo"
)

// Dialect names returned by DB.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

//go:embed migrations
var migrations embed.FS

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
	if db.readiness, err = readinessProvider(db); err != nil {
		db.Close()
		return nil, err
	}
	db.startCommitters()
	return db, nil
}

func openSQLite(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlstore: sqlite: DSN has no file path")
	}
	synchronous := strings.ToUpper(opts.SQLiteSynchronous)
	switch synchronous {
	case "":
		synchronous = "FULL"
	case "FULL", "NORMAL":
	default:
		return nil, fmt.Errorf("sqlstore: SQLiteSynchronous must be FULL or NORMAL, not %q", opts.SQLiteSynchronous)
	}
	// Immediate transactions take the write lock at BEGIN, so a writer from
	// another process waits under busy_timeout instead of failing with SQLITE_BUSY.
	writerDSN := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(" + synchronous + ")&_pragma=busy_timeout(10000)&_pragma=temp_store(MEMORY)&_txlock=immediate"
	if synchronous == "FULL" {
		// A commit's sync publishes it, so its frames may travel together.
		if err := registerGatheredWALVFS(); err != nil {
			return nil, err
		}
		writerDSN += "&vfs=" + gatheredWALVFS
	}
	writer, err := openSQLiteHandle(writerDSN)
	if err != nil {
		return nil, err
	}
	// SQLite allows one writer at a time; more connections would only wait on its lock.
	writer.SetMaxOpenConns(1)
	reader, err := openSQLiteHandle("file:" + path + "?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		writer.Close()
		return nil, err
	}
	reader.SetMaxOpenConns(4)
	reader.SetMaxIdleConns(4)
	return &DB{dialect: DialectSQLite, writer: writer, reader: reader}, nil
}

// openSQLiteHandle opens a SQLite handle whose connections keep their
// compiled statements.
func openSQLiteHandle(dsn string) (*sql.DB, error) {
	connector, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	return sql.OpenDB(cachingConnector{connector}), nil
}

func openPostgres(dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: postgres DSN: %w", err)
	}
	// Two pools of 10 leave room under PostgreSQL's default 100 connections for several replicas.
	// After a server restart both hand out new connections by themselves:
	// each checks a connection idle for over a second before reuse, and
	// drops one that broke.
	cfg.MaxConns = 10
	readCfg := cfg.Copy()
	// The server itself refuses writes made through View.
	readCfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: postgres: %w", err)
	}
	readPool, err := pgxpool.NewWithConfig(context.Background(), readCfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("sqlstore: postgres: %w", err)
	}
	return &DB{dialect: DialectPostgres, pool: pool, readPool: readPool,
		writer: stdlib.OpenDBFromPool(pool), reader: stdlib.OpenDBFromPool(readPool)}, nil
}

// migrate applies the embedded migrations of dialect. On PostgreSQL an
// advisory lock lets replicas that start together migrate one at a time.
func migrate(ctx context.Context, db *sql.DB, dialect string) error {
	provider, err := migrationProvider(ctx, db, dialect)
	if err != nil {
		return err
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return nil
}

// migrationProvider runs the embedded migrations of dialect on db.
func migrationProvider(ctx context.Context, db *sql.DB, dialect string) (*goose.Provider, error) {
	if dialect != DialectPostgres {
		return newProvider(db, dialect)
	}
	lockID, err := migrationLockID(ctx, db)
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migration lock: %w", err)
	}
	return newProvider(db, dialect, goose.WithSessionLocker(locker))
}

// newProvider is goose over the embedded migrations of dialect on db.
func newProvider(db *sql.DB, dialect string, opts ...goose.ProviderOption) (*goose.Provider, error) {
	files, err := fs.Sub(migrations, "migrations/"+dialect)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	gooseDialect := goose.DialectSQLite3
	if dialect == DialectPostgres {
		gooseDialect = goose.DialectPostgres
	}
	provider, err := goose.NewProvider(gooseDialect, db, files, append(opts, goose.WithDisableGlobalRegistry(true))...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	return provider, nil
}

// migrationLockID derives the advisory lock from the schema, so that stores in
// different schemas of one database (tests, tenants) do not wait on each other.
func migrationLockID(ctx context.Context, db *sql.DB) (int64, error) {
	var schema sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return 0, fmt.Errorf("sqlstore: connect: %w", err)
	}
	if !schema.Valid {
		return 0, errors.New("sqlstore: no schema of the search_path exists")
	}
	h := fnv.New64a()
	h.Write([]byte("convo migrations " + schema.String))
	return int64(h.Sum64()), nil
}

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect }

// Tidy vacuums the delivery queue on PostgreSQL: every delivery leaves a
// dead row and index entry there that claims step over until a VACUUM, and
// autovacuum may be off or come too rarely. The queue holds only what waits
// for delivery, so this takes milliseconds. SQLite frees rows as it deletes.
func (db *DB) Tidy(ctx context.Context) error {
	if db.dialect != DialectPostgres {
		return nil
	}
	// Another process's tidy already under way is as good as this one. The
	// queue keeps its empty end pages (see its migration).
	_, err := db.writer.ExecContext(ctx, "VACUUM (SKIP_LOCKED, TRUNCATE false) event_queue")
	return interpretError(err, events)
}

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

func (db *DB) tx(q querier) *tx {
	return &tx{q: q, postgres: db.dialect == DialectPostgres}
}

// tx implements convo.Tx over a querier.
type tx struct {
	q        querier
	postgres bool
	// lockRows makes reads of one row lock it until the commit (PostgreSQL
	// Updates): use cases read, change and write rows back, and the lock
	// keeps two concurrent ones from overwriting each other's change (a stop
	// undone by a running step, a status report by a send's result). SQLite
	// runs one writer at a time.
	lockRows bool
	// locked holds the rows this transaction has locked, by table and id;
	// lockedAhead those it asked to lock without reading them, which count
	// as locked once a read finds them.
	locked, lockedAhead map[lockedRow]struct{}
	// eventsWritten and lastEventPos number the events t writes (see
	// nextEventPos).
	eventsWritten, lastEventPos int64
}

type lockedRow struct{ table, id string }

// hold records that t has locked the row of table with id.
func (t *tx) hold(table, id string) {
	if t.locked == nil {
		t.locked = map[lockedRow]struct{}{}
	}
	t.locked[lockedRow{table, id}] = struct{}{}
}

// lockLater records that t locks the row of table with id, if there is
// one, with its next round trip.
func (t *tx) lockLater(table, id string) {
	if t.lockedAhead == nil {
		t.lockedAhead = map[lockedRow]struct{}{}
	}
	t.lockedAhead[lockedRow{table, id}] = struct{}{}
}

// found notes a row of table that a read of t returned: one t asked to
// lock ahead exists, and so is locked.
func (t *tx) found(table, id string) {
	if _, ok := t.lockedAhead[lockedRow{table, id}]; ok {
		t.hold(table, id)
	}
}

// holds reports whether t has locked the row of table with id. The tables
// read by get are never deleted from, only marked deleted, so a locked row
// stays until the commit.
func (t *tx) holds(table, id string) bool {
	_, ok := t.locked[lockedRow{table, id}]
	return ok
}

// sql returns query with placeholders in the dialect's syntax.
func (t *tx) sql(query string) string {
	if !t.postgres {
		return query
	}
	return rebind(query)
}

var rebound sync.Map // query with ? -> query with $n

// rebind rewrites the ? placeholders of query as $1, $2, ... Statements
// here never contain a literal question mark.
func rebind(query string) string {
	if q, ok := rebound.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r != '?' {
			b.WriteRune(r)
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	rebound.Store(query, b.String())
	return b.String()
}

// kind names a resource in the errors of interpretError.
type kind struct {
	what           string // e.g. "access key"
	notFound       string // reason when the row is missing
	conflict       string // reason when a unique key is taken
	conflictDetail string // message when a unique key is taken
}

// interpretError turns a driver error into a convo error: a missing row into
// NotFound, a unique violation into EConflict, a database that cannot answer
// now into EUnavailable, anything else into an internal error.
func interpretError(err error, k kind) error {
	var pgErr *pgconn.PgError
	var liteErr *sqlite.Error
	if err == nil {
		return nil
	}
	if le, ok := asLaterError(err); ok {
		// The error of an earlier write, reported by a later statement.
		k, err = le.kind, le.err
	}
	switch {
	case isUnavailable(err):
		return &unavailableError{cause: err}
	case errors.Is(err, sql.ErrNoRows):
		return convo.NotFound(k.notFound, k.what)
	case errors.As(err, &pgErr) && pgErr.Code == "23505",
		errors.As(err, &liteErr) && (liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return k.conflictError()
	}
	return fmt.Errorf("sqlstore: %w", err)
}

func (k kind) conflictError() error {
	return convo.Errorf(convo.EConflict, k.conflict, "%s", k.conflictDetail)
}

// adapterValue returns the plain value a column adapter (micros,
// optionalID, jsonText) stands for now; ok is false for any other argument.
func adapterValue(a any) (v any, ok bool, err error) {
	switch a := a.(type) {
	case micros:
		return a.t.Micros(), true, nil
	case optionalID:
		return a.text(), true, nil
	case jsonText:
		s, err := a.text()
		return s, true, err
	}
	return nil, false, nil
}

// micros stores a convo.Time as microseconds since the Unix epoch.
type micros struct{ t *convo.Time }

func (m micros) Value() (driver.Value, error) { return m.t.Micros(), nil }

func (m micros) Scan(src any) error {
	us, ok := src.(int64)
	if !ok {
		return fmt.Errorf("sqlstore: timestamp column holds %T", src)
	}
	*m.t = convo.TimeFromMicros(us)
	return nil
}

// jsonText stores a value as JSON text; a nil slice is stored as [] so that
// it reads back as an empty slice.
type jsonText struct{ v any }

func (j jsonText) Value() (driver.Value, error) { return j.text() }

func (j jsonText) text() (string, error) {
	b, err := json.Marshal(j.v)
	if string(b) == "null" {
		return "[]", err
	}
	return string(b), err
}

// Scan decodes with the encoding/json API on the json/v2 implementation:
// the same results, in less than half the time (JSON columns are read for
// every conversation an inbound batch touches).
func (j jsonText) Scan(src any) error {
	switch s := src.(type) {
	case string:
		return jsonv1.Unmarshal([]byte(s), j.v)
	case []byte:
		return jsonv1.Unmarshal(s, j.v)
	}
	return fmt.Errorf("sqlstore: JSON column holds %T", src)
}

// optionalID stores an unset id ("") as convo.NilID, since PostgreSQL's uuid
// type has no empty value.
type optionalID struct{ id *string }

func (o optionalID) Value() (driver.Value, error) { return o.text(), nil }

func (o optionalID) text() string {
	if *o.id == "" {
		return convo.NilID
	}
	return *o.id
}

func (o optionalID) Scan(src any) error {
	switch s := src.(type) {
	case string:
		*o.id = s
	case []byte:
		*o.id = string(s)
	default:
		return fmt.Errorf("sqlstore: id column holds %T", src)
	}
	return nil
}
