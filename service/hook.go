package service

import (
	"context"
	"net/url"

	"github.com/convohq/convo"
)

var errNoHook = convo.NotFound("ACCOUNT_NOT_FOUND", "account")

// hookAccount returns the live account behind a hook URL and its channel.
func (s *Service) hookAccount(ctx context.Context, accountID string) (*convo.Account, convo.Channel, error) {
	id, err := convo.ParseID(accountID)
	if err != nil {
		return nil, nil, errNoHook
	}
	a, err := s.cachedAccount(ctx, id)
	if convo.ErrorStatus(err) == convo.ENotFound || (err == nil && a.IsDeleted()) {
		return nil, nil, errNoHook
	} else if err != nil {
		return nil, nil, err
	}
	ch := s.config.Channels[a.Type]
	if ch == nil {
		return nil, nil, errNoHook
	}
	// Without its secrets no signature can be checked: refuse everything.
	if err := a.NotConfigured(); err != nil {
		return nil, nil, err
	}
	return a, ch, nil
}

// cachedAccount returns an account (deleted ones too) from the cache: one
// read serves a burst of webhooks, so a batch needs no statement per message.
// The copy returned is the caller's own.
func (s *Service) cachedAccount(ctx context.Context, id string) (*convo.Account, error) {
	a, err := s.accounts.Get(id, func() (a *convo.Account, err error) {
		err = s.store.View(ctx, func(tx convo.Tx) (err error) {
			a, err = tx.GetAccount(ctx, id)
			return err
		})
		return a, err
	})
	if err != nil {
		return nil, err
	}
	own := *a
	return &own, nil
}

// ReceiveHook checks one provider webhook for an account and stores what it
// carries. It returns once everything is durably committed; slow follow-up
// work (display names, sending) runs later from durable jobs. pathAndQuery
// is the request's path and query, which signatures cover with the public URL.
func (s *Service) ReceiveHook(ctx context.Context, accountID, pathAndQuery string, h convo.HookRequest) error {
	a, ch, err := s.hookAccount(ctx, accountID)
	if err != nil {
		return err
	}
	h.URL = s.config.PublicURL + pathAndQuery
	in, err := ch.ReadHook(a, h)
	if err != nil {
		return err
	}
	in.WithoutNUL()
	if h.Kind == convo.HookStatus {
		// Our own message id rides on the status callback URL, so a report
		// that overtakes the provider's answer to the send still finds it.
		if u, err := url.Parse(h.URL); err == nil {
			for i := range in.Statuses {
				in.Statuses[i].MessageID = u.Query().Get("message_id")
			}
		}
	}
	return s.ingest(a, in)
}

// VerifyHook answers a provider's subscription handshake for an account.
func (s *Service) VerifyHook(ctx context.Context, accountID string, query url.Values) (string, error) {
	a, ch, err := s.hookAccount(ctx, accountID)
	if err != nil {
		return "", err
	}
	challenge, ok := ch.VerifySubscription(a, query)
	if !ok {
		return "", convo.Errorf(convo.EForbidden, "VERIFICATION_FAILED", "the verification request does not match this account")
	}
	return challenge, nil
}

// receivePeer finds or creates the live conversation with a peer on an
// account, learning the peer's name when the webhook carries one. live
// holds the conversations read or made so far by the batch. It returns the
// display-name lookup it queued, if any, for the caller to start.
func (s *Service) receivePeer(ctx context.Context, tx convo.Tx, a *convo.Account, p convo.InboundPeer, live map[dialogKey]*convo.Conversation) (*convo.Conversation, *peerLookup, error) {
	peer := p.Peer.Normalized()
	key := dialogKey{a.ID, p.DialogID}
	conv := live[key]
	if conv == nil {
		self := convo.SelfAddress(a)
		if self.Target == "" && p.SelfTarget != "" {
			self.Target = p.SelfTarget
		}
		name, detail := convo.AutoTitle(a.Type, peer)
		var created bool
		var err error
		conv, created, err = s.createLiveConversation(ctx, tx, &convo.Conversation{
			CustomerID: a.CustomerID, AccountID: a.ID, Type: convo.ConversationType(a.Type), DialogID: p.DialogID,
			Name: name, Detail: detail, Self: self, Peer: peer,
		})
		if err != nil {
			return nil, nil, err
		}
		live[key] = conv
		if created {
			lookup, err := s.queuePeerName(ctx, tx, a, conv)
			return conv, lookup, err
		}
	}
	if peer.TargetName != "" && peer.TargetName != conv.Peer.TargetName {
		// Reread (and on PostgreSQL lock) the row before changing it, so a
		// concurrent change, an assignment say, is not overwritten.
		fresh, err := tx.GetConversation(ctx, conv.ID)
		if err != nil {
			return nil, nil, err
		}
		conv = fresh
		live[key] = conv
		if peer.TargetName == conv.Peer.TargetName {
			return conv, nil, nil
		}
		renamePeer(conv, a.Type, peer.TargetName)
		conv.TMUpdate = s.now()
		if err := tx.UpdateConversation(ctx, conv); err != nil {
			return nil, nil, err
		}
		return conv, nil, s.emitConversation(ctx, tx, convo.EventConversationUpdated, conv)
	}
	return conv, nil, nil
}

// queuePeerName queues the lookup of a new conversation's peer name when
// the channel has names to give (LINE) and the conversation has none yet.
// The job is created claimed by this process: the caller starts the lookup
// once committed (a crash leaves the job to the poll after its lease).
func (s *Service) queuePeerName(ctx context.Context, tx convo.Tx, a *convo.Account, conv *convo.Conversation) (*peerLookup, error) {
	if conv.Peer.TargetName != "" || a.Type != convo.AccountLine {
		return nil, nil
	}
	now := s.now()
	j := &convo.Job{ID: convo.NewID(), Kind: convo.JobPeerName, RefID: conv.ID, RunAt: now, TMCreate: now,
		Attempts: 1, LockedUntil: convo.NewTime(now.Add(jobLease))}
	return &peerLookup{job: j, account: a, dialogID: conv.DialogID}, tx.CreateJob(ctx, j)
}

// renamePeer sets the peer's display name and refreshes the automatic
// title, unless a person has changed the title.
func renamePeer(conv *convo.Conversation, accountType, name string) {
	autoName, _ := convo.AutoTitle(accountType, conv.Peer)
	conv.Peer.TargetName = name
	if conv.Name == autoName {
		conv.Name, _ = convo.AutoTitle(accountType, conv.Peer)
	}
}

// applyStatus moves an outgoing message forward on a provider's report;
// reports that would move it backwards, or name no message of the account,
// change nothing.
func (s *Service) applyStatus(ctx context.Context, tx convo.Tx, accountID string, st convo.StatusReport) error {
	var msg *convo.Message
	var err error
	if id, perr := convo.ParseID(st.MessageID); perr == nil {
		msg, err = tx.GetMessage(ctx, id)
		if err == nil && (msg.AccountID != accountID || (msg.ProviderID != "" && st.ProviderID != "" && msg.ProviderID != st.ProviderID)) {
			err = convo.NotFound("MESSAGE_NOT_FOUND", "message")
		}
	} else {
		msg, err = tx.GetMessageByProviderID(ctx, accountID, st.ProviderID)
	}
	if convo.ErrorStatus(err) == convo.ENotFound {
		s.logger.Info("status report for an unknown message", "account_id", accountID, "provider_id", st.ProviderID)
		return nil
	} else if err != nil {
		return err
	}
	if msg.Direction != convo.DirectionOutgoing || convo.MessageStatusRank(st.Status) <= convo.MessageStatusRank(msg.Status) {
		return nil
	}
	if st.Status == convo.MessageFailed {
		s.logger.Warn("provider reports a message failed", "message_id", msg.ID, "detail", st.Detail)
	}
	if msg.ProviderID == "" {
		msg.ProviderID = st.ProviderID
	}
	msg.Status, msg.TMUpdate = st.Status, s.now()
	if err := tx.UpdateMessage(ctx, msg); err != nil {
		return err
	}
	return s.emitMessage(ctx, tx, convo.EventMessageUpdated, msg)
}
