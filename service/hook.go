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
	var a *convo.Account
	err = s.store.View(ctx, func(tx convo.Tx) (err error) {
		a, err = tx.GetAccount(ctx, id)
		return err
	})
	if convo.ErrorStatus(err) == convo.ENotFound || (err == nil && a.IsDeleted()) {
		return nil, nil, errNoHook
	} else if err != nil {
		return nil, nil, err
	}
	ch := s.config.Channels[a.Type]
	if ch == nil {
		return nil, nil, errNoHook
	}
	return a, ch, nil
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
	if h.Kind == convo.HookStatus {
		// Our own message id rides on the status callback URL, so a report
		// that overtakes the provider's answer to the send still finds it.
		if u, err := url.Parse(h.URL); err == nil {
			for i := range in.Statuses {
				in.Statuses[i].MessageID = u.Query().Get("message_id")
			}
		}
	}
	return s.ingest(ctx, a, in)
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

// ingest stores an inbound batch in one transaction: conversations found or
// created, messages stored once (provider retries are skipped), statuses moved forward.
func (s *Service) ingest(ctx context.Context, a *convo.Account, in *convo.Inbound) error {
	if len(in.Messages)+len(in.Follows)+len(in.Statuses) == 0 {
		return nil
	}
	var newJobs bool
	err := s.update(ctx, func(tx convo.Tx) error {
		newJobs = false
		for _, f := range in.Follows {
			if _, queued, err := s.receivePeer(ctx, tx, a, f); err != nil {
				return err
			} else if queued {
				newJobs = true
			}
		}
		for _, m := range in.Messages {
			conv, queued, err := s.receivePeer(ctx, tx, a, m.InboundPeer)
			if err != nil {
				return err
			}
			newJobs = newJobs || queued
			now := s.now()
			msg := &convo.Message{
				ID: convo.NewID(), CustomerID: a.CustomerID, ConversationID: conv.ID,
				Direction: convo.DirectionIncoming, Status: convo.MessageDone,
				ReferenceType: conv.Type, ReferenceID: a.ID, Source: conv.Peer, Destination: conv.Self,
				Text: m.Text, Medias: make([]convo.Media, 0, len(m.Medias)),
				TMCreate: now, TMUpdate: now, TMDelete: convo.Never,
				AccountID: a.ID, ProviderID: m.ProviderID,
			}
			for _, md := range m.Medias {
				msg.Medias = append(msg.Medias, convo.Media{ID: convo.NewID(), CustomerID: a.CustomerID, Type: md.Type, Filename: md.URL,
					TMCreate: now, TMUpdate: now, TMDelete: convo.Never})
			}
			if err := tx.CreateMessage(ctx, msg); convo.ErrorStatus(err) == convo.EConflict {
				continue // a provider retry of a message already stored
			} else if err != nil {
				return err
			}
			if err := s.emitMessage(ctx, tx, convo.EventMessageCreated, msg); err != nil {
				return err
			}
			started, err := s.startActiveflow(ctx, tx, a, conv, msg)
			if err != nil {
				return err
			}
			newJobs = newJobs || started
		}
		for _, st := range in.Statuses {
			if err := s.applyStatus(ctx, tx, a.ID, st); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && newJobs {
		s.wakeJobs()
	}
	return err
}

// receivePeer finds or creates the live conversation with a peer on an
// account, learning the peer's name when the webhook carries one. It
// reports whether it queued a display-name lookup.
func (s *Service) receivePeer(ctx context.Context, tx convo.Tx, a *convo.Account, p convo.InboundPeer) (*convo.Conversation, bool, error) {
	self := convo.SelfAddress(a)
	if self.Target == "" && p.SelfTarget != "" {
		self.Target = p.SelfTarget
	}
	peer := p.Peer.Normalized()
	name, detail := convo.AutoTitle(a.Type, peer)
	conv, created, err := s.findOrCreateConversation(ctx, tx, &convo.Conversation{
		CustomerID: a.CustomerID, AccountID: a.ID, Type: convo.ConversationType(a.Type), DialogID: p.DialogID,
		Name: name, Detail: detail, Self: self, Peer: peer,
	})
	if err != nil {
		return nil, false, err
	}
	if created {
		queued, err := s.queuePeerName(ctx, tx, a, conv)
		return conv, queued, err
	}
	if !created && peer.TargetName != "" && peer.TargetName != conv.Peer.TargetName {
		renamePeer(conv, a.Type, peer.TargetName)
		conv.TMUpdate = s.now()
		if err := tx.UpdateConversation(ctx, conv); err != nil {
			return nil, false, err
		}
		return conv, false, s.emitConversation(ctx, tx, convo.EventConversationUpdated, conv)
	}
	return conv, false, nil
}

// queuePeerName queues the lookup of a new conversation's peer name when
// the channel has names to give (LINE) and the conversation has none yet.
func (s *Service) queuePeerName(ctx context.Context, tx convo.Tx, a *convo.Account, conv *convo.Conversation) (bool, error) {
	if conv.Peer.TargetName != "" || a.Type != convo.AccountLine {
		return false, nil
	}
	now := s.now()
	return true, tx.CreateJob(ctx, &convo.Job{ID: convo.NewID(), Kind: convo.JobPeerName, RefID: conv.ID, RunAt: now, TMCreate: now})
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
