package sqlstore

import (
	"context"

	"github.com/convohq/convo"
)

var auditLogs = newTable(
	kind{what: "audit entry", notFound: convo.ReasonAuditLogNotFound, conflict: convo.ReasonAuditLogExists, conflictDetail: "the audit entry exists"},
	"audit_logs", "id, customer_id, tm_create",
	"actor_type, actor_id, action, resource_type, resource_id, changes, address", "",
	func(a *convo.AuditLog) []any {
		return []any{&a.ID, &a.CustomerID, micros{&a.TMCreate},
			&a.Actor.Type, &a.Actor.ID, &a.Action, &a.ResourceType, &a.ResourceID, jsonText{&a.Changes}, &a.Address}
	}).listedBy(
	allBy("audit_logs_by_resource", "customer_id", "resource_id"),
	allBy("audit_logs_by_actor", "customer_id", "actor_id"),
	allBy("audit_logs_by_action", "customer_id", "action"),
	allBy("audit_logs_by_resource_type", "customer_id", "resource_type"),
	allBy("audit_logs_by_customer", "customer_id"),
)

func (t *tx) CreateAuditLog(ctx context.Context, a *convo.AuditLog) error {
	if a.Changes == nil {
		// Stored as {} so that it reads back as an empty object.
		a.Changes = map[string]convo.AuditChange{}
	}
	return auditLogs.insertNew(ctx, t, []*convo.AuditLog{a})
}

func (t *tx) ListAuditLogs(ctx context.Context, p convo.AuditLogListParams) ([]*convo.AuditLog, error) {
	var f filter
	f.equalID("customer_id", p.CustomerID)
	f.equal("actor_id", p.ActorID)
	f.equal("resource_type", p.ResourceType)
	f.equal("resource_id", p.ResourceID)
	f.equal("action", p.Action)
	return auditLogs.list(ctx, t, f, p.Page)
}

func (t *tx) PruneAuditLogs(ctx context.Context, before convo.Time, limit int) (int, error) {
	res, err := t.q.ExecContext(ctx, t.sql("DELETE FROM audit_logs WHERE id IN (SELECT id FROM audit_logs WHERE tm_create < ? ORDER BY tm_create LIMIT ?)"),
		before.Micros(), max(limit, 1))
	if err != nil {
		return 0, interpretError(err, auditLogs.kind)
	}
	n, err := res.RowsAffected()
	return int(n), interpretError(err, auditLogs.kind)
}
