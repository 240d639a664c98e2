package sqlstore

import (
	"context"

	"github.com/convohq/convo"
)

var accounts = newTable(
	kind{what: "account", notFound: convo.ReasonAccountNotFound, conflict: convo.ReasonAccountExists, conflictDetail: "the account exists"},
	"accounts", "id, customer_id, tm_create",
	"type, name, detail, secret, token, provider_data, app_secret, message_flow_id, resolved_inbound, auto_resolve_after, tm_update, tm_delete", "",
	func(a *convo.Account) []any {
		return []any{&a.ID, &a.CustomerID, micros{&a.TMCreate},
			&a.Type, &a.Name, &a.Detail, &a.Secret, &a.Token, jsonText{&a.ProviderData}, &a.ProviderData.AppSecret, &a.MessageFlowID,
			&a.ResolvedInbound, seconds{&a.AutoResolveAfter}, micros{&a.TMUpdate}, micros{&a.TMDelete}}
	}).listedBy(
	deletedBy("accounts_deleted_by_customer", "customer_id"),
	allBy("accounts_by_customer", "customer_id"),
)

func (t *tx) CreateAccount(ctx context.Context, a *convo.Account) error {
	return accounts.insert(ctx, t, a)
}

func (t *tx) GetAccount(ctx context.Context, id string) (*convo.Account, error) {
	return accounts.getByID(ctx, t, id)
}

func (t *tx) ListAccounts(ctx context.Context, p convo.AccountListParams) ([]*convo.Account, error) {
	var f filter
	f.equalID("customer_id", p.CustomerID)
	f.deleted(p.Deleted)
	return accounts.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateAccount(ctx context.Context, a *convo.Account) error {
	return accounts.update(ctx, t, a)
}

func (t *tx) ListAutoResolveAccounts(ctx context.Context) ([]*convo.Account, error) {
	// Accounts are a few a customer: read whole.
	return accounts.query(ctx, t, accounts.selectSQL+" WHERE auto_resolve_after > 0 AND "+live)
}
