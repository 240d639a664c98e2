package main

import (
	"database/sql"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// TestHealthAndReadiness: /healthz and /readyz answer without a credential;
// /readyz says 503 when the database lacks a migration this build needs
// (one undone behind convo's back, say by an older backup restored) and
// ready again once it is applied.
func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ts := startServer(t, b)
		probe := func(path string, code int, want map[string]any) {
			t.Helper()
			r := call(t, "GET", ts.URL()+path, "", nil)
			if r.Status != code || !jsonEqual(r.JSON(t), want) {
				t.Fatalf("GET %s: %d %s, want %d %v", path, r.Status, r.Body, code, want)
			}
			if code == http.StatusServiceUnavailable && r.Header.Get("Retry-After") == "" {
				t.Errorf("GET %s: 503 without Retry-After", path)
			}
		}
		probe("/healthz", http.StatusOK, map[string]any{"status": "ok"})
		probe("/readyz", http.StatusOK, map[string]any{"status": "ready"})

		driver, dsn := "pgx", b.DSN
		if b.Name == "sqlite" {
			// convo's writer may hold the lock a moment.
			driver, dsn = "sqlite", "file:"+strings.TrimPrefix(b.DSN, "sqlite:")+"?_pragma=busy_timeout(10000)"
		}
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var last int64
		if err := db.QueryRow("SELECT MAX(version_id) FROM goose_db_version").Scan(&last); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("DELETE FROM goose_db_version WHERE version_id = " + strconv.FormatInt(last, 10)); err != nil {
			t.Fatal(err)
		}
		probe("/readyz", http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": convo.ReasonMigrationsPending})
		probe("/healthz", http.StatusOK, map[string]any{"status": "ok"})
		if _, err := db.Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (" + strconv.FormatInt(last, 10) + ", true)"); err != nil {
			t.Fatal(err)
		}
		probe("/readyz", http.StatusOK, map[string]any{"status": "ready"})
	})
}
