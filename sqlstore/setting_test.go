package sqlstore_test

import (
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

func testSettings(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	key := "signing-key-" + convo.NewID()
	_, err := readErr(db, func(tx convo.Tx) (string, error) { return tx.GetSetting(ctx, key) })
	wantErr(t, err, convo.ENotFound, convo.ReasonSettingNotFound)
	for _, value := range []string{"first", "second"} {
		var got string
		update(t, db, func(tx convo.Tx) (err error) { got, err = tx.InitSetting(ctx, key, value); return err })
		if got != "first" {
			t.Errorf("InitSetting(%q) = %q, want the first value", value, got)
		}
	}
	if got := read(t, db, func(tx convo.Tx) (string, error) { return tx.GetSetting(ctx, key) }); got != "first" {
		t.Errorf("GetSetting = %q", got)
	}
}
