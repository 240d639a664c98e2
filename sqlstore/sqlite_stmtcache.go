package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
)

// SQLite statements are compiled per connection, and database/sql compiles
// every statement run outside an explicit Prepare anew: on the ingest path
// that parsing cost about a fifth of the server's CPU. cachingConnector
// keeps each connection's compiled statements, keyed by their SQL, for the
// connection's life. (PostgreSQL needs none of this: pgx caches prepared
// statements per connection itself.)

// maxCachedStatements bounds each connection's cache; list queries built
// from filters are the only statements that vary, in few combinations.
const maxCachedStatements = 256

// cachingConnector opens connections of next that reuse compiled statements.
type cachingConnector struct{ next driver.Connector }

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.next.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := conn.(driver.ConnBeginTx); !ok {
		conn.Close()
		return nil, errors.New("sqlstore: the SQLite driver does not support BeginTx")
	}
	return &cachingConn{Conn: conn, stmts: map[string]*cachedStmt{}}, nil
}

func (c cachingConnector) Driver() driver.Driver { return c.next.Driver() }

// cachingConn is one connection with its compiled statements. database/sql
// never uses a connection from two goroutines at once, so it needs no lock.
type cachingConn struct {
	driver.Conn
	stmts map[string]*cachedStmt
}

// cachedStmt is a compiled statement; busy while rows read from it are open,
// when a nested use of the same SQL gets a statement of its own.
type cachedStmt struct {
	stmt driver.Stmt
	busy bool
}

var (
	_ driver.ExecerContext      = (*cachingConn)(nil)
	_ driver.QueryerContext     = (*cachingConn)(nil)
	_ driver.ConnBeginTx        = (*cachingConn)(nil)
	_ driver.ConnPrepareContext = (*cachingConn)(nil)
	_ driver.SessionResetter    = (*cachingConn)(nil)
	_ driver.Validator          = (*cachingConn)(nil)
)

// statement returns the cached statement for query, compiling it on first use.
func (c *cachingConn) statement(ctx context.Context, query string) (*cachedStmt, error) {
	if s, ok := c.stmts[query]; ok && !s.busy {
		return s, nil
	} else if ok {
		st, err := c.PrepareContext(ctx, query)
		return &cachedStmt{stmt: st}, err
	}
	st, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if len(c.stmts) >= maxCachedStatements {
		c.evictIdle()
	}
	s := &cachedStmt{stmt: st}
	c.stmts[query] = s
	return s, nil
}

// evictIdle drops every statement not in use.
func (c *cachingConn) evictIdle() {
	for q, s := range c.stmts {
		if !s.busy {
			s.stmt.Close()
			delete(c.stmts, q)
		}
	}
}

// cached reports whether s lives in the cache (rather than for one call).
func (c *cachingConn) cached(query string, s *cachedStmt) bool { return c.stmts[query] == s }

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s, err := c.statement(ctx, query)
	if err != nil {
		return nil, err
	}
	if !c.cached(query, s) {
		defer s.stmt.Close()
	}
	return s.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, err := c.statement(ctx, query)
	if err != nil {
		return nil, err
	}
	own := !c.cached(query, s)
	rows, err := s.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		if own {
			s.stmt.Close()
		}
		return nil, err
	}
	s.busy = true
	return &cachedRows{Rows: rows, stmt: s, own: own}, nil
}

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return c.Conn.Prepare(query)
}

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *cachingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *cachingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *cachingConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// Close finalizes the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	for q, s := range c.stmts {
		s.stmt.Close()
		delete(c.stmts, q)
	}
	return c.Conn.Close()
}

// cachedRows frees its statement for reuse when closed.
type cachedRows struct {
	driver.Rows
	stmt   *cachedStmt
	own    bool
	closed bool
}

func (r *cachedRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.Rows.Close()
	r.stmt.busy = false
	if r.own {
		err = errors.Join(err, r.stmt.stmt.Close())
	}
	return err
}
