package walvfs

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/convohq/convo/internal/testdb"
	_ "modernc.org/sqlite"
)

// processCPU returns the CPU time this process has spent, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// openWriterAndReader opens a new database in dir as sqlstore opens a
// SQLite store at synchronous FULL: a writer through this VFS and a
// read-only handle through SQLite's own.
func openWriterAndReader(t *testing.T, dir string) (writer, reader *sql.DB, path string) {
	t.Helper()
	if err := Register(); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "convo.db")
	writer, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=temp_store(MEMORY)&_txlock=immediate&vfs="+Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { writer.Close() })
	writer.SetMaxOpenConns(1)
	reader, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close() })
	return writer, reader, path
}

// insertPages inserts rows rows of a page each in one transaction.
const insertPages = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
	INSERT INTO pages (body) SELECT randomblob(3000) FROM n`

// TestSQLiteGatheredWALKeepsEveryCommit drives the WAL through what makes
// SQLite read it or write it out of order: a transaction larger than the
// page cache, which spills pages before its commit, reads them back and
// rewrites them in place, and a savepoint rolled back after such a spill. Every commit must be seen by a
// reader at once, and a copy of the files taken as a crash would leave them
// must hold every commit.
func TestSQLiteGatheredWALKeepsEveryCommit(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	writer, reader, path := openWriterAndReader(t, dir)
	if _, err := writer.Exec("CREATE TABLE pages (body BLOB NOT NULL); CREATE TABLE counted (n INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}

	// 2,000 pages with a cache of 200 spill; each row is then updated, and a
	// savepoint's rows are rolled back.
	conn, err := writer.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"PRAGMA cache_size = 200", "BEGIN IMMEDIATE"} {
		mustExec(t, conn, stmt)
	}
	mustExec(t, conn, insertPages, 2000)
	// The writer reads back the pages it spilled last.
	var spilled int64
	if err := conn.QueryRowContext(ctx, "SELECT SUM(length(body)) FROM pages").Scan(&spilled); err != nil || spilled != 2000*3000 {
		t.Fatalf("inside the transaction the writer reads %d bytes, %v; want 6000000", spilled, err)
	}
	mustExec(t, conn, "UPDATE pages SET body = randomblob(3000)")
	mustExec(t, conn, "SAVEPOINT extra")
	mustExec(t, conn, insertPages, 1000)
	if st, err := os.Stat(path + "-wal"); err != nil || st.Size() < 1000*4096 {
		t.Fatalf("the transaction did not spill to the WAL before its commit: %v, %v", st, err)
	}
	mustExec(t, conn, "ROLLBACK TO extra")
	mustExec(t, conn, "RELEASE extra")
	mustExec(t, conn, "COMMIT")
	mustExec(t, conn, "PRAGMA cache_size = -2000")
	conn.Close()
	wantPages := pageDigest(t, reader)
	if wantPages.rows != 2000 || wantPages.bytes != 2000*3000 {
		t.Fatalf("after the large transaction a reader sees %d rows of %d bytes, want 2000 of 6000000", wantPages.rows, wantPages.bytes)
	}

	// Small commits, each read back by another connection at once.
	for i := 1; i <= 100; i++ {
		if _, err := writer.Exec("INSERT INTO counted (n) VALUES (?)", i); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := reader.QueryRow("SELECT COUNT(*) FROM counted").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != i {
			t.Fatalf("after commit %d a reader counts %d rows", i, n)
		}
	}

	// The files as a crash would leave them, opened without this VFS.
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	for _, suffix := range []string{"", "-wal"} {
		copyFile(t, path+suffix, crashed+suffix)
	}
	plain, err := sql.Open("sqlite", "file:"+crashed)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var check string
	if err := plain.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check of the copy: %q, %v", check, err)
	}
	if got := pageDigest(t, plain); got != wantPages {
		t.Errorf("the copy holds pages %+v, want %+v", got, wantPages)
	}
	var n, sum int
	if err := plain.QueryRow("SELECT COUNT(*), SUM(n) FROM counted").Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 100 || sum != 100*101/2 {
		t.Errorf("the copy holds %d small commits summing %d, want 100 summing %d", n, sum, 100*101/2)
	}
}

type digest struct {
	rows, bytes int64
	hash        string
}

// pageDigest sums up the pages table as db sees it.
func pageDigest(t *testing.T, db *sql.DB) digest {
	t.Helper()
	var d digest
	err := db.QueryRow("SELECT COUNT(*), COALESCE(SUM(length(body)), 0), COALESCE(hex(MAX(body)), '') || hex(MIN(body)) FROM pages").Scan(&d.rows, &d.bytes, &d.hash)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustExec(t *testing.T, conn *sql.Conn, stmt string, args ...any) {
	t.Helper()
	if _, err := conn.ExecContext(t.Context(), stmt, args...); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkSQLiteCommit commits 30 rows indexed like messages (by a random
// conversation and a random provider id) a transaction, through SQLite's
// unix VFS and through the one that gathers WAL writes. The writes include
// those of SQLite's checkpoints into the database file, which are the same.
func BenchmarkSQLiteCommit(b *testing.B) {
	if err := Register(); err != nil {
		b.Fatal(err)
	}
	for _, vfs := range []string{"unix", Name} {
		b.Run(vfs, func(b *testing.B) {
			db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "bench.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate&vfs="+vfs)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			if _, err := db.Exec(`CREATE TABLE messages (id INTEGER PRIMARY KEY, conversation TEXT NOT NULL, provider_id TEXT NOT NULL, body TEXT NOT NULL);
				CREATE INDEX messages_by_conversation ON messages (conversation, id);
				CREATE UNIQUE INDEX messages_provider_id ON messages (provider_id)`); err != nil {
				b.Fatal(err)
			}
			body := strings.Repeat("x", 400)
			writes, cpu := testdb.WriteCalls(b), processCPU()
			b.ResetTimer()
			for i := range b.N {
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				for r := range 30 {
					n := i*30 + r
					if _, err := tx.Exec("INSERT INTO messages (conversation, provider_id, body) VALUES (?, ?, ?)",
						fmt.Sprintf("c%x", uint32(n*2654435761)%5000), fmt.Sprintf("p%x", uint64(n)*11400714819323198485), body); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(testdb.WriteCalls(b)-writes)/float64(b.N), "writes/op")
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
