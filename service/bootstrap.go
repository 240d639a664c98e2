package service

import (
	"context"

	"github.com/convohq/convo"
)

// BootstrapInput describes a customer created from the command line.
type BootstrapInput struct {
	CustomerName string
	Username     string
	Password     string
	SuperAdmin   bool
}

// BootstrapResult is what the command line prints after a bootstrap.
type BootstrapResult struct {
	CustomerID string `json:"customer_id"`
	AgentID    string `json:"agent_id"`
	AccessKey  string `json:"accesskey"`
}

// Bootstrap creates a customer, its admin agent and an access key in one
// transaction; a taken username fails with EConflict and creates nothing.
func (s *Service) Bootstrap(ctx context.Context, in BootstrapInput) (*BootstrapResult, error) {
	now := s.now()
	cust := &convo.Customer{ID: convo.NewID(), Name: in.CustomerName, AgentsTakeUnassigned: true, TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
	if err := (&CustomerInput{}).apply(cust); err != nil {
		return nil, err
	}
	perm := convo.PermissionCustomerAdmin
	if in.SuperAdmin {
		perm |= convo.PermissionProjectSuperAdmin
	}
	agent, err := s.newAgent(cust.ID, AgentInput{Username: &in.Username, Password: &in.Password, Name: &in.Username, Permission: &perm})
	if err != nil {
		return nil, err
	}
	key, err := s.newAccessKey(cust.ID, AccessKeyInput{Name: ptr("bootstrap")})
	if err != nil {
		return nil, err
	}
	err = s.store.Update(ctx, func(tx convo.Tx) error {
		if err := tx.CreateCustomer(ctx, cust); err != nil {
			return err
		}
		if err := tx.CreateAgent(ctx, agent); err != nil {
			return err
		}
		return tx.CreateAccessKey(ctx, key)
	})
	if err != nil {
		return nil, err
	}
	return &BootstrapResult{CustomerID: cust.ID, AgentID: agent.ID, AccessKey: key.Token}, nil
}

// FirstStart creates the customer "default" with a super-admin "admin" and an
// access key when the database has no customer yet. It returns the password
// and result to show once, or nil when there was nothing to do.
func (s *Service) FirstStart(ctx context.Context) (password string, res *BootstrapResult, err error) {
	var n int
	if err := s.store.View(ctx, func(tx convo.Tx) (err error) {
		n, err = tx.CountCustomers(ctx)
		return err
	}); err != nil || n > 0 {
		return "", nil, err
	}
	password = randomHex(12)
	res, err = s.Bootstrap(ctx, BootstrapInput{CustomerName: "default", Username: "admin", Password: password, SuperAdmin: true})
	if convo.ErrorStatus(err) == convo.EConflict {
		// Another replica starting at the same moment won the race.
		return "", nil, nil
	}
	return password, res, err
}
