package service

import (
	"context"

	"github.com/convohq/convo"
)

// The agent-facing use cases of /service_agents: what an agent's app needs
// of itself, its colleagues and its customer, for any logged-in agent. The
// changes of oneself are the /agents use cases applied to the caller.

// errNotALogin refuses a change of "me" made with an access key, which is
// no agent.
var errNotALogin = convo.Invalid("NOT_A_LOGIN", "an access key is not an agent; log in as the agent")

// self is the caller's agent id, or errNotALogin.
func self(c *convo.Caller) (string, error) {
	if c.AccessKeyID != "" {
		return "", errNotALogin
	}
	return c.AgentID, nil
}

// UpdateMe changes the caller's name, detail and ring method; nothing else
// of the input.
func (s *Service) UpdateMe(ctx context.Context, c *convo.Caller, in AgentInput) (*convo.Agent, error) {
	id, err := self(c)
	if err != nil {
		return nil, err
	}
	return s.changeAgent(ctx, c, id, func(_ convo.Tx, a *convo.Agent) error {
		return applyAgentProfile(a, AgentInput{Name: in.Name, Detail: in.Detail, RingMethod: in.RingMethod})
	})
}

// UpdateMyPassword sets the caller's password, which ends its earlier tokens.
func (s *Service) UpdateMyPassword(ctx context.Context, c *convo.Caller, password *string) (*convo.Agent, error) {
	id, err := self(c)
	if err != nil {
		return nil, err
	}
	return s.UpdateAgentPassword(ctx, c, id, password)
}

// UpdateMyStatus sets the caller's availability.
func (s *Service) UpdateMyStatus(ctx context.Context, c *convo.Caller, status *string) (*convo.Agent, error) {
	id, err := self(c)
	if err != nil {
		return nil, err
	}
	return s.UpdateAgentStatus(ctx, c, id, status)
}

// UpdateMyAddresses sets the addresses the caller is reached at.
func (s *Service) UpdateMyAddresses(ctx context.Context, c *convo.Caller, addresses []convo.Address) (*convo.Agent, error) {
	id, err := self(c)
	if err != nil {
		return nil, err
	}
	return s.UpdateAgentAddresses(ctx, c, id, addresses)
}

// ListServiceAgents lists the live agents of the caller's customer, for any
// of its agents: colleagues to hand a conversation to.
func (s *Service) ListServiceAgents(ctx context.Context, c *convo.Caller, pr convo.PageRequest) (convo.List[*convo.Agent], error) {
	return s.listAgents(ctx, c, "", pr, nil)
}

// GetServiceAgent returns a live agent of the caller's customer, for any of its agents.
func (s *Service) GetServiceAgent(ctx context.Context, c *convo.Caller, id string) (*convo.Agent, error) {
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var a *convo.Agent
	err = s.store.View(ctx, func(tx convo.Tx) (err error) {
		a, err = customerAgent(ctx, tx, c, id)
		return err
	})
	return a, err
}

// GetServiceAgentCustomer returns the caller's customer, for any of its
// agents. Where its webhook goes is the admins' business: a URL often
// carries a credential, so others get it empty.
func (s *Service) GetServiceAgentCustomer(ctx context.Context, c *convo.Caller) (*convo.Customer, error) {
	var cust *convo.Customer
	err := s.store.View(ctx, func(tx convo.Tx) (err error) {
		cust, err = tx.GetCustomer(ctx, c.CustomerID)
		return err
	})
	if err == nil && !c.IsAdmin() {
		cust.WebhookMethod, cust.WebhookURI = "", ""
	}
	return cust, err
}
