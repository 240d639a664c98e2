package sqlstore

import (
	"context"

	"github.com/convohq/convo"
)

// Read marks: the last message an agent read of a conversation and where
// it sits (its tm_create, then its id). Unread messages are the incoming
// ones after it, found on messages_by_conversation from the mark on.

var readMarks = kind{what: "read mark", notFound: convo.ReasonReadMarkNotFound}

const readMarkColumns = "agent_id, conversation_id, message_id, tm_message, tm_update"

func (t *tx) MarkRead(ctx context.Context, m *convo.ReadMark) (*convo.ReadMark, error) {
	for _, id := range []*string{&m.AgentID, &m.ConversationID, &m.MessageID} {
		c, ok := canonicalID(*id)
		if !ok {
			return nil, convo.Invalid(convo.ReasonInvalidID, "read mark ids must be UUIDs")
		}
		*id = c
	}
	// Only forward: a mark at or after m stays as it is.
	_, err := t.q.ExecContext(ctx, t.sql("INSERT INTO read_marks ("+readMarkColumns+") VALUES (?, ?, ?, ?, ?)"+
		" ON CONFLICT (agent_id, conversation_id) DO UPDATE SET message_id = excluded.message_id, tm_message = excluded.tm_message, tm_update = excluded.tm_update"+
		" WHERE excluded.tm_message > read_marks.tm_message OR (excluded.tm_message = read_marks.tm_message AND excluded.message_id > read_marks.message_id)"),
		m.AgentID, m.ConversationID, m.MessageID, m.TMMessage.Micros(), m.TMUpdate.Micros())
	if err != nil {
		return nil, interpretError(err, readMarks)
	}
	return t.GetReadMark(ctx, m.AgentID, m.ConversationID)
}

func (t *tx) GetReadMark(ctx context.Context, agentID, conversationID string) (*convo.ReadMark, error) {
	agentID, okAgent := canonicalID(agentID)
	conversationID, ok := canonicalID(conversationID)
	if !ok || !okAgent {
		return nil, convo.NotFound(readMarks.notFound, readMarks.what)
	}
	m := &convo.ReadMark{}
	err := t.q.QueryRowContext(ctx, t.sql("SELECT "+readMarkColumns+" FROM read_marks WHERE agent_id = ? AND conversation_id = ?"), agentID, conversationID).
		Scan(&m.AgentID, &m.ConversationID, &m.MessageID, micros{&m.TMMessage}, micros{&m.TMUpdate})
	if err != nil {
		return nil, interpretError(err, readMarks)
	}
	return m, nil
}

// afterMark is the condition, on messages m and the agent's mark r (NULL
// columns when it has none), that m comes after the mark. Its first term
// bounds the walk of messages_by_conversation from the mark on.
const afterMark = "m.tm_create >= COALESCE(r.tm_message, 0) AND (r.message_id IS NULL OR m.tm_create > r.tm_message OR m.id > r.message_id)"

// unreadIncoming keeps a conversation's live incoming messages.
const unreadIncoming = "m.direction = '" + convo.DirectionIncoming + "' AND m." + live

func (t *tx) UnreadCounts(ctx context.Context, agentID string, conversationIDs []string) (map[string]int, error) {
	out := map[string]int{}
	agentID, ok := canonicalID(agentID)
	if !ok {
		return out, nil
	}
	err := t.byConversations(ctx, conversationIDs, func(in string) string {
		return "SELECT c.id, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id AND " + unreadIncoming + " AND " + afterMark + ")" +
			" FROM conversations c LEFT JOIN read_marks r ON r.agent_id = ? AND r.conversation_id = c.id WHERE c.id " + in
	}, []any{agentID}, func(r rows) error {
		var id string
		var n int
		if err := r.Scan(&id, &n); err != nil {
			return err
		}
		if n > 0 {
			out[id] = n
		}
		return nil
	})
	return out, err
}

// unreadFilter keeps, in a list of conversations, those with an incoming
// message after agentID's mark. The mark's time, read first, bounds the
// walk of the messages; the exact test of each message follows.
func unreadFilter(f *filter, agentID string) {
	id, ok := canonicalID(agentID)
	// The nil UUID, an access key's, has read nothing and has nothing unread.
	f.none = f.none || !ok || id == convo.NilID
	mark := "FROM read_marks r WHERE r.agent_id = ? AND r.conversation_id = conversations.id"
	f.add("EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id AND "+unreadIncoming+
		" AND m.tm_create >= COALESCE((SELECT r.tm_message "+mark+"), 0)"+
		" AND NOT EXISTS (SELECT 1 "+mark+" AND (m.tm_create < r.tm_message OR (m.tm_create = r.tm_message AND m.id <= r.message_id))))", id, id)
}

// labelFilter keeps, in a list of a customer's conversations, those holding
// the live label of that name (ignoring case); none when no label has it.
func labelFilter(f *filter, customerID, name string) {
	f.add("EXISTS (SELECT 1 FROM conversation_labels cl WHERE cl.conversation_id = conversations.id AND cl.label_id = "+
		"(SELECT l.id FROM labels l WHERE l.customer_id = ? AND l.name_fold = ? AND l."+live+"))", customerID, folded{&name}.text())
}

// fewLabelled is the most conversations a label may hold for its list to
// read them whole and sort them; a list of a label on more walks the
// conversations in order and checks each (labelFilter), as it meets
// enough of them soon.
var fewLabelled = 2000 // a variable for the plan tests

// labelledFew returns the conversations holding the live label of that
// name, when they are at most fewLabelled; few is false when there are more.
func (t *tx) labelledFew(ctx context.Context, customerID, name string) (ids []any, few bool, err error) {
	res, err := t.q.QueryContext(ctx, t.sql("SELECT cl.conversation_id FROM conversation_labels cl WHERE cl.label_id = "+
		"(SELECT l.id FROM labels l WHERE l.customer_id = ? AND l.name_fold = ? AND l."+live+") LIMIT ?"),
		customerID, folded{&name}.text(), fewLabelled+1)
	if err != nil {
		return nil, false, interpretError(err, conversationLabels)
	}
	defer res.Close()
	for res.Next() {
		var id string
		if err := res.Scan(&id); err != nil {
			return nil, false, interpretError(err, conversationLabels)
		}
		ids = append(ids, id)
	}
	if err := res.Err(); err != nil {
		return nil, false, interpretError(err, conversationLabels)
	}
	return ids, len(ids) <= fewLabelled, nil
}
