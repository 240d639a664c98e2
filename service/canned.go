package service

import (
	"context"
	"strings"
	"unicode"

	"github.com/convohq/convo"
)

// CannedResponseInput holds the writable fields of a canned response; nil
// leaves a field unchanged.
type CannedResponseInput struct {
	ShortCode *string `json:"short_code"`
	Text      *string `json:"text"`
}

// apply validates in and writes it onto r.
func (in CannedResponseInput) apply(r *convo.CannedResponse) error {
	r.ShortCode, r.Text = trimmed(in.ShortCode, r.ShortCode), trimmed(in.Text, r.Text)
	if r.ShortCode == "" {
		return convo.Invalid("INVALID_SHORT_CODE", "short_code is required")
	}
	if strings.ContainsFunc(r.ShortCode, unicode.IsSpace) {
		return convo.Invalid("INVALID_SHORT_CODE", "short_code must not contain spaces")
	}
	if err := convo.CheckLen("short_code", r.ShortCode, convo.MaxShortCode); err != nil {
		return err
	}
	if r.Text == "" {
		return convo.Invalid("INVALID_TEXT", "text is required")
	}
	return checkText("text", r.Text)
}

// maxCannedQuery bounds q of a canned response list: a composer's prefix.
const maxCannedQuery = 256

// CreateCannedResponse adds a canned response to the caller's customer
// (admin/manager); a short code a live one has, ignoring case, is 409
// SHORT_CODE_TAKEN.
func (s *Service) CreateCannedResponse(ctx context.Context, c *convo.Caller, in CannedResponseInput) (*convo.CannedResponse, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	now := s.now()
	r := &convo.CannedResponse{ID: convo.NewID(), CustomerID: c.CustomerID, TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
	if err := in.apply(r); err != nil {
		return nil, err
	}
	return r, s.store.Update(ctx, func(tx convo.Tx) error {
		if err := tx.CreateCannedResponse(ctx, r); err != nil {
			return err
		}
		return s.audit(ctx, tx, c, convo.AuditCreated, convo.ResourceCannedResponse, r.ID, changes{"short_code": {Old: nil, New: r.ShortCode}})
	})
}

// customerCannedResponse returns a live canned response of the caller's
// customer; another customer's is answered as missing.
func customerCannedResponse(ctx context.Context, tx convo.Tx, c *convo.Caller, id string) (*convo.CannedResponse, error) {
	r, err := tx.GetCannedResponse(ctx, id)
	if err == nil && (r.CustomerID != c.CustomerID || !r.TMDelete.IsNever()) {
		return nil, convo.NotFound(convo.ReasonCannedResponseNotFound, "canned response")
	}
	return r, err
}

// GetCannedResponse returns a canned response of the caller's customer (any agent).
func (s *Service) GetCannedResponse(ctx context.Context, c *convo.Caller, id string) (*convo.CannedResponse, error) {
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var r *convo.CannedResponse
	err = s.store.View(ctx, func(tx convo.Tx) (err error) {
		r, err = customerCannedResponse(ctx, tx, c, id)
		return err
	})
	return r, err
}

// ListCannedResponses lists the live canned responses of the caller's
// customer (any agent); q, when set, keeps those whose short code starts
// with it or whose text holds each of its words, ignoring case.
func (s *Service) ListCannedResponses(ctx context.Context, c *convo.Caller, q string, pr convo.PageRequest) (convo.List[*convo.CannedResponse], error) {
	return listPage(ctx, s, pr, convo.CheckLen("q", q, maxCannedQuery), func(tx convo.Tx, page convo.Page) ([]*convo.CannedResponse, error) {
		return tx.ListCannedResponses(ctx, convo.CannedResponseListParams{CustomerID: c.CustomerID, Query: q, Page: page})
	}, func(r *convo.CannedResponse) convo.Cursor { return cursorOf(r.TMCreate, r.ID) })
}

// changeCannedResponse runs one change of a canned response of the caller's
// customer (admin/manager).
func (s *Service) changeCannedResponse(ctx context.Context, c *convo.Caller, id string, change func(tx convo.Tx, r *convo.CannedResponse) error) (*convo.CannedResponse, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var r *convo.CannedResponse
	err = s.store.Update(ctx, func(tx convo.Tx) (err error) {
		if r, err = customerCannedResponse(ctx, tx, c, id); err != nil {
			return err
		}
		if err := change(tx, r); err != nil {
			return err
		}
		r.TMUpdate = s.now()
		return tx.UpdateCannedResponse(ctx, r)
	})
	return r, err
}

// UpdateCannedResponse changes a canned response's short code or text (admin/manager).
func (s *Service) UpdateCannedResponse(ctx context.Context, c *convo.Caller, id string, in CannedResponseInput) (*convo.CannedResponse, error) {
	return s.changeCannedResponse(ctx, c, id, func(_ convo.Tx, r *convo.CannedResponse) error { return in.apply(r) })
}

// DeleteCannedResponse soft-deletes a canned response, freeing its short
// code (admin/manager).
func (s *Service) DeleteCannedResponse(ctx context.Context, c *convo.Caller, id string) (*convo.CannedResponse, error) {
	return s.changeCannedResponse(ctx, c, id, func(tx convo.Tx, r *convo.CannedResponse) error {
		r.TMDelete = s.now()
		return s.audit(ctx, tx, c, convo.AuditDeleted, convo.ResourceCannedResponse, r.ID, nil)
	})
}

// cannedText is the text of the canned response id, sent on conv by c, with
// its ${...} variables replaced as a flow's are (unknown ones become ""): a
// flow's conversation variables, the sending agent's (empty for an access
// key) and the customer's name. A canned response that is not a live one
// of the caller's customer is refused as any other id in a body is (400).
func cannedText(ctx context.Context, tx convo.Tx, c *convo.Caller, conv *convo.Conversation, id string) (string, error) {
	r, err := customerCannedResponse(ctx, tx, c, id)
	if convo.ErrorStatus(err) == convo.ENotFound {
		return "", convo.Invalid(convo.ReasonCannedResponseNotFound, "canned_response_id names no canned response of yours")
	} else if err != nil {
		return "", err
	}
	if !strings.Contains(r.Text, "${") {
		return r.Text, nil
	}
	vars := conversationVariables(conv)
	if c.AccessKeyID == "" {
		a, err := tx.GetAgent(ctx, c.AgentID)
		if err != nil {
			return "", err
		}
		vars["voipbin.agent.id"], vars["voipbin.agent.name"] = a.ID, a.Name
	}
	cust, err := tx.GetCustomer(ctx, c.CustomerID)
	if err != nil {
		return "", err
	}
	vars["voipbin.customer.name"] = cust.Name
	return convo.Substitute(r.Text, vars), nil
}
