package service

import (
	"context"

	"github.com/convohq/convo"
)

// ListMessages lists a conversation's messages, newest first (admin/manager,
// or the conversation's owner).
func (s *Service) ListMessages(ctx context.Context, c *convo.Caller, conversationID string, pr convo.PageRequest) (convo.List[*convo.Message], error) {
	var rows []*convo.Message
	id, err := parseID(conversationID, "id")
	var page convo.Page
	if err == nil {
		page, err = pr.Page()
	}
	if err == nil {
		err = s.store.View(ctx, func(tx convo.Tx) error {
			if _, err := s.visibleConversation(ctx, tx, c, id); err != nil {
				return err
			}
			rows, err = tx.ListMessages(ctx, convo.MessageListParams{ConversationID: id, Page: page})
			return err
		})
	}
	return convo.NewList(pr, rows, func(m *convo.Message) convo.Cursor { return cursorOf(m.TMCreate, m.ID) }), err
}
