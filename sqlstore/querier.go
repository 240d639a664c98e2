package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
)

// querier is what a tx runs statements on: a database/sql handle or
// transaction (sqlQuerier), or a PostgreSQL transaction that pipelines its
// statements (pgTx).
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) row
}

// rows is the result of a query, read like *sql.Rows.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// row is the first row of a query, read like *sql.Row.
type row interface {
	Scan(dest ...any) error
}

// sqlHandle is what database/sql's DB, Tx and Conn have in common.
type sqlHandle interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sqlQuerier runs statements through database/sql.
type sqlQuerier struct{ h sqlHandle }

func (q sqlQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.h.ExecContext(ctx, query, args...)
}

func (q sqlQuerier) QueryContext(ctx context.Context, query string, args ...any) (rows, error) {
	r, err := q.h.QueryContext(ctx, query, args...)
	if err != nil {
		// A nil *sql.Rows must not become a non-nil interface.
		return nil, err
	}
	return r, nil
}

func (q sqlQuerier) QueryRowContext(ctx context.Context, query string, args ...any) row {
	return q.h.QueryRowContext(ctx, query, args...)
}

// detached runs statements of a transaction regardless of the callers'
// contexts: one caller giving up must not break a commit shared with others.
type detached struct{ q querier }

func (d detached) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.q.ExecContext(context.WithoutCancel(ctx), query, args...)
}

func (d detached) QueryContext(ctx context.Context, query string, args ...any) (rows, error) {
	return d.q.QueryContext(context.WithoutCancel(ctx), query, args...)
}

func (d detached) QueryRowContext(ctx context.Context, query string, args ...any) row {
	return d.q.QueryRowContext(context.WithoutCancel(ctx), query, args...)
}

// laterQuerier is a querier that can hold a write back and send it with the
// next statement, saving the write's own round trip.
type laterQuerier interface {
	execLater(k kind, query string, args []any)
}

// execLater runs a write whose outcome the caller does not read (no rows
// affected, no returned rows). Where statements cost a round trip it is
// sent together with the transaction's next statement or its COMMIT, and
// its error, if any, is returned from that call instead; args are read
// when it is sent.
func (t *tx) execLater(ctx context.Context, k kind, query string, args ...any) error {
	if l, ok := t.q.(laterQuerier); ok {
		l.execLater(k, t.sql(query), args)
		return nil
	}
	_, err := t.q.ExecContext(ctx, t.sql(query), args...)
	return interpretError(err, k)
}

// snapshot returns the values args point to now, for a write held back
// whose row may change before it is sent; false if an argument is of a
// kind it does not know.
func snapshot(args []any) ([]any, bool) {
	values := make([]any, len(args))
	for i, a := range args {
		if plain, ok, err := adapterValue(a); ok {
			if err != nil {
				return nil, false
			}
			values[i] = plain
			continue
		}
		rv := reflect.ValueOf(a)
		switch {
		case rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() != reflect.Struct:
			values[i] = rv.Elem().Interface()
		case rv.Kind() != reflect.Pointer:
			values[i] = a
		default:
			return nil, false
		}
	}
	return values, true
}

// laterError is the error of a write held back by execLater, reported by a
// later statement: interpretError reads it as an error of its own kind.
type laterError struct {
	err  error
	kind kind
}

func (e *laterError) Error() string { return e.err.Error() }
func (e *laterError) Unwrap() error { return e.err }

// asLaterError returns the held-back write's error inside err, if any.
func asLaterError(err error) (*laterError, bool) {
	var le *laterError
	ok := errors.As(err, &le)
	return le, ok
}
