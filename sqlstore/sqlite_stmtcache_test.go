package sqlstore

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestStatementCache: statements reused from the cache give the same results
// as fresh ones, also when the same SQL runs again while its rows are still
// being read, and when more distinct statements run than the cache holds.
func TestStatementCache(t *testing.T) {
	db, err := openSQLiteHandle("file:" + filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // every statement on one connection, hence one cache
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := db.ExecContext(ctx, "INSERT INTO t (x) VALUES (?)", i); err != nil {
			t.Fatal(err)
		}
	}
	const q = "SELECT x FROM t WHERE x >= ? ORDER BY x"
	sqlTx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlTx.Rollback()
	outer, err := sqlTx.QueryContext(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for outer.Next() {
		var x int
		if err := outer.Scan(&x); err != nil {
			t.Fatal(err)
		}
		// The same SQL while the outer rows are open.
		var inner []int
		rows, err := sqlTx.QueryContext(ctx, q, x)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var y int
			rows.Scan(&y)
			inner = append(inner, y)
		}
		rows.Close()
		pairs = append(pairs, fmt.Sprint(x, inner))
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	if got, want := fmt.Sprint(pairs), "[1 [1 2 3] 2 [2 3] 3 [3]]"; got != want {
		t.Fatalf("nested reads of one statement: %s, want %s", got, want)
	}
	sqlTx.Rollback()

	for i := range maxCachedStatements + 10 {
		var n int
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) + %d FROM t WHERE x > ?", i), 1).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != i+2 {
			t.Fatalf("statement %d answered %d, want %d", i, n, i+2)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, q, 2).Scan(&n); err != nil || n != 2 {
		t.Fatalf("after evictions: %d, %v; want 2", n, err)
	}
}
