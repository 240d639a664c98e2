package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// What bench asks of a PostgreSQL server itself, rather than of convo's
// tables: a schema of its own to measure in, and the checkpointer's counters.

// newScratchSchema creates a schema with a unique name (prefix and random
// hex) in the PostgreSQL database of dsn. It returns a DSN whose search_path
// selects the schema, and a function that drops the schema with everything in it.
func newScratchSchema(ctx context.Context, dsn, prefix string) (string, func(context.Context) error, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", nil, errors.New("bench: the PostgreSQL DSN is not a URL")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, fmt.Errorf("bench: %w", err)
	}
	schema := prefix + benchHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("bench: create schema: %w", err)
	}
	drop := func(ctx context.Context) error {
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("bench: drop schema %s: %w", schema, err)
		}
		return nil
	}
	q := u.Query()
	// pgx sends unknown DSN parameters as run-time settings of each connection.
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// checkpointCounter reads how many checkpoints a PostgreSQL server has
// begun, on a connection of its own: a checkpoint makes the page writes
// after it larger (full-page images), so bench notes which measurements
// shared the machine with one.
type checkpointCounter struct {
	conn  *sql.DB
	query string
}

// openCheckpointCounter connects to the PostgreSQL server of dsn.
func openCheckpointCounter(ctx context.Context, dsn string) (*checkpointCounter, error) {
	conn, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	conn.SetMaxOpenConns(1)
	var version int
	if err := conn.QueryRowContext(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		conn.Close()
		return nil, fmt.Errorf("bench: connect: %w", err)
	}
	// PostgreSQL 17 moved the checkpointer's counters to a view of their own.
	query := "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
	if version >= 170000 {
		query = "SELECT num_timed + num_requested FROM pg_stat_checkpointer"
	}
	return &checkpointCounter{conn: conn, query: query}, nil
}

// Count returns the checkpoints begun since the server's statistics were reset.
func (c *checkpointCounter) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := c.conn.QueryRowContext(ctx, c.query).Scan(&n); err != nil {
		return 0, fmt.Errorf("bench: count checkpoints: %w", err)
	}
	return n, nil
}

// Close releases the connection.
func (c *checkpointCounter) Close() error { return c.conn.Close() }
