package service

import (
	"context"
	"time"

	"github.com/convohq/convo"
)

// LINE reply tokens: each inbound event carries a token that answers it
// once, for free, while a push counts against the channel's monthly quota.
// The newest token of a conversation is kept; the first send after it
// takes it (Tx.ClaimReplyToken deletes as it reads, so two concurrent
// sends never both get it) and the LINE channel decides whether it is
// still fresh enough to try.

// appendReplyToken adds the reply token an inbound event of conv carried.
func appendReplyToken(tokens []convo.ReplyToken, conv *convo.Conversation, p convo.InboundPeer, at convo.Time) []convo.ReplyToken {
	if conv == nil || p.ReplyToken == "" {
		return tokens
	}
	return append(tokens, convo.ReplyToken{ConversationID: conv.ID, Token: p.ReplyToken, TMReceive: at})
}

// replyTokenOf offers the reply token of a conversation to a send: taken,
// in a transaction of its own, only when the channel asks for it.
func (s *Service) replyTokenOf(conversationID string) convo.ReplyTokenSource {
	return func(ctx context.Context, maxAge time.Duration) (token string, err error) {
		notBefore := convo.NewTime(s.clock.Now().Add(-maxAge))
		err = s.store.Update(ctx, func(tx convo.Tx) (err error) {
			token, err = tx.ClaimReplyToken(ctx, conversationID, notBefore)
			return err
		})
		return token, err
	}
}
