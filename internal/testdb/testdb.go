// Package testdb gives tests fresh, empty databases: always a SQLite file,
// and a PostgreSQL schema when CONVO_TEST_POSTGRES_URL names a server; and
// the count of write system calls that tests of the SQLite writer compare.
package testdb

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// PostgresEnv names the environment variable holding the URL of a
// PostgreSQL database the tests may create schemas in, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const PostgresEnv = "CONVO_TEST_POSTGRES_URL"

// Backend is a database for one test: its name ("sqlite" or "postgres")
// and the DSN to pass to sqlstore.Open.
type Backend struct{ Name, DSN string }

// Backends returns a fresh SQLite database and, when PostgresEnv is set, a
// fresh PostgreSQL schema; both are removed when t ends.
func Backends(t testing.TB) []Backend {
	backends := []Backend{SQLite(t)}
	if os.Getenv(PostgresEnv) != "" {
		backends = append(backends, Postgres(t))
	}
	return backends
}

// ForEach runs fn as a subtest, named after the backend, per backend of Backends.
func ForEach(t *testing.T, fn func(t *testing.T, b Backend)) {
	names := []string{"sqlite"}
	if os.Getenv(PostgresEnv) != "" {
		names = append(names, "postgres")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			b := SQLite(t)
			if name == "postgres" {
				b = Postgres(t)
			}
			fn(t, b)
		})
	}
}

// SQLite returns a database file in t's temporary directory.
func SQLite(t testing.TB) Backend {
	return Backend{Name: "sqlite", DSN: "sqlite:" + filepath.Join(t.TempDir(), "convo.db")}
}

// Postgres creates a schema with a unique name in the database of
// PostgresEnv and returns a DSN whose search_path selects it; the schema is
// dropped when t ends. It fails t when the server cannot be reached, so a
// configured PostgreSQL is never skipped silently.
func Postgres(t testing.TB) Backend {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Fatalf("testdb: %s is not set", PostgresEnv)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testdb: %s: %v", PostgresEnv, err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("testdb: %s: %v", PostgresEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	schema := "t_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("testdb: PostgreSQL at %s is not usable: %v", u.Redacted(), err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("testdb: drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	// pgx sends unknown DSN parameters as run-time settings of each connection.
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return Backend{Name: "postgres", DSN: u.String()}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// WriteCalls returns the write system calls this process has made, from
// /proc/self/io; the test skips where there is none.
func WriteCalls(t testing.TB) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/io")
	if err != nil {
		t.Skipf("no write counts on this system: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "syscw: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no write counts on this system")
	return 0
}
