package sqlstore

import (
	"context"

	"github.com/convohq/convo"
)

var customers = newTable(
	kind{what: "customer", notFound: convo.ReasonCustomerNotFound, conflict: convo.ReasonCustomerExists, conflictDetail: "the customer exists"},
	"customers", "id, tm_create",
	"name, detail, email, phone_number, address, webhook_method, webhook_uri, webhook_secret, agents_take_unassigned, tm_update, tm_delete", "",
	func(c *convo.Customer) []any {
		return []any{&c.ID, micros{&c.TMCreate},
			&c.Name, &c.Detail, &c.Email, &c.PhoneNumber, &c.Address, &c.WebhookMethod, &c.WebhookURI, &c.WebhookSecret, &c.AgentsTakeUnassigned, micros{&c.TMUpdate}, micros{&c.TMDelete}}
	}).listedBy(
	allBy("customers_by_time"),
)

func (t *tx) CreateCustomer(ctx context.Context, c *convo.Customer) error {
	return customers.insert(ctx, t, c)
}

func (t *tx) GetCustomer(ctx context.Context, id string) (*convo.Customer, error) {
	return customers.getByID(ctx, t, id)
}

func (t *tx) ListCustomers(ctx context.Context, p convo.CustomerListParams) ([]*convo.Customer, error) {
	var f filter
	f.deleted(false)
	return customers.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateCustomer(ctx context.Context, c *convo.Customer) error {
	return customers.update(ctx, t, c)
}

func (t *tx) CountCustomers(ctx context.Context) (int, error) {
	var n int
	err := t.q.QueryRowContext(ctx, "SELECT count(*) FROM customers").Scan(&n)
	return n, interpretError(err, customers.kind)
}
