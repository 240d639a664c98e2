package sqlstore

import (
	"context"

	"github.com/convohq/convo"
)

var accessKeys = newTable(
	kind{what: "access key", notFound: convo.ReasonAccessKeyNotFound, conflict: convo.ReasonAccessKeyExists, conflictDetail: "the access key exists"},
	"access_keys", "id, customer_id, tm_create",
	"name, detail, token_prefix, token_hash, tm_expire, tm_update, tm_delete", "",
	func(k *convo.AccessKey) []any {
		return []any{&k.ID, &k.CustomerID, micros{&k.TMCreate},
			&k.Name, &k.Detail, &k.TokenPrefix, &k.TokenHash, micros{&k.TMExpire}, micros{&k.TMUpdate}, micros{&k.TMDelete}}
	}).listedBy(
	allBy("access_keys_by_customer", "customer_id"),
)

func (t *tx) CreateAccessKey(ctx context.Context, k *convo.AccessKey) error {
	return accessKeys.insert(ctx, t, k)
}

func (t *tx) GetAccessKey(ctx context.Context, id string) (*convo.AccessKey, error) {
	return accessKeys.getByID(ctx, t, id)
}

func (t *tx) GetAccessKeyByHash(ctx context.Context, hash string) (*convo.AccessKey, error) {
	return accessKeys.get(ctx, t, "token_hash = ? AND "+live, hash)
}

func (t *tx) ListAccessKeys(ctx context.Context, p convo.AccessKeyListParams) ([]*convo.AccessKey, error) {
	var f filter
	f.equalID("customer_id", p.CustomerID)
	f.deleted(false)
	return accessKeys.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateAccessKey(ctx context.Context, k *convo.AccessKey) error {
	return accessKeys.update(ctx, t, k)
}
