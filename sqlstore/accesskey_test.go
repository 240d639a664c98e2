package sqlstore_test

import (
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

func testAccessKeys(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust := convo.NewID()
	k1, k2, gone := newAccessKey(cust, at(0)), newAccessKey(cust, at(time.Second)), newAccessKey(cust, at(2*time.Second))
	gone.TMDelete = at(time.Hour)
	k1.Token = "shown once"
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateAccessKey, k1, k2, gone) })
	k1.Token = ""

	same(t, read(t, db, func(tx convo.Tx) (*convo.AccessKey, error) { return tx.GetAccessKeyByHash(ctx, k1.TokenHash) }), k1)
	same(t, read(t, db, func(tx convo.Tx) (*convo.AccessKey, error) { return tx.GetAccessKey(ctx, gone.ID) }), gone)
	_, err := readErr(db, func(tx convo.Tx) (*convo.AccessKey, error) { return tx.GetAccessKeyByHash(ctx, gone.TokenHash) })
	wantErr(t, err, convo.ENotFound, convo.ReasonAccessKeyNotFound)
	_, err = readErr(db, func(tx convo.Tx) (*convo.AccessKey, error) { return tx.GetAccessKey(ctx, convo.NewID()) })
	wantErr(t, err, convo.ENotFound, convo.ReasonAccessKeyNotFound)

	k2.Name, k2.TokenHash, k2.TMExpire, k2.TMUpdate = "rotated", "hash-"+convo.NewID(), at(48*time.Hour), at(time.Minute)
	update(t, db, func(tx convo.Tx) error { return tx.UpdateAccessKey(ctx, k2) })
	same(t, read(t, db, func(tx convo.Tx) (*convo.AccessKey, error) { return tx.GetAccessKeyByHash(ctx, k2.TokenHash) }), k2)
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.UpdateAccessKey(ctx, newAccessKey(cust, base)) })
	wantErr(t, err, convo.ENotFound, convo.ReasonAccessKeyNotFound)

	list := read(t, db, func(tx convo.Tx) ([]*convo.AccessKey, error) {
		return tx.ListAccessKeys(ctx, convo.AccessKeyListParams{CustomerID: cust, Page: convo.Page{Limit: 10}})
	})
	wantIDs(t, ids(list, func(k *convo.AccessKey) string { return k.ID }), k2.ID, k1.ID)
	list = read(t, db, func(tx convo.Tx) ([]*convo.AccessKey, error) {
		return tx.ListAccessKeys(ctx, convo.AccessKeyListParams{CustomerID: convo.NewID(), Page: convo.Page{Limit: 10}})
	})
	wantIDs(t, ids(list, func(k *convo.AccessKey) string { return k.ID }))
}
