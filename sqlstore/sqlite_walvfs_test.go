package sqlstore

import (
	"path/filepath"
	"testing"

	"github.com/convohq/convo/internal/testdb"
)

// openSQLiteStore opens a store on a new file in dir.
func openSQLiteStore(t *testing.T, dir, synchronous string) (*DB, string) {
	t.Helper()
	path := filepath.Join(dir, "convo.db")
	db, err := Open(t.Context(), "sqlite:"+path, Options{SQLiteSynchronous: synchronous})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// insertPages inserts rows rows of a page each in one transaction.
const insertPages = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
	INSERT INTO pages (body) SELECT randomblob(3000) FROM n`

// TestSQLiteWriterGathersWALFrames commits 200 pages: the writer of a
// synchronous=FULL store hands them to the system in a few writes, where
// SQLite's own VFS makes two for each (as a NORMAL store still does).
func TestSQLiteWriterGathersWALFrames(t *testing.T) {
	for _, c := range []struct {
		synchronous string
		atLeast     int64
		atMost      int64
	}{
		{"FULL", 1, 12},
		{"NORMAL", 400, 1 << 30},
	} {
		t.Run(c.synchronous, func(t *testing.T) {
			db, _ := openSQLiteStore(t, t.TempDir(), c.synchronous)
			if _, err := db.writer.Exec("CREATE TABLE pages (body BLOB NOT NULL)"); err != nil {
				t.Fatal(err)
			}
			before := testdb.WriteCalls(t)
			if _, err := db.writer.Exec(insertPages, 200); err != nil {
				t.Fatal(err)
			}
			writes := testdb.WriteCalls(t) - before
			if writes < c.atLeast || writes > c.atMost {
				t.Errorf("a commit of 200 pages made %d write calls, want %d to %d", writes, c.atLeast, c.atMost)
			}
		})
	}
}
