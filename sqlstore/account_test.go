package sqlstore_test

import (
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

func testAccounts(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	custA, custB := convo.NewID(), convo.NewID()
	a1, a2, gone, other := newAccount(custA, at(0)), newAccount(custA, at(time.Second)), newAccount(custA, at(2*time.Second)), newAccount(custB, at(3*time.Second))
	a2.ProviderData = convo.ProviderData{}
	gone.TMDelete = at(time.Hour)
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateAccount, a1, a2, gone, other) })

	for _, want := range []*convo.Account{a1, a2, gone} {
		same(t, read(t, db, func(tx convo.Tx) (*convo.Account, error) { return tx.GetAccount(ctx, want.ID) }), want)
	}
	a1.Name, a1.Secret, a1.ProviderData.AppSecret, a1.ProviderData.Number, a1.TMUpdate = "renamed", "s2", "app2", "+15550002", at(time.Minute)
	update(t, db, func(tx convo.Tx) error { return tx.UpdateAccount(ctx, a1) })
	same(t, read(t, db, func(tx convo.Tx) (*convo.Account, error) { return tx.GetAccount(ctx, a1.ID) }), a1)
	err := db.Update(ctx, func(tx convo.Tx) error { return tx.UpdateAccount(ctx, newAccount(custA, base)) })
	wantErr(t, err, convo.ENotFound, convo.ReasonAccountNotFound)
	_, err = readErr(db, func(tx convo.Tx) (*convo.Account, error) { return tx.GetAccount(ctx, convo.NewID()) })
	wantErr(t, err, convo.ENotFound, convo.ReasonAccountNotFound)

	accountIDs := func(p convo.AccountListParams) []string {
		p.Limit = 10
		list := read(t, db, func(tx convo.Tx) ([]*convo.Account, error) { return tx.ListAccounts(ctx, p) })
		return ids(list, func(a *convo.Account) string { return a.ID })
	}
	wantIDs(t, accountIDs(convo.AccountListParams{CustomerID: custA}), a2.ID, a1.ID)
	wantIDs(t, accountIDs(convo.AccountListParams{CustomerID: custA, Deleted: true}), gone.ID)
	wantIDs(t, accountIDs(convo.AccountListParams{CustomerID: custB}), other.ID)
}
