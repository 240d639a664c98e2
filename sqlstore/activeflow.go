package sqlstore

import (
	"context"

	"github.com/convohq/convo"
)

var activeflows = newTable(
	kind{what: "activeflow", notFound: convo.ReasonActiveflowNotFound, conflict: convo.ReasonActiveflowExists, conflictDetail: "the activeflow exists"},
	"activeflows", "id, customer_id, flow_id, reference_type, reference_id, tm_create, "+
		"reference_activeflow_id, on_complete_flow_id, webhook_uri, webhook_method, chain_length",
	"status, current_action, executed_actions, execute_count, actions, variables, loop_counts, forward_action_id, tm_update, tm_delete", "",
	func(a *convo.Activeflow) []any {
		return []any{&a.ID, &a.CustomerID, &a.FlowID, &a.ReferenceType, &a.ReferenceID, micros{&a.TMCreate},
			&a.ReferenceActiveflowID, &a.OnCompleteFlowID, &a.WebhookURI, &a.WebhookMethod, &a.ChainLength,
			&a.Status, jsonText{&a.CurrentAction}, jsonText{&a.ExecutedActions}, &a.ExecuteCount, jsonText{&a.Actions},
			jsonText{&a.Variables}, jsonText{&a.LoopCounts}, &a.ForwardActionID, micros{&a.TMUpdate}, micros{&a.TMDelete}}
	}).listedBy(
	allBy("activeflows_by_reference", "reference_id"),
	allBy("activeflows_by_flow", "flow_id"),
	allBy("activeflows_by_customer", "customer_id"),
)

func (t *tx) CreateActiveflow(ctx context.Context, a *convo.Activeflow) error {
	return activeflows.insert(ctx, t, a)
}

func (t *tx) GetActiveflow(ctx context.Context, id string) (*convo.Activeflow, error) {
	return activeflows.getByID(ctx, t, id)
}

func (t *tx) ListActiveflows(ctx context.Context, p convo.ActiveflowListParams) ([]*convo.Activeflow, error) {
	var f filter
	f.equalID("customer_id", p.CustomerID)
	f.equalID("flow_id", p.FlowID)
	f.equal("reference_id", p.ReferenceID)
	f.deleted(false)
	return activeflows.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateActiveflow(ctx context.Context, a *convo.Activeflow) error {
	return activeflows.update(ctx, t, a)
}
