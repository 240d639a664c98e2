package sqlstore_test

import (
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

func testCustomers(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	before := read(t, db, func(tx convo.Tx) (int, error) { return tx.CountCustomers(ctx) })
	// Far-future times make these the newest customers of the shared database.
	future := convo.NewTime(time.Date(2090, 1, 1, 0, 0, 0, 1, time.UTC).Truncate(time.Microsecond))
	c1, c2, gone := newCustomer(future), newCustomer(convo.NewTime(future.Add(time.Second))), newCustomer(convo.NewTime(future.Add(2*time.Second)))
	gone.TMDelete = at(time.Hour)
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateCustomer, c1, c2, gone) })

	if n := read(t, db, func(tx convo.Tx) (int, error) { return tx.CountCustomers(ctx) }); n != before+3 {
		t.Errorf("CountCustomers = %d, want %d (deleted ones count)", n, before+3)
	}
	for _, want := range []*convo.Customer{c1, c2, gone} {
		same(t, read(t, db, func(tx convo.Tx) (*convo.Customer, error) { return tx.GetCustomer(ctx, want.ID) }), want)
	}
	list := read(t, db, func(tx convo.Tx) ([]*convo.Customer, error) {
		return tx.ListCustomers(ctx, convo.CustomerListParams{Page: convo.Page{Limit: 2}})
	})
	wantIDs(t, ids(list, func(c *convo.Customer) string { return c.ID }), c2.ID, c1.ID)

	c1.Name, c1.Detail, c1.WebhookSecret, c1.TMUpdate = "renamed", "new detail", "new secret", at(time.Minute)
	update(t, db, func(tx convo.Tx) error { return tx.UpdateCustomer(ctx, c1) })
	same(t, read(t, db, func(tx convo.Tx) (*convo.Customer, error) { return tx.GetCustomer(ctx, c1.ID) }), c1)

	err := db.Update(ctx, func(tx convo.Tx) error { return tx.UpdateCustomer(ctx, newCustomer(base)) })
	wantErr(t, err, convo.ENotFound, convo.ReasonCustomerNotFound)
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.CreateCustomer(ctx, c2) })
	wantErr(t, err, convo.EConflict, convo.ReasonCustomerExists)
	for _, id := range []string{convo.NewID(), "not-a-uuid", ""} {
		_, err := readErr(db, func(tx convo.Tx) (*convo.Customer, error) { return tx.GetCustomer(ctx, id) })
		wantErr(t, err, convo.ENotFound, convo.ReasonCustomerNotFound)
	}
}
