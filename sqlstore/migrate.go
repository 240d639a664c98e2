package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var migrations embed.FS

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
