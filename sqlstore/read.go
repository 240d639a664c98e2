package sqlstore

import (
	"context"
	"slices"

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

// incomingAfterMark is the condition, on conversation c and the agent's
// mark r (NULL columns when it has none), that its newest incoming message
// comes after the mark: one comparison, without its messages. It is needed
// for an unread message, not enough (that message may since be deleted),
// so the messages are counted or checked only where it holds.
const incomingAfterMark = "c.tm_last_incoming > 0 AND (r.message_id IS NULL OR c.tm_last_incoming > r.tm_message OR" +
	" (c.tm_last_incoming = r.tm_message AND c.last_incoming_id > r.message_id))"

func (t *tx) UnreadCounts(ctx context.Context, agentID string, conversationIDs []string) (map[string]int, error) {
	out := map[string]int{}
	agentID, ok := canonicalID(agentID)
	if !ok {
		return out, nil
	}
	// Each mark is looked up by key. On PostgreSQL, LIMIT keeps the lookup
	// apart: a join read every mark of the agent (tens of thousands) into a
	// hash for a page of 100 conversations.
	marks := "LEFT JOIN read_marks r ON r.agent_id = ? AND r.conversation_id = c.id"
	if t.postgres {
		marks = "LEFT JOIN LATERAL (SELECT tm_message, message_id FROM read_marks WHERE agent_id = ? AND conversation_id = c.id LIMIT 1) r ON true"
	}
	err := t.byConversations(ctx, conversationIDs, func(in string) string {
		// Read conversations, most of a page, cost no walk of their messages.
		return "SELECT c.id, CASE WHEN " + incomingAfterMark + " THEN (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id AND " +
			unreadIncoming + " AND " + afterMark + ") ELSE 0 END FROM conversations c " + marks + " WHERE c.id " + in
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
// message after agentID's mark. A conversation whose newest incoming message
// is not after the mark is passed over at one lookup of the mark; the
// others' messages are checked from the mark on. Each test is a scalar
// subquery, (SELECT 1 ...) IS [NOT] NULL, rather than [NOT] EXISTS, which
// PostgreSQL may turn into a join that reads the agent's every mark or the
// conversation's every message instead of one lookup per conversation met.
func unreadFilter(f *filter, agentID string) {
	id, ok := canonicalID(agentID)
	// The nil UUID, an access key's, has read nothing and has nothing unread.
	f.none = f.none || !ok || id == convo.NilID
	mark := "FROM read_marks r WHERE r.agent_id = ? AND r.conversation_id = conversations.id"
	f.add("conversations.tm_last_incoming > 0 AND (SELECT 1 "+mark+" AND (r.tm_message > conversations.tm_last_incoming OR"+
		" (r.tm_message = conversations.tm_last_incoming AND r.message_id >= conversations.last_incoming_id))) IS NULL"+
		" AND (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id AND "+unreadIncoming+
		" AND m.tm_create >= COALESCE((SELECT r.tm_message "+mark+"), 0)"+
		" AND (SELECT 1 "+mark+" AND (m.tm_create < r.tm_message OR (m.tm_create = r.tm_message AND m.id <= r.message_id))) IS NULL LIMIT 1) IS NOT NULL", id, id, id)
}

// liveLabelIDs returns the ids of the customer's live labels of those names
// (ignoring case), each once; nil when a name has none.
func (t *tx) liveLabelIDs(ctx context.Context, customerID string, names []string) ([]string, error) {
	found, err := t.GetLiveLabelsByName(ctx, customerID, names)
	if err != nil {
		return nil, err
	}
	byName := map[string]string{}
	for _, l := range found {
		byName[folded{&l.Name}.text()] = l.ID
	}
	var ids []string
	for _, name := range names {
		id, ok := byName[folded{&name}.text()]
		if !ok {
			return nil, nil
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// rarestLabelCount is how many rows of each label a list of several counts
// to find the one to walk: past that a label is common enough that which
// is walked matters little.
const rarestLabelCount = 1000

// rarestLabel returns the index in ids of the label on the fewest
// conversations, counted up to rarestLabelCount each.
func (t *tx) rarestLabel(ctx context.Context, customerID string, ids []string) (int, error) {
	rarest, least := 0, rarestLabelCount+1
	if len(ids) == 1 {
		return rarest, nil
	}
	for i, id := range ids {
		var n int
		err := t.q.QueryRowContext(ctx, t.sql("SELECT COUNT(*) FROM (SELECT 1 FROM conversation_labels WHERE customer_id = ? AND label_id = ? LIMIT ?) AS few"),
			customerID, id, rarestLabelCount).Scan(&n)
		if err != nil {
			return 0, interpretError(err, conversationLabels)
		}
		if n < least {
			rarest, least = i, n
		}
	}
	return rarest, nil
}
