package service

import (
	"context"
	"crypto/rand"
	"encoding/base64"

	"github.com/convohq/convo"
)

// AccessKeyInput holds the writable fields of an access key; Expire is its
// lifetime in seconds from creation (0: never expires).
type AccessKeyInput struct {
	Name   *string `json:"name"`
	Detail *string `json:"detail"`
	Expire int64   `json:"expire"`
}

// newAccessKey builds a key with a fresh random token (shown once).
func (s *Service) newAccessKey(customerID string, in AccessKeyInput) (*convo.AccessKey, error) {
	expire, err := s.expiry(in.Expire)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	token := "ck_" + base64.RawURLEncoding.EncodeToString(raw)
	now := s.now()
	k := &convo.AccessKey{
		ID: convo.NewID(), CustomerID: customerID,
		Name: trimmed(in.Name, ""), Detail: trimmed(in.Detail, ""),
		Token: token, TokenPrefix: token[:8], TokenHash: hashToken(token),
		TMExpire: expire, TMCreate: now, TMUpdate: now, TMDelete: convo.Never,
	}
	if err := checkText("name", k.Name); err != nil {
		return nil, err
	}
	return k, checkText("detail", k.Detail)
}

// CreateAccessKey creates a key for the caller's customer (admin); the
// answer is the only place its token ever appears.
func (s *Service) CreateAccessKey(ctx context.Context, c *convo.Caller, in AccessKeyInput) (*convo.AccessKey, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	k, err := s.newAccessKey(c.CustomerID, in)
	if err != nil {
		return nil, err
	}
	return k, s.store.Update(ctx, func(tx convo.Tx) error {
		if err := tx.CreateAccessKey(ctx, k); err != nil {
			return err
		}
		return s.audit(ctx, tx, c, convo.AuditCreated, convo.ResourceAccessKey, k.ID, changes{
			"name": {Old: nil, New: k.Name}, "tm_expire": {Old: nil, New: k.TMExpire}})
	})
}

// customerAccessKey returns a live key of the caller's customer.
func customerAccessKey(ctx context.Context, tx convo.Tx, c *convo.Caller, id string) (*convo.AccessKey, error) {
	k, err := tx.GetAccessKey(ctx, id)
	if err == nil && (k.CustomerID != c.CustomerID || !k.TMDelete.IsNever()) {
		return nil, convo.NotFound(convo.ReasonAccessKeyNotFound, "access key")
	}
	return k, err
}

// GetAccessKey returns a key of the caller's customer, without its token (admin).
func (s *Service) GetAccessKey(ctx context.Context, c *convo.Caller, id string) (*convo.AccessKey, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var k *convo.AccessKey
	err = s.store.View(ctx, func(tx convo.Tx) (err error) {
		k, err = customerAccessKey(ctx, tx, c, id)
		return err
	})
	return k, err
}

// ListAccessKeys lists the caller's customer's live keys (admin).
func (s *Service) ListAccessKeys(ctx context.Context, c *convo.Caller, pr convo.PageRequest) (convo.List[*convo.AccessKey], error) {
	return listPage(ctx, s, pr, requireAdmin(c), func(tx convo.Tx, page convo.Page) ([]*convo.AccessKey, error) {
		return tx.ListAccessKeys(ctx, convo.AccessKeyListParams{CustomerID: c.CustomerID, Page: page})
	}, func(k *convo.AccessKey) convo.Cursor { return cursorOf(k.TMCreate, k.ID) })
}

// changeAccessKey runs one change of a key of the caller's customer (admin).
func (s *Service) changeAccessKey(ctx context.Context, c *convo.Caller, id string, change func(tx convo.Tx, k *convo.AccessKey) error) (*convo.AccessKey, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var k *convo.AccessKey
	err = s.store.Update(ctx, func(tx convo.Tx) (err error) {
		if k, err = customerAccessKey(ctx, tx, c, id); err != nil {
			return err
		}
		if err := change(tx, k); err != nil {
			return err
		}
		k.TMUpdate = s.now()
		return tx.UpdateAccessKey(ctx, k)
	})
	return k, err
}

// UpdateAccessKey renames a key (admin).
func (s *Service) UpdateAccessKey(ctx context.Context, c *convo.Caller, id string, in AccessKeyInput) (*convo.AccessKey, error) {
	return s.changeAccessKey(ctx, c, id, func(_ convo.Tx, k *convo.AccessKey) error {
		k.Name, k.Detail = trimmed(in.Name, k.Name), trimmed(in.Detail, k.Detail)
		if err := checkText("name", k.Name); err != nil {
			return err
		}
		return checkText("detail", k.Detail)
	})
}

// DeleteAccessKey revokes a key at once (admin).
func (s *Service) DeleteAccessKey(ctx context.Context, c *convo.Caller, id string) (*convo.AccessKey, error) {
	return s.changeAccessKey(ctx, c, id, func(tx convo.Tx, k *convo.AccessKey) error {
		k.TMDelete = s.now()
		return s.audit(ctx, tx, c, convo.AuditDeleted, convo.ResourceAccessKey, k.ID, nil)
	})
}
