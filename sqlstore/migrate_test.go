package sqlstore

import (
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// TestMigrationsRoundTrip takes every migration down and up again on each
// backend, so that a release can be rolled back, and checks that the store
// works on the schema that results.
func TestMigrationsRoundTrip(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ctx := t.Context()
		db, err := Open(ctx, b.DSN, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		provider, err := migrationProvider(ctx, db.writer, db.dialect)
		if err != nil {
			t.Fatal(err)
		}
		all := len(provider.ListSources())
		down, err := provider.DownTo(ctx, 0)
		if err != nil {
			t.Fatalf("down: %v", err)
		}
		up, err := provider.Up(ctx)
		if err != nil {
			t.Fatalf("up again: %v", err)
		}
		if len(down) != all || len(up) != all {
			t.Fatalf("%d migrations: %d went down, %d came up again", all, len(down), len(up))
		}
		err = db.Update(ctx, func(tx convo.Tx) error {
			if _, err := tx.InitSetting(ctx, "k", "v"); err != nil {
				return err
			}
			if _, err := tx.SequenceEvents(ctx, 10); err != nil {
				return err
			}
			pos, err := tx.LastEventPos(ctx)
			if err == nil && pos != 0 {
				t.Errorf("LastEventPos on an empty outbox = %d, want 0", pos)
			}
			return err
		})
		if err != nil {
			t.Fatalf("store on the migrated schema: %v", err)
		}
	})
}
