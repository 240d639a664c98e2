package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/convohq/convo"
)

// The generic mapper: each resource file declares its table (newTable) and
// passes through it, so that inserts, updates, reads and the errors they
// return (interpretError) are written once for every resource and engine.

// live and deleted select rows by tm_delete; the literal (convo.Never in
// microseconds) must match the partial indexes of the migrations.
const (
	live    = "tm_delete = 253370764800000000"
	deleted = "tm_delete <> 253370764800000000"
)

// table maps a domain type to the columns of its table.
type table[T any] struct {
	kind
	name    string
	columns []string // the fixed columns (id first), then the mutable ones
	nFixed  int
	// fields returns pointers to row's fields in the order of columns.
	fields func(row *T) []any
	// idColumns holds the positions of UUID columns, checked before writing.
	idColumns []int

	selectSQL, insertSQL, updateSQL string
	// columnsSQL is selectSQL without the table's name.
	columnsSQL string
	// indexes are those its lists walk, the preferred first (see listIndex).
	indexes []listIndex
	// insertHead and onConflictSQL frame the VALUES of the inserts.
	insertHead, onConflictSQL string
}

// idColumnNames are the columns of type UUID on PostgreSQL.
var idColumnNames = map[string]bool{"id": true, "customer_id": true, "owner_id": true, "account_id": true, "conversation_id": true, "flow_id": true}

// newTable describes table name: fixed columns are written once by insert
// (id first), mutable ones by every update; onConflict, when set, is the
// ON CONFLICT target whose clash is reported as k.conflict.
func newTable[T any](k kind, name, fixed, mutable, onConflict string, fields func(*T) []any) *table[T] {
	fixedCols, mutableCols := strings.Split(fixed, ", "), strings.Split(mutable, ", ")
	cols := slices.Concat(fixedCols, mutableCols)
	tb := &table[T]{kind: k, name: name, fields: fields, columns: cols, nFixed: len(fixedCols)}
	for i, c := range cols {
		if idColumnNames[c] {
			tb.idColumns = append(tb.idColumns, i)
		}
	}
	all := strings.Join(cols, ", ")
	tb.columnsSQL = "SELECT " + all + " FROM "
	tb.selectSQL = tb.columnsSQL + name
	tb.insertHead = "INSERT INTO " + name + " (" + all + ") VALUES "
	if onConflict != "" {
		tb.onConflictSQL = " ON CONFLICT " + onConflict + " DO NOTHING"
	}
	tb.insertSQL = tb.insertHead + tb.valuesSQL(1) + tb.onConflictSQL
	tb.updateSQL = "UPDATE " + name + " SET " + strings.Join(mutableCols, " = ?, ") + " = ? WHERE id = ?"
	return tb
}

// insert writes row; a clash on the ON CONFLICT target returns the conflict
// error and leaves the transaction usable.
func (tb *table[T]) insert(ctx context.Context, t *tx, row *T) error {
	f := tb.fields(row)
	if err := tb.checkIDs(f); err != nil {
		return err
	}
	res, err := t.q.ExecContext(ctx, t.sql(tb.insertSQL), f...)
	if err != nil {
		return interpretError(err, tb.kind)
	}
	if n, err := res.RowsAffected(); err != nil {
		return interpretError(err, tb.kind)
	} else if n == 0 {
		return tb.conflictError()
	}
	return nil
}

// insertMany writes rows with multi-row INSERTs and reports for each
// whether it was written (false: it clashed on the ON CONFLICT target).
func (tb *table[T]) insertMany(ctx context.Context, t *tx, rows []*T) ([]bool, error) {
	written := make([]bool, len(rows))
	ids := make(map[string]int, len(rows))
	err := inChunks(len(rows), func(start, n int) error {
		args := make([]any, 0, n*len(tb.columns))
		for i, row := range rows[start : start+n] {
			f := tb.fields(row)
			if err := tb.checkIDs(f); err != nil {
				return err
			}
			ids[*f[0].(*string)] = start + i
			args = append(args, f...)
		}
		res, err := t.q.QueryContext(ctx, t.sql(tb.insertManySQL(n)), args...)
		if err != nil {
			return interpretError(err, tb.kind)
		}
		for res.Next() {
			var id string
			if err := res.Scan(&id); err != nil {
				res.Close()
				return interpretError(err, tb.kind)
			}
			written[ids[id]] = true
		}
		return interpretError(errors.Join(res.Err(), res.Close()), tb.kind)
	})
	return written, err
}

// maxChunk bounds the rows of one multi-row statement.
const maxChunk = 64

// placeholders returns n comma-separated parameters.
func placeholders(n int) string {
	return "?" + strings.Repeat(", ?", n-1)
}

// inChunks calls fn for consecutive chunks of n items, each of a
// power-of-two size up to maxChunk, so that few distinct statements exist
// to compile and cache.
func inChunks(n int, fn func(start, size int) error) error {
	for start := 0; start < n; {
		size := 1
		for size*2 <= n-start && size*2 <= maxChunk {
			size *= 2
		}
		if err := fn(start, size); err != nil {
			return err
		}
		start += size
	}
	return nil
}

// insertManySQL is the INSERT of n rows, returning the ids written.
func (tb *table[T]) insertManySQL(n int) string {
	return tb.insertHead + tb.valuesSQL(n) + tb.onConflictSQL + " RETURNING id"
}

// valuesSQL is the placeholders of n rows.
func (tb *table[T]) valuesSQL(n int) string {
	row := "(" + placeholders(len(tb.columns)) + ")"
	return row + strings.Repeat(", "+row, n-1)
}

// insertNew writes rows known to be new, held back to the transaction's
// next round trip (see execLater): a clash on a unique key fails the
// transaction with the conflict error, at the latest at the commit.
func (tb *table[T]) insertNew(ctx context.Context, t *tx, rows []*T) error {
	values := make([][]any, len(rows))
	for i, row := range rows {
		f := tb.fields(row)
		if err := tb.checkIDs(f); err != nil {
			return err
		}
		var ok bool
		if values[i], ok = snapshot(f); !ok {
			return fmt.Errorf("sqlstore: %s has a column of a kind that cannot be held back", tb.what)
		}
	}
	if t.postgres && len(rows) > 0 {
		return tb.insertColumns(ctx, t, values)
	}
	return inChunks(len(values), func(start, n int) error {
		// No ON CONFLICT: a clash is an error.
		return t.execLater(ctx, tb.kind, tb.insertHead+tb.valuesSQL(n), slices.Concat(values[start:start+n]...)...)
	})
}

// update writes the mutable columns of the row with row's id.
func (tb *table[T]) update(ctx context.Context, t *tx, row *T) error {
	f := tb.fields(row)
	if _, ok := canonicalID(*f[0].(*string)); !ok {
		return convo.NotFound(tb.notFound, tb.what)
	}
	if err := tb.checkIDs(f); err != nil {
		return err
	}
	args := append(f[tb.nFixed:], f[0])
	if t.holds(tb.name, *f[0].(*string)) {
		// The row is locked by this transaction, so the update cannot miss
		// it: it travels with the next statement, as of now.
		if values, ok := snapshot(args); ok {
			return t.execLater(ctx, tb.kind, tb.updateSQL, values...)
		}
	}
	res, err := t.q.ExecContext(ctx, t.sql(tb.updateSQL), args...)
	if err != nil {
		return interpretError(err, tb.kind)
	}
	if n, err := res.RowsAffected(); err != nil {
		return interpretError(err, tb.kind)
	} else if n == 0 {
		return convo.NotFound(tb.notFound, tb.what)
	}
	return nil
}

// checkIDs puts the UUID fields in canonical form, so that both dialects
// store and compare the same text, and rejects malformed ones.
func (tb *table[T]) checkIDs(f []any) error {
	for _, i := range tb.idColumns {
		var p *string
		switch v := f[i].(type) {
		case *string:
			p = v
		case optionalID:
			if *v.id == "" {
				continue
			}
			p = v.id
		}
		id, ok := canonicalID(*p)
		if !ok {
			return convo.Invalid(convo.ReasonInvalidID, "%s %s is not a UUID", tb.what, tb.columns[i])
		}
		*p = id
	}
	return nil
}

// get returns the one row matching where.
func (tb *table[T]) get(ctx context.Context, t *tx, where string, args ...any) (*T, error) {
	row := new(T)
	query := tb.selectSQL + " WHERE " + where
	if t.lockRows {
		query += " FOR UPDATE"
	}
	f := tb.fields(row)
	if err := t.q.QueryRowContext(ctx, t.sql(query), args...).Scan(f...); err != nil {
		return nil, interpretError(err, tb.kind)
	}
	if t.lockRows {
		t.hold(tb.name, *f[0].(*string))
	}
	return row, nil
}

// getByID returns the row with id, live or deleted.
func (tb *table[T]) getByID(ctx context.Context, t *tx, id string) (*T, error) {
	id, ok := canonicalID(id)
	if !ok {
		return nil, convo.NotFound(tb.notFound, tb.what)
	}
	return tb.get(ctx, t, "id = ?", id)
}

// query returns the rows of a query selecting the table's columns.
func (tb *table[T]) query(ctx context.Context, t *tx, query string, args ...any) ([]*T, error) {
	res, err := t.q.QueryContext(ctx, t.sql(query), args...)
	return tb.read(t, res, err)
}

// read returns the rows of res, the result of a query selecting the
// table's columns, or err.
func (tb *table[T]) read(t *tx, res rows, err error) ([]*T, error) {
	if err != nil {
		return nil, interpretError(err, tb.kind)
	}
	defer res.Close()
	rows := []*T{}
	for res.Next() {
		row := new(T)
		f := tb.fields(row)
		if err := res.Scan(f...); err != nil {
			return nil, interpretError(err, tb.kind)
		}
		t.found(tb.name, *f[0].(*string))
		rows = append(rows, row)
	}
	if err := res.Err(); err != nil {
		return nil, interpretError(err, tb.kind)
	}
	return rows, nil
}

// canonicalID returns id in canonical form; PostgreSQL would reject a
// malformed one and abort the transaction.
func canonicalID(id string) (string, bool) {
	c, err := convo.ParseID(id)
	return c, err == nil
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
