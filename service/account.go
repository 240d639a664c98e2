package service

import (
	"context"
	"strings"

	"github.com/convohq/convo"
)

// AccountInput holds the writable fields of a conversation account; nil
// leaves a field unchanged. Type is only read on creation.
type AccountInput struct {
	Type          *string            `json:"type"`
	Name          *string            `json:"name"`
	Detail        *string            `json:"detail"`
	Secret        *string            `json:"secret"`
	Token         *string            `json:"token"`
	ProviderData  *ProviderDataInput `json:"provider_data"`
	MessageFlowID *string            `json:"message_flow_id"`
	// ResolvedInbound and AutoResolveAfter are convo's own settings;
	// VoIPbin's clients leave them out, which keeps them as they are.
	ResolvedInbound  *string `json:"resolved_inbound"`
	AutoResolveAfter *string `json:"auto_resolve_after"`
}

// ProviderDataInput is provider_data as clients send it, secrets included.
type ProviderDataInput struct {
	PhoneNumberID      *string `json:"phone_number_id"`
	DisplayPhoneNumber *string `json:"display_phone_number"`
	BusinessAccountID  *string `json:"business_account_id"`
	AppSecret          *string `json:"app_secret"`
	AccountSID         *string `json:"account_sid"`
	Number             *string `json:"number"`
}

// apply writes in onto a and checks the result for a's type.
func (in *AccountInput) apply(a *convo.Account) error {
	a.Name = trimmed(in.Name, a.Name)
	a.Detail = trimmed(in.Detail, a.Detail)
	if in.Secret != nil {
		a.Secret = strings.TrimSpace(*in.Secret)
	}
	if in.Token != nil {
		a.Token = strings.TrimSpace(*in.Token)
	}
	if pd := in.ProviderData; pd != nil {
		p := &a.ProviderData
		p.PhoneNumberID = trimmed(pd.PhoneNumberID, p.PhoneNumberID)
		p.DisplayPhoneNumber = trimmed(pd.DisplayPhoneNumber, p.DisplayPhoneNumber)
		p.BusinessAccountID = trimmed(pd.BusinessAccountID, p.BusinessAccountID)
		// It goes into Graph API paths: digits only, as Meta's ids are.
		if p.BusinessAccountID != "" && strings.Trim(p.BusinessAccountID, "0123456789") != "" {
			return convo.Invalid("INVALID_BUSINESS_ACCOUNT_ID", "provider_data.business_account_id must be the WhatsApp Business Account's numeric id")
		}
		p.AccountSID = trimmed(pd.AccountSID, p.AccountSID)
		p.Number = trimmed(pd.Number, p.Number)
		if pd.Number != nil && p.Number != "" {
			n, err := convo.ParsePhone(p.Number)
			if err != nil {
				return convo.Invalid("INVALID_NUMBER", "provider_data.number must be an E.164 phone number like +14155550100")
			}
			p.Number = n
		}
		if pd.AppSecret != nil {
			p.AppSecret = strings.TrimSpace(*pd.AppSecret)
		}
	}
	if in.MessageFlowID != nil {
		if convo.IsNilID(*in.MessageFlowID) {
			a.MessageFlowID = convo.NilID
		} else {
			id, err := convo.ParseID(*in.MessageFlowID)
			if err != nil {
				return convo.Invalid("INVALID_MESSAGE_FLOW_ID", "message_flow_id must be a UUID")
			}
			a.MessageFlowID = id
		}
	}
	if in.ResolvedInbound != nil {
		switch v := strings.TrimSpace(*in.ResolvedInbound); v {
		case convo.ResolvedReopen, convo.ResolvedNew:
			a.ResolvedInbound = v
		default:
			return convo.Invalid(convo.ReasonInvalidResolvedInbound, "resolved_inbound must be reopen or new")
		}
	}
	if in.AutoResolveAfter != nil {
		d, err := convo.ParseAutoResolve(*in.AutoResolveAfter)
		if err != nil {
			return err
		}
		a.AutoResolveAfter = d
	}
	p := a.ProviderData
	if err := checkLengths(lengthCheck{"name", a.Name, convo.MaxText}, lengthCheck{"detail", a.Detail, convo.MaxText},
		lengthCheck{"secret", a.Secret, convo.MaxSecret}, lengthCheck{"token", a.Token, convo.MaxToken},
		lengthCheck{"provider_data.app_secret", p.AppSecret, convo.MaxSecret},
		lengthCheck{"provider_data.phone_number_id", p.PhoneNumberID, convo.MaxProviderRef},
		lengthCheck{"provider_data.display_phone_number", p.DisplayPhoneNumber, convo.MaxProviderRef},
		lengthCheck{"provider_data.business_account_id", p.BusinessAccountID, convo.MaxProviderRef},
		lengthCheck{"provider_data.account_sid", p.AccountSID, convo.MaxProviderRef},
		lengthCheck{"provider_data.number", p.Number, convo.MaxProviderRef}); err != nil {
		return err
	}
	return validateAccount(a)
}

// validateAccount checks an account's type and the values it carries. A
// missing provider setting leaves the account not configured rather than
// refused (see convo.Account.Missing), except for LINE, whose two settings
// VoIPbin's clients always send.
func validateAccount(a *convo.Account) error {
	missing := func(reason, what string) error {
		return convo.Invalid(reason, "a %s account needs %s", a.Type, what)
	}
	switch a.Type {
	case convo.AccountLine:
		if a.Token == "" {
			return missing("MISSING_TOKEN", "token (the channel access token)")
		}
		if a.Secret == "" {
			return missing("MISSING_SECRET", "secret (the channel secret)")
		}
	case convo.AccountWhatsApp:
	case convo.AccountSMS:
		if p := a.ProviderData; p.Number != "" && !convo.IsE164(p.Number) {
			return convo.Invalid("INVALID_NUMBER", "provider_data.number must be an E.164 phone number like +14155550100")
		}
	default:
		return convo.Invalid("INVALID_ACCOUNT_TYPE", "type must be sms, line or whatsapp")
	}
	return nil
}

// withHook fills the derived fields of an account: its hook URL and
// whether it is configured.
func (s *Service) withHook(a *convo.Account) *convo.Account {
	if a != nil {
		a.HookURL = s.config.PublicURL + "/v1.0/conversation/accounts/" + a.ID
		a.Configured = len(a.Missing()) == 0
	}
	return a
}

// customerAccount returns an account of the caller's customer (deleted ones too).
func customerAccount(ctx context.Context, tx convo.Tx, c *convo.Caller, id string) (*convo.Account, error) {
	a, err := tx.GetAccount(ctx, id)
	if err == nil && a.CustomerID != c.CustomerID {
		return nil, convo.NotFound(convo.ReasonAccountNotFound, "account")
	}
	return a, err
}

// CreateAccount adds a channel account (admin/manager).
func (s *Service) CreateAccount(ctx context.Context, c *convo.Caller, in AccountInput) (*convo.Account, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	now := s.now()
	a := &convo.Account{ID: convo.NewID(), CustomerID: c.CustomerID, Type: trimmed(in.Type, ""),
		MessageFlowID: convo.NilID, ResolvedInbound: convo.ResolvedReopen, TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
	if err := in.apply(a); err != nil {
		return nil, err
	}
	err := s.update(ctx, func(tx convo.Tx) error {
		if err := checkMessageFlow(ctx, tx, a.CustomerID, a.MessageFlowID); err != nil {
			return err
		}
		if err := tx.CreateAccount(ctx, a); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, c, convo.AuditCreated, convo.ResourceAccount, a.ID, changes{"type": {Old: nil, New: a.Type}}); err != nil {
			return err
		}
		return s.emitAccount(ctx, tx, convo.EventAccountCreated, a)
	})
	return s.withHook(a), err
}

// GetAccount returns an account of the caller's customer (admin/manager).
func (s *Service) GetAccount(ctx context.Context, c *convo.Caller, id string) (*convo.Account, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var a *convo.Account
	err = s.store.View(ctx, func(tx convo.Tx) (err error) {
		a, err = customerAccount(ctx, tx, c, id)
		return err
	})
	return s.withHook(a), err
}

// ListAccounts lists the caller's customer's accounts (admin/manager).
func (s *Service) ListAccounts(ctx context.Context, c *convo.Caller, deleted bool, pr convo.PageRequest) (convo.List[*convo.Account], error) {
	return listPage(ctx, s, pr, requireManager(c), func(tx convo.Tx, page convo.Page) ([]*convo.Account, error) {
		rows, err := tx.ListAccounts(ctx, convo.AccountListParams{CustomerID: c.CustomerID, Deleted: deleted, Page: page})
		for _, a := range rows {
			s.withHook(a)
		}
		return rows, err
	}, func(a *convo.Account) convo.Cursor { return cursorOf(a.TMCreate, a.ID) })
}

// changeAccount runs one change of a live account of the caller's customer (admin/manager).
func (s *Service) changeAccount(ctx context.Context, c *convo.Caller, id, eventType string, change func(a *convo.Account) error) (*convo.Account, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var a *convo.Account
	err = s.update(ctx, func(tx convo.Tx) (err error) {
		if a, err = customerAccount(ctx, tx, c, id); err != nil {
			return err
		}
		if a.IsDeleted() {
			return convo.Errorf(convo.EPrecondition, "ACCOUNT_DELETED", "the account is deleted")
		}
		before := *a
		if err := change(a); err != nil {
			return err
		}
		if *a == before {
			return nil // nothing changed: no write, no event
		}
		if err := checkMessageFlow(ctx, tx, a.CustomerID, a.MessageFlowID); err != nil {
			return err
		}
		a.TMUpdate = s.now()
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return err
		}
		if err := s.auditAccount(ctx, tx, c, eventType, &before, a); err != nil {
			return err
		}
		return s.emitAccount(ctx, tx, eventType, a)
	})
	s.accounts.Forget(id)
	return s.withHook(a), err
}

// UpdateAccount changes an account; secrets given replace the stored ones (admin/manager).
func (s *Service) UpdateAccount(ctx context.Context, c *convo.Caller, id string, in AccountInput) (*convo.Account, error) {
	in.Type = nil
	return s.changeAccount(ctx, c, id, convo.EventAccountUpdated, in.apply)
}

// DeleteAccount soft-deletes an account, which stops its inbound and
// outbound traffic (admin/manager).
func (s *Service) DeleteAccount(ctx context.Context, c *convo.Caller, id string) (*convo.Account, error) {
	return s.changeAccount(ctx, c, id, convo.EventAccountDeleted, func(a *convo.Account) error {
		a.TMDelete = s.now()
		return nil
	})
}

// auditAccount records an account's deletion, or a change of the
// credentials it reaches its provider with (secrets redacted).
func (s *Service) auditAccount(ctx context.Context, tx convo.Tx, c *convo.Caller, eventType string, before, after *convo.Account) error {
	if eventType == convo.EventAccountDeleted {
		return s.audit(ctx, tx, c, convo.AuditDeleted, convo.ResourceAccount, after.ID, nil)
	}
	ch := changes{}
	ch.secret("token", before.Token, after.Token)
	ch.secret("secret", before.Secret, after.Secret)
	ch.secret("provider_data.app_secret", before.ProviderData.AppSecret, after.ProviderData.AppSecret)
	ch.add("provider_data.account_sid", before.ProviderData.AccountSID, after.ProviderData.AccountSID)
	ch.add("provider_data.phone_number_id", before.ProviderData.PhoneNumberID, after.ProviderData.PhoneNumberID)
	ch.add("provider_data.business_account_id", before.ProviderData.BusinessAccountID, after.ProviderData.BusinessAccountID)
	if len(ch) == 0 {
		return nil
	}
	return s.audit(ctx, tx, c, convo.AuditCredentialsChanged, convo.ResourceAccount, after.ID, ch)
}
