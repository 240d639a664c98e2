package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"

	"github.com/convohq/convo/sqlstore/internal/walvfs"
)

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
		if err := walvfs.Register(); err != nil {
			return nil, err
		}
		writerDSN += "&vfs=" + walvfs.Name
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
