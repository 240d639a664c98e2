package service

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/convohq/convo"
)

// audit records that c did action to a resource, in the transaction of the
// change itself: no change without its entry, no entry without its change.
func (s *Service) audit(ctx context.Context, tx convo.Tx, c *convo.Caller, action, resourceType, resourceID string, changes map[string]convo.AuditChange) error {
	return tx.CreateAuditLog(ctx, &convo.AuditLog{
		ID: convo.NewID(), CustomerID: c.CustomerID, Actor: actorOf(c), Action: action,
		ResourceType: resourceType, ResourceID: resourceID, Changes: changes, Address: c.Address, TMCreate: s.now(),
	})
}

// actorOf names who acts as c.
func actorOf(c *convo.Caller) convo.AuditActor {
	if c.AccessKeyID != "" {
		return convo.AuditActor{Type: convo.ActorAccessKey, ID: c.AccessKeyID}
	}
	return convo.AuditActor{Type: convo.ActorAgent, ID: c.AgentID}
}

// agentCaller is the caller an agent's own login and logout are made by.
func agentCaller(a *convo.Agent, address string) *convo.Caller {
	return &convo.Caller{CustomerID: a.CustomerID, AgentID: a.ID, Permission: a.Permission, Address: address}
}

// changes collects the fields a change touched with their old and new values.
type changes map[string]convo.AuditChange

// add records field when its value changed.
func (ch changes) add(field string, old, new any) {
	if old != new {
		ch[field] = convo.AuditChange{Old: old, New: new}
	}
}

// secret records that a secret changed, without either value.
func (ch changes) secret(field string, old, new string) {
	if old != new {
		ch[field] = convo.AuditChange{Old: convo.Redacted, New: convo.Redacted}
	}
}

// AuditLogFilter holds the filters of GET /audit_logs as given.
type AuditLogFilter struct {
	ActorID, ResourceType, ResourceID, Action string
}

var (
	auditResourceTypes = []string{convo.ResourceAgent, convo.ResourceAccessKey, convo.ResourceAccount, convo.ResourceConversation,
		convo.ResourceCustomer, convo.ResourceFlow, convo.ResourceActiveflow, convo.ResourceTag, convo.ResourceCannedResponse, convo.ResourceLabel}
	auditActions = []string{convo.AuditLogin, convo.AuditLoginFailed, convo.AuditLogout, convo.AuditCreated, convo.AuditDeleted,
		convo.AuditAssigned, convo.AuditUnassigned, convo.AuditPermissionChanged, convo.AuditPasswordChanged,
		convo.AuditStatusChanged, convo.AuditWebhookChanged, convo.AuditCredentialsChanged}
)

// ListAuditLogs lists the audit entries of the caller's customer, newest
// first (admin/manager).
func (s *Service) ListAuditLogs(ctx context.Context, c *convo.Caller, f AuditLogFilter, pr convo.PageRequest) (convo.List[*convo.AuditLog], error) {
	p, allowed := auditListParams(c, f)
	return listPage(ctx, s, pr, allowed, func(tx convo.Tx, page convo.Page) ([]*convo.AuditLog, error) {
		p.Page = page
		return tx.ListAuditLogs(ctx, p)
	}, func(a *convo.AuditLog) convo.Cursor { return cursorOf(a.TMCreate, a.ID) })
}

func auditListParams(c *convo.Caller, f AuditLogFilter) (convo.AuditLogListParams, error) {
	p := convo.AuditLogListParams{CustomerID: c.CustomerID, ResourceType: strings.TrimSpace(f.ResourceType), Action: strings.TrimSpace(f.Action)}
	if err := requireManager(c); err != nil {
		return p, err
	}
	var err error
	for _, id := range []struct {
		name, in string
		out      *string
	}{{"actor_id", f.ActorID, &p.ActorID}, {"resource_id", f.ResourceID, &p.ResourceID}} {
		if convo.IsNilID(strings.TrimSpace(id.in)) {
			continue
		}
		if *id.out, err = convo.ParseID(strings.TrimSpace(id.in)); err != nil {
			return p, convo.Invalid(convo.ReasonInvalidID, "%s must be a UUID", id.name)
		}
	}
	if p.ResourceType != "" && !slices.Contains(auditResourceTypes, p.ResourceType) {
		return p, convo.Invalid("INVALID_RESOURCE_TYPE", "resource_type must be one of %s", strings.Join(auditResourceTypes, ", "))
	}
	if p.Action != "" && !slices.Contains(auditActions, p.Action) {
		return p, convo.Invalid("INVALID_ACTION", "action must be one of %s", strings.Join(auditActions, ", "))
	}
	return p, nil
}

// auditPruneBatch is how many audit entries one transaction deletes.
const auditPruneBatch = 2000

// pruneAudit deletes a batch of audit entries older than the retention and
// the login throttles that have expired; it reports whether more entries wait.
func (s *Service) pruneAudit(ctx context.Context) (bool, error) {
	var n int
	now := s.clock.Now()
	err := s.store.Update(ctx, func(tx convo.Tx) (err error) {
		if n, err = tx.PruneAuditLogs(ctx, convo.NewTime(now.Add(-s.config.AuditRetention)), auditPruneBatch); err != nil {
			return err
		}
		_, err = tx.PruneLoginThrottles(ctx, convo.NewTime(now.Add(-loginFailureWindow-time.Minute)))
		return err
	})
	if n > 0 {
		s.logger.Info("pruned audit entries", "count", n)
	}
	return n == auditPruneBatch, err
}
