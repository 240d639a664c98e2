package service

import (
	"context"
	"errors"

	"github.com/convohq/convo"
)

// ReasonQuotaNotSupported (EPrecondition) answers a quota request for an
// account whose provider has no message quota (every type but LINE).
const ReasonQuotaNotSupported = "QUOTA_NOT_SUPPORTED"

// AccountQuota asks the provider of a LINE account for its monthly message
// quota and how much of it is used (admin/manager).
func (s *Service) AccountQuota(ctx context.Context, c *convo.Caller, id string) (*convo.Quota, error) {
	a, err := s.GetAccount(ctx, c, id)
	if err != nil {
		return nil, err
	}
	qr, ok := s.config.Channels[a.Type].(convo.QuotaReader)
	switch {
	case !ok:
		return nil, convo.Errorf(convo.EPrecondition, ReasonQuotaNotSupported, "%s accounts have no message quota; only LINE's do", a.Type)
	case a.IsDeleted():
		return nil, convo.Errorf(convo.EPrecondition, "ACCOUNT_DELETED", "the account is deleted")
	}
	if err := a.NotConfigured(); err != nil {
		return nil, err
	}
	qctx, cancel := context.WithTimeout(ctx, providerTimeout)
	defer cancel()
	q, err := qr.Quota(qctx, a)
	var ce *convo.ChannelError
	if errors.As(err, &ce) {
		s.logger.Warn("quota lookup failed", "account_id", a.ID, "reason", err.Error())
		me := convo.MessageErrorOf(err)
		return nil, convo.Errorf(convo.EUnavailable, "PROVIDER_UNAVAILABLE", "LINE did not give the quota: %s %s", me.Code, me.Message)
	} else if err != nil {
		return nil, err
	}
	q.AccountID = a.ID
	return q, nil
}
