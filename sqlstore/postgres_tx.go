package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// On PostgreSQL every statement costs a round trip: a network write and a
// wakeup on both sides, which on the ingest path cost more CPU than the
// statements themselves. pgTx runs an Update's transaction on a pgx
// connection in pipelined batches: BEGIN travels with the first statement,
// writes held back by execLater travel with the next statement, and the
// last of them with COMMIT. A batch of inbound messages on a known
// conversation is two round trips instead of five.

// pgTx is one PostgreSQL transaction in progress; it is a querier.
type pgTx struct {
	conn *pgx.Conn
	// begun is set once BEGIN has been sent.
	begun bool
	// later holds the writes waiting for the next round trip.
	later []laterExec
}

// laterExec is a write held back by execLater.
type laterExec struct {
	kind  kind
	query string
	args  []any
}

var _ laterQuerier = (*pgTx)(nil)

func (t *pgTx) execLater(k kind, query string, args []any) {
	t.later = append(t.later, laterExec{kind: k, query: query, args: args})
}

// send sends BEGIN if not yet sent, the held-back writes, then query, in
// one round trip, and reads the results up to query's. It returns the batch
// positioned at query's result, or the first error; a held-back write's
// error comes as a laterError.
func (t *pgTx) send(ctx context.Context, query string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(t.later)+2)}
	if !t.begun {
		b.Queue("begin")
	}
	for _, l := range t.later {
		b.Queue(l.query, pgArgs(l.args)...)
	}
	b.Queue(query, pgArgs(args)...)
	br := t.conn.SendBatch(ctx, b)
	later := t.later
	t.later = nil
	if !t.begun {
		t.begun = true
		if _, err := br.Exec(); err != nil {
			return nil, errors.Join(err, br.Close())
		}
	}
	for _, l := range later {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, &laterError{err: err, kind: l.kind}
		}
	}
	return br, nil
}

// pgArgs returns args with the store's column adapters replaced by the
// plain values they stand for; args itself, which callers may scan into
// later, is left alone. pgx encodes a driver.Valuer by trial: a text id
// offered for a uuid parameter first fails as binary, builds an error and
// is parsed again, which cost a tenth of the server's CPU on the ingest path.
func pgArgs(args []any) []any {
	var out []any
	for i, a := range args {
		plain, ok, err := adapterValue(a)
		if !ok || err != nil {
			continue // an error is left to pgx, which reports it
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = plain
	}
	if out == nil {
		return args
	}
	return out
}

func (t *pgTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	br, err := t.send(ctx, query, args)
	if err != nil {
		return nil, err
	}
	tag, err := br.Exec()
	if err := errors.Join(err, br.Close()); err != nil {
		return nil, err
	}
	return pgResult(tag), nil
}

func (t *pgTx) QueryContext(ctx context.Context, query string, args ...any) (rows, error) {
	br, err := t.send(ctx, query, args)
	if err != nil {
		return nil, err
	}
	r, err := br.Query()
	if err != nil {
		r.Close()
		return nil, errors.Join(err, br.Close())
	}
	return &pgRows{Rows: r, batch: br}, nil
}

// queryPinned runs query with pinSQL sent ahead of it and its undoing
// held back for the next statement: the transaction may go on.
func (t *pgTx) queryPinned(ctx context.Context, query string, args []any) (rows, error) {
	return t.queryPinnedWith(ctx, pinSQL, unpinSQL, query, args)
}

// queryPinnedWith is queryPinned with other settings: pin, undone by unpin.
func (t *pgTx) queryPinnedWith(ctx context.Context, pin, unpin, query string, args []any) (rows, error) {
	t.execLater(kind{}, pin, nil)
	r, err := t.QueryContext(ctx, query, args...)
	if err == nil {
		t.execLater(kind{}, unpin, nil)
	}
	return r, err
}

func (t *pgTx) QueryRowContext(ctx context.Context, query string, args ...any) row {
	r, err := t.QueryContext(ctx, query, args...)
	return &firstRow{rows: r, err: err}
}

// commit sends what is held back and COMMIT in one round trip. A
// transaction that never sent a statement has nothing to commit.
func (t *pgTx) commit(ctx context.Context) error {
	if !t.begun && len(t.later) == 0 {
		return nil
	}
	br, err := t.send(ctx, "commit", nil)
	if err != nil {
		return err
	}
	tag, err := br.Exec()
	if err := errors.Join(err, br.Close()); err != nil {
		return err
	}
	// COMMIT of a transaction that an error had already aborted rolls it back.
	if tag.String() != "COMMIT" {
		return errors.New("the transaction was rolled back")
	}
	return nil
}

// rollback ends the transaction if one is open on the server; held-back
// writes are dropped unsent.
func (t *pgTx) rollback(ctx context.Context) {
	t.later = nil
	if t.conn.PgConn().TxStatus() == 'I' {
		return
	}
	// A connection left in a transaction is closed when returned to the pool.
	t.conn.Exec(ctx, "rollback")
}

// pgResult is the outcome of a write, read like sql.Result.
type pgResult pgconn.CommandTag

func (r pgResult) RowsAffected() (int64, error) { return pgconn.CommandTag(r).RowsAffected(), nil }

func (r pgResult) LastInsertId() (int64, error) {
	return 0, errors.New("sqlstore: PostgreSQL has no last insert id")
}

// pgRows reads a query's rows from its batch; Close ends the batch and
// calls release, if set.
type pgRows struct {
	pgx.Rows
	batch   pgx.BatchResults
	release func()
}

func (r *pgRows) Close() error {
	r.Rows.Close()
	err := errors.Join(r.Rows.Err(), r.batch.Close())
	if r.release != nil {
		r.release()
		r.release = nil
	}
	return err
}

// pgView runs a View's statements on PostgreSQL each on its own, outside
// any transaction (which saves BEGIN's and COMMIT's round trips), and a
// pinned query in a transaction of its own: BEGIN, pinSQL, the query and
// COMMIT travel in one round trip.
type pgView struct {
	sqlQuerier
	pool *pgxpool.Pool
}

func (v pgView) queryPinned(ctx context.Context, query string, args []any) (rows, error) {
	return v.queryPinnedWith(ctx, pinSQL, "", query, args)
}

// queryPinnedWith is queryPinned with other settings, which the end of the
// transaction undoes.
func (v pgView) queryPinnedWith(ctx context.Context, pin, _ string, query string, args []any) (rows, error) {
	conn, err := v.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	b.Queue("begin")
	b.Queue(pin)
	b.Queue(query, pgArgs(args)...)
	b.Queue("commit")
	br := conn.Conn().SendBatch(ctx, b)
	for range 2 {
		if _, err := br.Exec(); err != nil {
			err = errors.Join(err, br.Close())
			conn.Release()
			return nil, err
		}
	}
	r, err := br.Query()
	if err != nil {
		r.Close()
		err = errors.Join(err, br.Close())
		conn.Release()
		return nil, err
	}
	// A connection released inside a transaction (the query failed midway) is closed by the pool.
	return &pgRows{Rows: r, batch: br, release: conn.Release}, nil
}

// firstRow is the first row of a query, on either engine.
type firstRow struct {
	rows rows
	err  error
}

func (r *firstRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	return r.rows.Close()
}

// runPostgres runs one Update in a pipelined transaction of its own.
func (db *DB) runPostgres(u *update) error {
	if err := u.ctx.Err(); err != nil {
		return err
	}
	// The outcome must not depend on the caller waiting: it may be committed.
	ctx := context.WithoutCancel(u.ctx)
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	defer conn.Release()
	pt := &pgTx{conn: conn.Conn()}
	t := db.tx(pt)
	t.lockRows = true
	if err := call(u.fn, t); err != nil {
		pt.rollback(ctx)
		return err
	}
	if err := pt.commit(ctx); err != nil {
		pt.rollback(ctx)
		return interpretError(fmt.Errorf("commit: %w", err), kind{})
	}
	return nil
}
