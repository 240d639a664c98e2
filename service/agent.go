package service

import (
	"context"
	"fmt"
	"slices"

	"github.com/convohq/convo"
)

// AgentInput holds the writable fields of an agent; nil leaves a field unchanged.
type AgentInput struct {
	Username   *string           `json:"username"`
	Password   *string           `json:"password"`
	Name       *string           `json:"name"`
	Detail     *string           `json:"detail"`
	RingMethod *string           `json:"ring_method"`
	Permission *convo.Permission `json:"permission"`
	Status     *string           `json:"status"`
	TagIDs     []string          `json:"tag_ids"`
	Addresses  []convo.Address   `json:"addresses"`
}

// newAgent validates in and builds a new agent of a customer.
func (s *Service) newAgent(customerID string, in AgentInput) (*convo.Agent, error) {
	now := s.now()
	a := &convo.Agent{
		ID: convo.NewID(), CustomerID: customerID, Username: trimmed(in.Username, ""),
		RingMethod: "ringall", Status: convo.AgentOffline, Permission: convo.PermissionCustomerAgent,
		TagIDs: []string{}, Addresses: []convo.Address{},
		TMCreate: now, TMUpdate: now, TMDelete: convo.Never,
	}
	if a.Username == "" {
		return nil, convo.Invalid("INVALID_USERNAME", "username is required")
	}
	if err := convo.CheckLen("username", a.Username, convo.MaxUsername); err != nil {
		return nil, err
	}
	if in.Password == nil {
		return nil, convo.Invalid("INVALID_PASSWORD", "password is required")
	}
	hash, err := s.hashPassword(*in.Password)
	if err != nil {
		return nil, err
	}
	a.PasswordHash = hash
	if in.Permission != nil && *in.Permission != convo.PermissionNone {
		a.Permission = *in.Permission
	}
	if in.Status != nil && *in.Status != "" {
		a.Status = *in.Status
	}
	return a, applyAgentProfile(a, in)
}

// applyAgentProfile writes and checks the descriptive fields of in onto a.
func applyAgentProfile(a *convo.Agent, in AgentInput) error {
	a.Name = trimmed(in.Name, a.Name)
	a.Detail = trimmed(in.Detail, a.Detail)
	a.RingMethod = trimmed(in.RingMethod, a.RingMethod)
	if a.RingMethod == "" {
		// The API knows only ringall and linear; empty means the default.
		a.RingMethod = "ringall"
	}
	if err := checkText("name", a.Name); err != nil {
		return err
	}
	if err := checkText("detail", a.Detail); err != nil {
		return err
	}
	if !slices.Contains([]string{"", "ringall", "linear"}, a.RingMethod) {
		return convo.Invalid("INVALID_RING_METHOD", "ring_method must be ringall or linear")
	}
	if in.TagIDs != nil {
		ids, err := tagIDs(in.TagIDs)
		if err != nil {
			return err
		}
		a.TagIDs = ids
	}
	if in.Addresses != nil {
		addrs, err := endpoints(in.Addresses)
		if err != nil {
			return err
		}
		a.Addresses = addrs
	}
	if !convo.ValidAgentStatus(a.Status) {
		return convo.Invalid("INVALID_STATUS", "status must be available, away, busy or offline")
	}
	return checkGrant(nil, a.Permission)
}

// tagIDs checks the form of an agent's tag ids and returns them canonical,
// each once; whether they name tags is checkTagIDs's to say.
func tagIDs(in []string) ([]string, error) {
	if len(in) > convo.MaxTagIDs {
		return nil, convo.Invalid(convo.ReasonTooLong, "tag_ids holds more than %d ids", convo.MaxTagIDs)
	}
	ids := make([]string, 0, len(in))
	for _, id := range in {
		id, err := convo.ParseID(id)
		if err != nil {
			return nil, convo.Invalid("INVALID_TAG_IDS", "tag_ids must be UUIDs")
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// endpoints checks and normalises the addresses an agent is reached at.
func endpoints(in []convo.Address) ([]convo.Address, error) {
	if len(in) > convo.MaxAddresses {
		return nil, convo.Invalid(convo.ReasonTooLong, "addresses holds more than %d addresses", convo.MaxAddresses)
	}
	out := make([]convo.Address, len(in))
	for i, a := range in {
		var err error
		if out[i], err = convo.CheckEndpoint(fmt.Sprintf("addresses[%d]", i), a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkGrant refuses permission values with unknown bits and, when caller is
// set, grants beyond the caller's own rank: only super-admins grant
// super-admin, only admins grant admin.
func checkGrant(caller *convo.Caller, p convo.Permission) error {
	if !p.Valid() {
		return convo.Invalid("INVALID_PERMISSION", "permission holds unknown bits")
	}
	if caller == nil {
		return nil
	}
	if p&convo.PermissionProjectSuperAdmin != 0 && !caller.IsSuperAdmin() {
		return convo.Forbidden("only a project super-admin grants super-admin")
	}
	if p&convo.PermissionCustomerAdmin != 0 && !caller.IsAdmin() {
		return convo.Forbidden("only an admin grants admin")
	}
	return nil
}

// customerAgent returns a live agent of the caller's customer; another
// customer's agent is answered as missing.
func customerAgent(ctx context.Context, tx convo.Tx, c *convo.Caller, id string) (*convo.Agent, error) {
	a, err := tx.GetAgent(ctx, id)
	if err == nil && (a.CustomerID != c.CustomerID || !a.TMDelete.IsNever()) {
		return nil, convo.NotFound(convo.ReasonAgentNotFound, "agent")
	}
	return a, err
}

// CreateAgent adds an agent to the caller's customer (admin/manager).
func (s *Service) CreateAgent(ctx context.Context, c *convo.Caller, in AgentInput) (*convo.Agent, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	a, err := s.newAgent(c.CustomerID, in)
	if err != nil {
		return nil, err
	}
	if err := checkGrant(c, a.Permission); err != nil {
		return nil, err
	}
	err = s.store.Update(ctx, func(tx convo.Tx) error {
		if err := checkTagIDs(ctx, tx, c.CustomerID, a.TagIDs); err != nil {
			return err
		}
		if err := tx.CreateAgent(ctx, a); err != nil {
			return err
		}
		return s.audit(ctx, tx, c, convo.AuditCreated, convo.ResourceAgent, a.ID, changes{
			"username": {Old: nil, New: a.Username}, "permission": {Old: nil, New: a.Permission}})
	})
	return a, err
}

// GetAgent returns an agent of the caller's customer (admin/manager, or the agent itself).
func (s *Service) GetAgent(ctx context.Context, c *convo.Caller, id string) (*convo.Agent, error) {
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	if id != c.AgentID {
		if err := requireManager(c); err != nil {
			return nil, err
		}
	}
	var a *convo.Agent
	err = s.store.View(ctx, func(tx convo.Tx) (err error) {
		a, err = customerAgent(ctx, tx, c, id)
		return err
	})
	return a, err
}

// ListAgents lists the live agents of the caller's customer (admin/manager).
func (s *Service) ListAgents(ctx context.Context, c *convo.Caller, status string, pr convo.PageRequest) (convo.List[*convo.Agent], error) {
	return s.listAgents(ctx, c, status, pr, requireManager(c))
}

// listAgents lists the live agents of the caller's customer, unless allowed is an error.
func (s *Service) listAgents(ctx context.Context, c *convo.Caller, status string, pr convo.PageRequest, allowed error) (convo.List[*convo.Agent], error) {
	if allowed == nil && status != "" && !convo.ValidAgentStatus(status) {
		allowed = convo.Invalid("INVALID_STATUS", "status must be available, away, busy or offline")
	}
	return listPage(ctx, s, pr, allowed, func(tx convo.Tx, page convo.Page) ([]*convo.Agent, error) {
		return tx.ListAgents(ctx, convo.AgentListParams{CustomerID: c.CustomerID, Status: status, Page: page})
	}, func(a *convo.Agent) convo.Cursor { return cursorOf(a.TMCreate, a.ID) })
}

// changeAgent runs one change of an agent of the caller's customer in a transaction.
func (s *Service) changeAgent(ctx context.Context, c *convo.Caller, id string, change func(tx convo.Tx, a *convo.Agent) error) (*convo.Agent, error) {
	return s.changeTaggedAgent(ctx, c, id, nil, change)
}

// changeTaggedAgent is changeAgent for a change that gives the agent
// tagIDs (nil: leaves them), checked before the agent is read: tags are
// locked before agents (see checkTagIDs).
func (s *Service) changeTaggedAgent(ctx context.Context, c *convo.Caller, id string, tagIDs []string, change func(tx convo.Tx, a *convo.Agent) error) (*convo.Agent, error) {
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var a *convo.Agent
	err = s.store.Update(ctx, func(tx convo.Tx) (err error) {
		if err := checkTagIDs(ctx, tx, c.CustomerID, tagIDs); err != nil {
			return err
		}
		if a, err = customerAgent(ctx, tx, c, id); err != nil {
			return err
		}
		if err := change(tx, a); err != nil {
			return err
		}
		a.TMUpdate = s.now()
		return tx.UpdateAgent(ctx, a)
	})
	return a, err
}

// UpdateAgent changes an agent's name, detail, ring method, tags and addresses (admin/manager).
func (s *Service) UpdateAgent(ctx context.Context, c *convo.Caller, id string, in AgentInput) (*convo.Agent, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	var ids []string
	if in.TagIDs != nil {
		var err error
		if ids, err = tagIDs(in.TagIDs); err != nil {
			return nil, err
		}
	}
	return s.changeTaggedAgent(ctx, c, id, ids, func(_ convo.Tx, a *convo.Agent) error {
		return applyAgentProfile(a, AgentInput{Name: in.Name, Detail: in.Detail, RingMethod: in.RingMethod, TagIDs: ids, Addresses: in.Addresses})
	})
}

// UpdateAgentTagIDs sets an agent's tags, live tags of its customer (admin/manager).
func (s *Service) UpdateAgentTagIDs(ctx context.Context, c *convo.Caller, id string, in []string) (*convo.Agent, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	if in == nil {
		return nil, convo.Invalid("INVALID_TAG_IDS", "tag_ids is required")
	}
	ids, err := tagIDs(in)
	if err != nil {
		return nil, err
	}
	return s.changeTaggedAgent(ctx, c, id, ids, func(_ convo.Tx, a *convo.Agent) error {
		return applyAgentProfile(a, AgentInput{TagIDs: ids})
	})
}

// UpdateAgentAddresses sets the addresses an agent is reached at
// (admin/manager, or the agent itself).
func (s *Service) UpdateAgentAddresses(ctx context.Context, c *convo.Caller, id string, in []convo.Address) (*convo.Agent, error) {
	if in == nil {
		return nil, convo.Invalid("INVALID_ADDRESS", "addresses is required")
	}
	return s.changeAgent(ctx, c, id, func(_ convo.Tx, a *convo.Agent) error {
		if a.ID != c.AgentID {
			if err := requireManager(c); err != nil {
				return err
			}
		}
		return applyAgentProfile(a, AgentInput{Addresses: in})
	})
}

// UpdateAgentPermission sets an agent's permission (admin/manager, within the caller's rank).
func (s *Service) UpdateAgentPermission(ctx context.Context, c *convo.Caller, id string, p *convo.Permission) (*convo.Agent, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, convo.Invalid("INVALID_PERMISSION", "permission is required")
	}
	if err := checkGrant(c, *p); err != nil {
		return nil, err
	}
	return s.changeAgent(ctx, c, id, func(tx convo.Tx, a *convo.Agent) error {
		// Demoting someone ranked above the caller is as much an escalation as promoting.
		if err := checkGrant(c, a.Permission); err != nil {
			return err
		}
		if a.Permission == *p {
			return nil
		}
		ch := changes{}
		ch.add("permission", a.Permission, *p)
		// The agent logs in again to work with its new rights.
		a.Permission = *p
		a.TokenVersion++
		return s.audit(ctx, tx, c, convo.AuditPermissionChanged, convo.ResourceAgent, a.ID, ch)
	})
}

// UpdateAgentPassword sets an agent's password (admin/manager, or the agent itself).
func (s *Service) UpdateAgentPassword(ctx context.Context, c *convo.Caller, id string, password *string) (*convo.Agent, error) {
	if password == nil {
		return nil, convo.Invalid("INVALID_PASSWORD", "password is required")
	}
	return s.changeAgent(ctx, c, id, func(tx convo.Tx, a *convo.Agent) error {
		if a.ID != c.AgentID {
			if err := requireManager(c); err != nil {
				return err
			}
			if err := checkGrant(c, a.Permission); err != nil {
				return err
			}
		}
		hash, err := s.hashPassword(*password)
		if err != nil {
			return err
		}
		// Whoever held a token under the old password holds it no more.
		a.PasswordHash = hash
		a.TokenVersion++
		return s.audit(ctx, tx, c, convo.AuditPasswordChanged, convo.ResourceAgent, a.ID, changes{
			"password": {Old: convo.Redacted, New: convo.Redacted}})
	})
}

// UpdateAgentStatus sets an agent's availability (admin/manager, or the agent itself).
func (s *Service) UpdateAgentStatus(ctx context.Context, c *convo.Caller, id string, status *string) (*convo.Agent, error) {
	if status == nil || !convo.ValidAgentStatus(*status) {
		return nil, convo.Invalid("INVALID_STATUS", "status must be available, away, busy or offline")
	}
	return s.changeAgent(ctx, c, id, func(tx convo.Tx, a *convo.Agent) error {
		if a.ID != c.AgentID {
			if err := requireManager(c); err != nil {
				return err
			}
		}
		if a.Status == *status {
			return nil
		}
		ch := changes{}
		ch.add("status", a.Status, *status)
		a.Status = *status
		return s.audit(ctx, tx, c, convo.AuditStatusChanged, convo.ResourceAgent, a.ID, ch)
	})
}

// DeleteAgent soft-deletes an agent (admin/manager; not oneself).
func (s *Service) DeleteAgent(ctx context.Context, c *convo.Caller, id string) (*convo.Agent, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	return s.changeAgent(ctx, c, id, func(tx convo.Tx, a *convo.Agent) error {
		if a.ID == c.AgentID {
			return convo.Errorf(convo.EPrecondition, "AGENT_IS_CALLER", "an agent cannot delete itself")
		}
		if err := checkGrant(c, a.Permission); err != nil {
			return err
		}
		a.TMDelete = s.now()
		return s.audit(ctx, tx, c, convo.AuditDeleted, convo.ResourceAgent, a.ID, nil)
	})
}
