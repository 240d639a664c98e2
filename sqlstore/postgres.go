package sqlstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

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
