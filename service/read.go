package service

import (
	"context"

	"github.com/convohq/convo"
)

// Read state: each agent marks how far it has read a conversation; a
// conversation's unread_count is, for the calling agent, the incoming
// messages after its mark. The agent's other tabs learn of a new mark on
// their realtime streams (conversation_read), which nobody else gets.

// ReadInput is the body of POST /conversations/{id}/read.
type ReadInput struct {
	MessageID *string `json:"message_id"`
}

// MarkRead records that the calling agent has read a conversation it may
// see up to a message of it. The mark only moves forward: a message before
// it changes nothing. An access key has no read state (403, once the
// conversation is found).
func (s *Service) MarkRead(ctx context.Context, c *convo.Caller, conversationID string, in ReadInput) (*convo.ReadState, error) {
	id, err := parseID(conversationID, "id")
	if err != nil {
		return nil, err
	}
	if in.MessageID == nil {
		return nil, convo.Invalid(convo.ReasonInvalidID, "message_id is required: the last message read")
	}
	messageID, err := parseID(*in.MessageID, "message_id")
	if err != nil {
		return nil, err
	}
	var state *convo.ReadState
	err = s.update(ctx, func(tx convo.Tx) error {
		conv, err := s.visibleConversation(ctx, tx, c, id)
		if err != nil {
			return err
		}
		// After the lookup, so that a missing conversation is 404 for every caller.
		if !isAgent(c) {
			return convo.Errorf(convo.EForbidden, convo.ReasonReadNeedsAgent, "read state is an agent's own: an access key has none")
		}
		msg, err := tx.GetMessage(ctx, messageID)
		if convo.ErrorStatus(err) == convo.ENotFound || (err == nil && msg.ConversationID != conv.ID) {
			return convo.Invalid(convo.ReasonMessageNotFound, "message_id names no message of this conversation")
		} else if err != nil {
			return err
		}
		before, err := tx.GetReadMark(ctx, c.AgentID, conv.ID)
		if convo.ErrorStatus(err) == convo.ENotFound {
			before, err = &convo.ReadMark{MessageID: convo.NilID}, nil
		} else if err != nil {
			return err
		}
		mark, err := tx.MarkRead(ctx, &convo.ReadMark{AgentID: c.AgentID, ConversationID: conv.ID, MessageID: msg.ID, TMMessage: msg.TMCreate, TMUpdate: s.now()})
		if err != nil {
			return err
		}
		counts, err := tx.UnreadCounts(ctx, c.AgentID, []string{conv.ID})
		if err != nil {
			return err
		}
		state = &convo.ReadState{ConversationID: conv.ID, AgentID: c.AgentID, MessageID: mark.MessageID, UnreadCount: counts[conv.ID]}
		if mark.MessageID == before.MessageID {
			return nil // the mark was at or after the message already
		}
		return s.emitRead(ctx, tx, c, state)
	})
	return state, err
}

// emitRead writes a conversation_read event for the agent's own streams
// alone: its audience keeps it from webhooks and from everybody else.
func (s *Service) emitRead(ctx context.Context, tx convo.Tx, c *convo.Caller, state *convo.ReadState) error {
	payload, err := convo.EventPayload(convo.EventConversationRead, state)
	if err != nil {
		return err
	}
	e := s.newEvent(convo.EventConversationRead, c.CustomerID, state.ConversationID, state.ConversationID, payload)
	e.AudienceID = c.AgentID
	return tx.CreateEvent(ctx, e)
}
