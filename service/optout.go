package service

import (
	"context"
	"errors"

	"github.com/convohq/convo"
)

// SMS opt-out: a peer who sends STOP (or a synonym) gets no more messages
// from the account until they send START; carriers require it and Twilio
// refuses such sends itself (error 21610). convo refuses them before they
// are stored, so an agent or a flow learns it at once.

// loadOptOuts sets PeerOptedOut on the SMS conversations of convs, one
// query for all of them.
func (s *Service) loadOptOuts(ctx context.Context, tx convo.Tx, convs ...*convo.Conversation) error {
	var keys []convo.PeerKey
	for _, c := range convs {
		if c.Type == convo.ConversationMessage {
			keys = append(keys, convo.PeerKey{AccountID: c.AccountID, DialogID: c.DialogID})
		}
	}
	if len(keys) == 0 {
		return nil
	}
	out, err := tx.PeersOptedOut(ctx, keys)
	if err != nil {
		return err
	}
	for _, c := range convs {
		c.PeerOptedOut = out[convo.PeerKey{AccountID: c.AccountID, DialogID: c.DialogID}]
	}
	return nil
}

// refuseOptedOut is the answer to a send on conv through a when its peer
// opted out; nil otherwise.
func (s *Service) refuseOptedOut(ctx context.Context, tx convo.Tx, a *convo.Account, conv *convo.Conversation) error {
	if a.Type != convo.AccountSMS {
		return nil
	}
	if err := s.loadOptOuts(ctx, tx, conv); err != nil {
		return err
	}
	if conv.PeerOptedOut {
		return convo.ErrPeerOptedOut()
	}
	return nil
}

// setConsent records a peer's opt-out or opt-in on the account of conv and,
// when that changes it, tells of the conversation's new state.
func (s *Service) setConsent(ctx context.Context, tx convo.Tx, conv *convo.Conversation, consent string) error {
	changed, err := tx.SetPeerOptOut(ctx, conv.AccountID, conv.DialogID, consent == convo.ConsentStop, s.now())
	if err != nil || !changed {
		return err
	}
	fresh, err := tx.GetConversation(ctx, conv.ID)
	if err != nil {
		return err
	}
	return s.emitConversation(ctx, tx, convo.EventConversationUpdated, fresh)
}

// markOptedOut records that the provider refused a send to the peer of d
// because they opted out (Twilio's 21610): later sends are refused at once.
func (s *Service) markOptedOut(ctx context.Context, d convo.SendRequest, sendErr error) {
	var ce *convo.ChannelError
	if !errors.As(sendErr, &ce) || !ce.PeerOptedOut {
		return
	}
	err := s.update(ctx, func(tx convo.Tx) error { return s.setConsent(ctx, tx, d.Conversation, convo.ConsentStop) })
	if err != nil {
		s.logger.Warn("opt-out not recorded", "conversation_id", d.Conversation.ID, "reason", err.Error())
	}
}
