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

var loginThrottles = kind{what: "login throttle", notFound: convo.ReasonLoginThrottleNotFound, conflict: convo.ReasonLoginThrottleExists, conflictDetail: "the throttle exists"}

const throttleColumns = "key, failures, last_failure, blocked_until"

func scanThrottle(scan func(...any) error) (*convo.LoginThrottle, error) {
	l := &convo.LoginThrottle{}
	var blocked int64
	if err := scan(&l.Key, &l.Failures, micros{&l.LastFailure}, &blocked); err != nil {
		return nil, interpretError(err, loginThrottles)
	}
	if blocked > 0 {
		l.BlockedUntil = convo.TimeFromMicros(blocked)
	}
	return l, nil
}

func (t *tx) GetLoginThrottles(ctx context.Context, keys []string) ([]*convo.LoginThrottle, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := t.q.QueryContext(ctx, t.sql("SELECT "+throttleColumns+" FROM login_throttles WHERE key IN ("+placeholders(len(keys))+")"), args...)
	if err != nil {
		return nil, interpretError(err, loginThrottles)
	}
	defer rows.Close()
	var out []*convo.LoginThrottle
	for rows.Next() {
		l, err := scanThrottle(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, interpretError(rows.Err(), loginThrottles)
}

func (t *tx) CountLoginFailure(ctx context.Context, key string, at, since convo.Time) (*convo.LoginThrottle, error) {
	// One statement, so that concurrent failures of one key each count.
	row := t.q.QueryRowContext(ctx, t.sql("INSERT INTO login_throttles ("+throttleColumns+") VALUES (?, 1, ?, 0) "+
		"ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN login_throttles.last_failure < ? AND login_throttles.blocked_until < ? "+
		"THEN 1 ELSE login_throttles.failures + 1 END, last_failure = excluded.last_failure RETURNING "+throttleColumns),
		key, at.Micros(), since.Micros(), since.Micros())
	return scanThrottle(row.Scan)
}

func (t *tx) BlockLogins(ctx context.Context, key string, until convo.Time) error {
	return t.execLater(ctx, loginThrottles, "UPDATE login_throttles SET blocked_until = ? WHERE key = ?", until.Micros(), key)
}

func (t *tx) ClearLoginThrottle(ctx context.Context, key string) error {
	return t.execLater(ctx, loginThrottles, "DELETE FROM login_throttles WHERE key = ?", key)
}

func (t *tx) PruneLoginThrottles(ctx context.Context, before convo.Time) (int, error) {
	res, err := t.q.ExecContext(ctx, t.sql("DELETE FROM login_throttles WHERE last_failure < ? AND blocked_until < ?"), before.Micros(), before.Micros())
	if err != nil {
		return 0, interpretError(err, loginThrottles)
	}
	n, err := res.RowsAffected()
	return int(n), interpretError(err, loginThrottles)
}
