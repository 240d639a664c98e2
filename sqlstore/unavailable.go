package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/convohq/convo"
)

// A database that does not answer (PostgreSQL restarting, the network to it
// down, SQLite locked by another process beyond its busy timeout) is a
// state the client can wait out, not a fault of convo: callers get
// EUnavailable, which the API answers 503 with Retry-After, and background
// work retries.

// errUnavailable is what a client is told while the database does not answer.
var errUnavailable = convo.Errorf(convo.EUnavailable, convo.ReasonDatabaseUnavailable, "the database is not answering; retry shortly")

// unavailableError is a driver error that says the database cannot answer
// now: errUnavailable for the client, the cause for the log.
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string {
	return "sqlstore: database unavailable: " + e.cause.Error()
}
func (e *unavailableError) Unwrap() []error { return []error{errUnavailable, e.cause} }

// asUnavailable returns err as an EUnavailable error when it says the
// database cannot answer now, and err unchanged otherwise (also when it is
// a convo error already).
func asUnavailable(err error) error {
	var ce *convo.Error
	if err == nil || errors.As(err, &ce) || !isUnavailable(err) {
		return err
	}
	return &unavailableError{cause: err}
}

// isUnavailable reports whether a driver error comes from a database that
// cannot answer now rather than from the statement.
func isUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", // admin_shutdown: "terminating connection due to administrator command"
			"57P02", // crash_shutdown
			"57P03", // cannot_connect_now: "the database system is shutting down / starting up"
			"53300": // too_many_connections, as when replicas all reconnect at once
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08") // connection exceptions
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		// The busy timeout ran out: another process holds the lock.
		code := liteErr.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	var connectErr *pgconn.ConnectError
	var netErr *net.OpError
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// readyTimeout bounds the readiness check: a database that takes longer to
// answer a trivial query is not ready.
const readyTimeout = 2 * time.Second

// Ready reports whether the database answers and has every migration of
// this build applied: nil, or an EUnavailable error whose reason says which.
func (db *DB) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if db.pool != nil {
		// The writers' pool, which hands out fresh connections once the
		// server is back.
		if err := db.pool.Ping(ctx); err != nil {
			return &unavailableError{cause: err}
		}
	}
	pending, err := db.readiness.HasPending(ctx)
	if err != nil {
		return &unavailableError{cause: err}
	}
	if pending {
		return convo.Errorf(convo.EUnavailable, convo.ReasonMigrationsPending, "the database lacks migrations this build needs")
	}
	return nil
}

// readinessProvider lists the migrations applied on the read-only handle,
// without the migration lock: a readiness check never waits for a replica
// that is migrating.
func readinessProvider(db *DB) (*goose.Provider, error) {
	return newProvider(db.reader, db.dialect)
}
