package service

import (
	"context"

	"github.com/convohq/convo"
)

// ListMessages lists a conversation's messages, newest first (admin/manager,
// or the conversation's owner).
func (s *Service) ListMessages(ctx context.Context, c *convo.Caller, conversationID string, pr convo.PageRequest) (convo.List[*convo.Message], error) {
	id, allowed := parseID(conversationID, "id")
	return listPage(ctx, s, pr, allowed, func(tx convo.Tx, page convo.Page) ([]*convo.Message, error) {
		if _, err := s.visibleConversation(ctx, tx, c, id); err != nil {
			return nil, err
		}
		return tx.ListMessages(ctx, convo.MessageListParams{ConversationID: id, Page: page})
	}, func(m *convo.Message) convo.Cursor { return cursorOf(m.TMCreate, m.ID) })
}
