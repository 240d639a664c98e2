package service

import (
	"context"
	"net/mail"
	"net/url"
	"slices"

	"github.com/convohq/convo"
)

// CustomerInput holds the writable fields of a customer; nil leaves a field
// unchanged. Username and Password, on creation, also create its first admin.
type CustomerInput struct {
	Name          *string `json:"name"`
	Detail        *string `json:"detail"`
	Email         *string `json:"email"`
	PhoneNumber   *string `json:"phone_number"`
	Address       *string `json:"address"`
	WebhookMethod *string `json:"webhook_method"`
	WebhookURI    *string `json:"webhook_uri"`
	WebhookSecret *string `json:"webhook_secret"`
	// AgentsTakeUnassigned lets plain agents list and take unassigned
	// conversations; left out, it stays as it is.
	AgentsTakeUnassigned *bool   `json:"agents_take_unassigned"`
	Username             *string `json:"username"`
	Password             *string `json:"password"`
}

// apply validates in and writes it onto c.
func (in *CustomerInput) apply(c *convo.Customer) error {
	c.Name = trimmed(in.Name, c.Name)
	c.Detail = trimmed(in.Detail, c.Detail)
	c.Email = trimmed(in.Email, c.Email)
	c.PhoneNumber = trimmed(in.PhoneNumber, c.PhoneNumber)
	c.Address = trimmed(in.Address, c.Address)
	c.WebhookMethod = trimmed(in.WebhookMethod, c.WebhookMethod)
	c.WebhookURI = trimmed(in.WebhookURI, c.WebhookURI)
	if in.WebhookSecret != nil {
		c.WebhookSecret = *in.WebhookSecret
	}
	if in.AgentsTakeUnassigned != nil {
		c.AgentsTakeUnassigned = *in.AgentsTakeUnassigned
	}
	if err := checkLengths(lengthCheck{"name", c.Name, convo.MaxText}, lengthCheck{"detail", c.Detail, convo.MaxText},
		lengthCheck{"address", c.Address, convo.MaxText}, lengthCheck{"email", c.Email, convo.MaxEmail},
		lengthCheck{"phone_number", c.PhoneNumber, convo.MaxPhone}, lengthCheck{"webhook_uri", c.WebhookURI, convo.MaxURL},
		lengthCheck{"webhook_secret", c.WebhookSecret, convo.MaxSecret}); err != nil {
		return err
	}
	if c.Email != "" {
		if _, err := mail.ParseAddress(c.Email); err != nil {
			return convo.Invalid("INVALID_EMAIL", "email is not an email address")
		}
	}
	if !slices.Contains([]string{"", "POST", "GET", "PUT", "DELETE"}, c.WebhookMethod) {
		return convo.Invalid("INVALID_WEBHOOK_METHOD", "webhook_method must be one of POST, GET, PUT, DELETE")
	}
	if c.WebhookURI != "" {
		u, err := url.Parse(c.WebhookURI)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return convo.Invalid("INVALID_WEBHOOK_URI", "webhook_uri must be an absolute http or https URL")
		}
	}
	if c.WebhookURI != "" && c.WebhookMethod == "" {
		c.WebhookMethod = "POST"
	}
	return nil
}

// GetOwnCustomer returns the caller's customer (admin).
func (s *Service) GetOwnCustomer(ctx context.Context, c *convo.Caller) (*convo.Customer, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	var cust *convo.Customer
	err := s.store.View(ctx, func(tx convo.Tx) (err error) {
		cust, err = tx.GetCustomer(ctx, c.CustomerID)
		return err
	})
	return cust, err
}

// UpdateOwnCustomer changes the caller's customer (admin).
func (s *Service) UpdateOwnCustomer(ctx context.Context, c *convo.Caller, in CustomerInput) (*convo.Customer, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	return s.updateCustomer(ctx, c, c.CustomerID, in)
}

func (s *Service) updateCustomer(ctx context.Context, c *convo.Caller, id string, in CustomerInput) (*convo.Customer, error) {
	// A first admin is made only with the customer; an update ignores those fields.
	in.Username, in.Password = nil, nil
	var cust *convo.Customer
	err := s.update(ctx, func(tx convo.Tx) (err error) {
		if cust, err = s.liveCustomer(ctx, tx, id); err != nil {
			return err
		}
		before := *cust
		if err := in.apply(cust); err != nil {
			return err
		}
		cust.TMUpdate = s.now()
		if err := tx.UpdateCustomer(ctx, cust); err != nil {
			return err
		}
		if before.AgentsTakeUnassigned != cust.AgentsTakeUnassigned {
			if err := s.emitQueueChanged(ctx, tx, cust); err != nil {
				return err
			}
		}
		ch := changes{}
		ch.add("webhook_method", before.WebhookMethod, cust.WebhookMethod)
		ch.add("webhook_uri", before.WebhookURI, cust.WebhookURI)
		ch.secret("webhook_secret", before.WebhookSecret, cust.WebhookSecret)
		if len(ch) == 0 {
			return nil
		}
		// Recorded in the customer's own log, where its admins look.
		return s.audit(ctx, tx, &convo.Caller{CustomerID: cust.ID, AgentID: c.AgentID, AccessKeyID: c.AccessKeyID, Address: c.Address},
			convo.AuditWebhookChanged, convo.ResourceCustomer, cust.ID, ch)
	})
	s.outbox.ForgetCustomer(id)
	return cust, err
}

func (s *Service) liveCustomer(ctx context.Context, tx convo.Tx, id string) (*convo.Customer, error) {
	cust, err := tx.GetCustomer(ctx, id)
	if err == nil && !cust.TMDelete.IsNever() {
		return nil, convo.NotFound(convo.ReasonCustomerNotFound, "customer")
	}
	return cust, err
}

func requireSuperAdmin(c *convo.Caller) error {
	if !c.IsSuperAdmin() {
		return convo.Forbidden("this needs a project super-admin")
	}
	return nil
}

// ListCustomers lists all live customers (super-admin).
func (s *Service) ListCustomers(ctx context.Context, c *convo.Caller, pr convo.PageRequest) (convo.List[*convo.Customer], error) {
	return listPage(ctx, s, pr, requireSuperAdmin(c), func(tx convo.Tx, page convo.Page) ([]*convo.Customer, error) {
		return tx.ListCustomers(ctx, convo.CustomerListParams{Page: page})
	}, func(c *convo.Customer) convo.Cursor { return cursorOf(c.TMCreate, c.ID) })
}

// GetCustomer returns any live customer (super-admin).
func (s *Service) GetCustomer(ctx context.Context, c *convo.Caller, id string) (*convo.Customer, error) {
	if err := requireSuperAdmin(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var cust *convo.Customer
	err = s.store.View(ctx, func(tx convo.Tx) (err error) {
		cust, err = s.liveCustomer(ctx, tx, id)
		return err
	})
	return cust, err
}

// CreateCustomer creates a customer, and its first admin agent when a
// username and password are given (super-admin).
func (s *Service) CreateCustomer(ctx context.Context, c *convo.Caller, in CustomerInput) (*convo.Customer, error) {
	if err := requireSuperAdmin(c); err != nil {
		return nil, err
	}
	now := s.now()
	cust := &convo.Customer{ID: convo.NewID(), AgentsTakeUnassigned: true, TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
	if err := in.apply(cust); err != nil {
		return nil, err
	}
	var admin *convo.Agent
	if in.Username != nil || in.Password != nil {
		var err error
		if admin, err = s.newAgent(cust.ID, AgentInput{Username: in.Username, Password: in.Password, Permission: ptr(convo.PermissionCustomerAdmin)}); err != nil {
			return nil, err
		}
	}
	err := s.store.Update(ctx, func(tx convo.Tx) error {
		if err := tx.CreateCustomer(ctx, cust); err != nil {
			return err
		}
		if admin != nil {
			if err := tx.CreateAgent(ctx, admin); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, c, convo.AuditCreated, convo.ResourceCustomer, cust.ID, changes{"name": {Old: nil, New: cust.Name}})
	})
	return cust, err
}

// UpdateCustomer changes any live customer (super-admin).
func (s *Service) UpdateCustomer(ctx context.Context, c *convo.Caller, id string, in CustomerInput) (*convo.Customer, error) {
	if err := requireSuperAdmin(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	return s.updateCustomer(ctx, c, id, in)
}

// DeleteCustomer soft-deletes a customer; its agents and keys stop working
// (super-admin; never the caller's own customer).
func (s *Service) DeleteCustomer(ctx context.Context, c *convo.Caller, id string) (*convo.Customer, error) {
	if err := requireSuperAdmin(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	if id == c.CustomerID {
		return nil, convo.Errorf(convo.EPrecondition, "CUSTOMER_IN_USE", "a customer cannot delete itself")
	}
	var cust *convo.Customer
	err = s.store.Update(ctx, func(tx convo.Tx) (err error) {
		if cust, err = s.liveCustomer(ctx, tx, id); err != nil {
			return err
		}
		cust.TMUpdate = s.now()
		cust.TMDelete = cust.TMUpdate
		if err := tx.UpdateCustomer(ctx, cust); err != nil {
			return err
		}
		return s.audit(ctx, tx, c, convo.AuditDeleted, convo.ResourceCustomer, cust.ID, nil)
	})
	s.outbox.ForgetCustomer(id)
	return cust, err
}

func ptr[T any](v T) *T { return &v }
