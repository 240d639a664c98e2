package sqlstore

import (
	"context"

	"github.com/convohq/convo"
)

var flows = newTable(
	kind{what: "flow", notFound: convo.ReasonFlowNotFound, conflict: convo.ReasonFlowExists, conflictDetail: "the flow exists"},
	"flows", "id, customer_id, tm_create",
	"type, name, detail, actions, on_complete_flow_id, tm_update, tm_delete", "",
	func(f *convo.Flow) []any {
		return []any{&f.ID, &f.CustomerID, micros{&f.TMCreate},
			&f.Type, &f.Name, &f.Detail, jsonText{&f.Actions}, &f.OnCompleteFlowID, micros{&f.TMUpdate}, micros{&f.TMDelete}}
	}).listedBy(
	allBy("flows_by_customer", "customer_id"),
)

func (t *tx) CreateFlow(ctx context.Context, f *convo.Flow) error { return flows.insert(ctx, t, f) }

func (t *tx) GetFlow(ctx context.Context, id string) (*convo.Flow, error) {
	return flows.getByID(ctx, t, id)
}

func (t *tx) ListFlows(ctx context.Context, p convo.FlowListParams) ([]*convo.Flow, error) {
	var f filter
	f.equalID("customer_id", p.CustomerID)
	f.deleted(false)
	return flows.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateFlow(ctx context.Context, f *convo.Flow) error { return flows.update(ctx, t, f) }

func (t *tx) CountFlowAccounts(ctx context.Context, flowID string) (int, error) {
	var n int
	err := t.q.QueryRowContext(ctx, t.sql("SELECT count(*) FROM accounts WHERE message_flow_id = ? AND "+live), flowID).Scan(&n)
	return n, interpretError(err, accounts.kind)
}
