package sqlstore

import (
	"context"
	"slices"
	"strings"

	"github.com/convohq/convo"
)

// The last message, activity and WhatsApp window are fixed columns:
// written by the insert and by TouchConversations, never by the update of
// the whole row, so that neither undoes the other. The newest incoming
// message (tm_last_incoming, last_incoming_id; migration 00021) is the
// store's own, kept by the touch alone and never read into a conversation.
var conversations = newTable(
	kind{what: "conversation", notFound: convo.ReasonConversationNotFound, conflict: convo.ReasonConversationExists, conflictDetail: "a live conversation of this account and dialog exists"},
	"conversations", "id, customer_id, tm_create, tm_activity, tm_last_message, last_message, whatsapp_window_expires",
	"owner_type, owner_id, account_id, name, detail, type, dialog_id, self, peer, status, snoozed_until, tm_update, tm_delete",
	"(account_id, dialog_id) WHERE "+liveDialog,
	func(c *convo.Conversation) []any {
		return []any{&c.ID, &c.CustomerID, micros{&c.TMCreate}, micros{&c.TMActivity}, micros{&c.TMLastMessage}, optionalJSON{&c.LastMessage}, micros{&c.WhatsAppWindowExpires},
			&c.OwnerType, optionalID{&c.OwnerID}, &c.AccountID, &c.Name, &c.Detail, &c.Type, &c.DialogID, jsonText{&c.Self}, jsonText{&c.Peer},
			&c.Status, micros{&c.SnoozedUntil}, micros{&c.TMUpdate}, micros{&c.TMDelete}}
	}).listedBy(
	// A dialog holds a conversation or two, live or deleted; an owner fewer
	// than an account. Live rows are walked in indexes of every row (see the
	// migration 00010). Lists by last activity walk the indexes of
	// migration 00016; a status, or an owner (the unassigned queue is the
	// nil owner), leads where the list compares it.
	fewBy("conversations_by_dialog", "customer_id", "dialog_id"),
	orderedBy("tm_activity", "conversations_activity_by_owner_status", "customer_id", "owner_id", "status"),
	orderedBy("tm_activity", "conversations_activity_by_owner", "customer_id", "owner_id"),
	orderedBy("tm_activity", "conversations_activity_by_status", "customer_id", "status"),
	orderedBy("tm_activity", "conversations_activity_by_customer", "customer_id"),
	deletedBy("conversations_deleted_by_owner", "customer_id", "owner_id"),
	allBy("conversations_by_owner", "customer_id", "owner_id"),
	deletedBy("conversations_deleted_by_account", "customer_id", "account_id"),
	allBy("conversations_by_customer_account", "customer_id", "account_id"),
	deletedBy("conversations_deleted_by_customer", "customer_id"),
	allBy("conversations_by_customer", "customer_id"),
)

// liveDialog selects the live conversation of each (account, dialog): not
// deleted, not superseded by a newer one. It must match the unique index
// conversations_live_dialog, which keeps one such row per pair.
const liveDialog = live + " AND superseded = 0"

func (t *tx) CreateConversation(ctx context.Context, c *convo.Conversation) error {
	withActivity(c)
	return conversations.insert(ctx, t, c)
}

func (t *tx) CreateNewConversation(ctx context.Context, c *convo.Conversation) error {
	withActivity(c)
	return conversations.insertNew(ctx, t, []*convo.Conversation{c})
}

// withActivity sets an unset activity to the creation time: the zero Time
// would be stored as Never, at the head of every list by last message. An
// unset window is Never, as it is read back.
func withActivity(c *convo.Conversation) {
	if c.TMActivity.IsZero() {
		c.TMActivity = c.TMCreate
	}
	if c.WhatsAppWindowExpires.IsZero() {
		c.WhatsAppWindowExpires = convo.Never
	}
}

func (t *tx) GetConversation(ctx context.Context, id string) (*convo.Conversation, error) {
	return conversations.getByID(ctx, t, id)
}

func (t *tx) LockConversations(ctx context.Context, ids []string) error {
	if !t.lockRows {
		return nil
	}
	var canonical []string
	for _, id := range ids {
		if id, ok := canonicalID(id); ok {
			canonical = append(canonical, id)
		}
	}
	if len(canonical) == 0 {
		return nil
	}
	// Locked one by one in id order, so that two transactions locking the
	// same rows cannot each wait for the other. A statement per row: over
	// an array of ids, PostgreSQL planned the statement anew at every call
	// (~180 µs), as the few ids of a call always looked cheaper than its
	// generic plan; a lookup by key keeps its cached plan.
	slices.Sort(canonical)
	for _, id := range slices.Compact(canonical) {
		t.lockLater(conversations.name, id)
		if err := t.execLater(ctx, conversations.kind, "SELECT 1 FROM conversations WHERE id = ? FOR UPDATE", id); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) GetLiveConversation(ctx context.Context, accountID, dialogID string) (*convo.Conversation, error) {
	accountID, ok := canonicalID(accountID)
	if !ok {
		return nil, convo.NotFound(conversations.notFound, conversations.what)
	}
	return conversations.get(ctx, t, "account_id = ? AND dialog_id = ? AND "+liveDialog, accountID, dialogID)
}

func (t *tx) GetLiveConversations(ctx context.Context, accountID string, dialogIDs []string) ([]*convo.Conversation, error) {
	accountID, ok := canonicalID(accountID)
	if !ok || len(dialogIDs) == 0 {
		return []*convo.Conversation{}, nil
	}
	if t.postgres {
		// One statement for any number of dialogs (a statement is a round
		// trip), each looked up by index. LIMIT keeps the lookup apart: a
		// join's cached generic plan, made while the table was young, walked
		// the account's whole index range instead.
		return conversations.query(ctx, t, "SELECT c.* FROM unnest(?::text[]) AS d(want) CROSS JOIN LATERAL ("+
			conversations.selectSQL+" WHERE account_id = ? AND dialog_id = d.want AND "+liveDialog+" LIMIT 1) c", dialogIDs, accountID)
	}
	var found []*convo.Conversation
	err := inChunks(len(dialogIDs), func(start, n int) error {
		args := make([]any, 0, 2*n)
		for _, d := range dialogIDs[start : start+n] {
			args = append(args, accountID, d)
		}
		// One exact lookup per dialog; a statement costs no round trip here.
		branch := conversations.selectSQL + " WHERE account_id = ? AND dialog_id = ? AND " + liveDialog
		rows, err := conversations.query(ctx, t, branch+strings.Repeat(" UNION ALL "+branch, n-1), args...)
		found = append(found, rows...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

func (t *tx) ListConversations(ctx context.Context, p convo.ConversationListParams) ([]*convo.Conversation, error) {
	var f filter
	f.equalID("customer_id", p.CustomerID)
	f.equalID("owner_id", p.OwnerID)
	if p.Unassigned {
		f.equalID("owner_id", convo.NilID)
	}
	f.equalID("account_id", p.AccountID)
	f.equal("type", p.Type)
	f.equal("dialog_id", p.DialogID)
	f.oneOf("status", p.Statuses)
	f.deleted(p.Deleted)
	if p.ByActivity {
		f.order = "tm_activity"
	}
	if p.UnreadFor != "" {
		unreadFilter(&f, p.UnreadFor)
	}
	if len(p.Labels) == 0 {
		return conversations.list(ctx, t, f, p.Page)
	}
	customerID, ok := canonicalID(p.CustomerID)
	f.none = f.none || !ok
	var ids []string
	walk := 0
	if !f.none {
		var err error
		if ids, err = t.liveLabelIDs(ctx, customerID, p.Labels); err != nil {
			return nil, err
		}
		f.none = ids == nil
	}
	if !f.none {
		// All must match: the rarest label's rows are walked, the others
		// checked on the conversations met.
		var err error
		if walk, err = t.rarestLabel(ctx, customerID, ids); err != nil {
			return nil, err
		}
		for i, id := range ids {
			if i != walk {
				// A lookup by key per conversation met (see unreadFilter).
				f.add("(SELECT 1 FROM conversation_labels x WHERE x.conversation_id = conversations.id AND x.label_id = ?) IS NOT NULL", id)
			}
		}
	}
	return t.listLabelled(ctx, f, p.Page, customerID, ids, walk)
}

// labelledColumnsSQL selects the columns of conversations joined with
// their label rows.
var labelledColumnsSQL = "SELECT conversations." + strings.Join(conversations.columns, ", conversations.") + " FROM "

// listLabelled is the list of f among the conversations holding the label
// labelIDs[walk] (f checks the others): it walks the label's rows in the
// list's order, which carry their conversation's order keys
// (conversation_labels_by_activity, _by_time), checks each conversation met
// against f and stops at the page's end, however many or few of the
// customer's conversations hold the label.
func (t *tx) listLabelled(ctx context.Context, f filter, p convo.Page, customerID string, labelIDs []string, walk int) ([]*convo.Conversation, error) {
	order, index := f.orderColumn(), "conversation_labels_by_time"
	if order == "tm_activity" {
		index = "conversation_labels_by_activity"
	}
	var conds []string
	var args []any
	if p.After != nil {
		cond, after, err := cursorAfter(p.After, "cl."+order, "cl.conversation_id")
		if err != nil {
			return nil, err
		}
		conds, args = append(conds, cond), append(args, after...)
	}
	if f.none {
		return []*convo.Conversation{}, nil
	}
	conds, args = append([]string{"cl.customer_id = ? AND cl.label_id = ?"}, conds...), append([]any{customerID, labelIDs[walk]}, args...)
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	// Looked up by key, every term of f is checked on the conversation.
	f.qualify = "conversations."
	where, more := f.where(&listIndex{name: "sqlite_autoindex_conversations_1"})
	labelRows := "conversation_labels AS cl"
	if !t.postgres {
		// CROSS JOIN keeps SQLite's join in this order.
		labelRows += " INDEXED BY " + index
	}
	query := labelledColumnsSQL + labelRows + " CROSS JOIN " + t.walking(conversations.name, &listIndex{name: "sqlite_autoindex_conversations_1"}) +
		" WHERE conversations.id = cl.conversation_id AND " + strings.Join(conds, " AND ") + " AND " + where +
		" ORDER BY cl." + order + " DESC, cl.conversation_id DESC LIMIT ?"
	res, err := t.queryInOrder(ctx, query, slices.Concat(args, more, []any{limit})...)
	return conversations.read(t, res, err)
}

func (t *tx) UpdateConversation(ctx context.Context, c *convo.Conversation) error {
	return conversations.update(ctx, t, c)
}

// A touch moves a conversation's last message forward: a touch older than
// the one recorded changes nothing; of two at the same microsecond the
// later write wins. Never (no message yet) is the greatest time, hence its
// own case. An incoming message's touch also moves the newest incoming
// message forward, by (tm_create, id) as read marks compare messages, even
// when a later message of either direction came first, and an incoming
// WhatsApp message's moves the window forward. ?1 is the message's time, ?2
// its last_message text, ?3 its id (the nil UUID for an outgoing message),
// ?4 the conversation, ?5 the window's new end (0: no window).
const (
	touchFresh    = "(tm_last_message = 253370764800000000 OR tm_last_message <= ?1)"
	touchIncoming = "(?3 <> '" + convo.NilID + "' AND (tm_last_incoming < ?1 OR (tm_last_incoming = ?1 AND last_incoming_id < ?3)))"
	touchWindow   = "(?5 > 0 AND (whatsapp_window_expires = 253370764800000000 OR whatsapp_window_expires < ?5))"
	touchSQL      = "UPDATE conversations SET tm_activity = CASE WHEN " + touchFresh + " THEN ?1 ELSE tm_activity END," +
		" tm_last_message = CASE WHEN " + touchFresh + " THEN ?1 ELSE tm_last_message END," +
		" last_message = CASE WHEN " + touchFresh + " THEN ?2 ELSE last_message END," +
		" tm_last_incoming = CASE WHEN " + touchIncoming + " THEN ?1 ELSE tm_last_incoming END," +
		" last_incoming_id = CASE WHEN " + touchIncoming + " THEN ?3 ELSE last_incoming_id END," +
		" whatsapp_window_expires = CASE WHEN " + touchWindow + " THEN ?5 ELSE whatsapp_window_expires END" +
		" WHERE id = ?4 AND (" + touchFresh + " OR " + touchIncoming + " OR " + touchWindow + ")"
	// The label rows of a conversation carry its activity, the order of
	// the lists of a label (one more write per message of a labelled
	// conversation; none for one without labels).
	touchLabelsSQL = "UPDATE conversation_labels SET tm_activity = (SELECT c.tm_activity FROM conversations c WHERE c.id = ?1)" +
		" WHERE conversation_id = ?1 AND tm_activity <> (SELECT c.tm_activity FROM conversations c WHERE c.id = ?1)"
)

// touchPostgresSQL is touchSQL and touchLabelsSQL for a batch, in one statement.
var touchPostgresSQL = "WITH touched AS (UPDATE conversations c SET " +
	"tm_activity = CASE WHEN " + pgTouch(touchFresh) + " THEN v.us ELSE c.tm_activity END, " +
	"tm_last_message = CASE WHEN " + pgTouch(touchFresh) + " THEN v.us ELSE c.tm_last_message END, " +
	"last_message = CASE WHEN " + pgTouch(touchFresh) + " THEN v.last ELSE c.last_message END, " +
	"tm_last_incoming = CASE WHEN " + pgTouch(touchIncoming) + " THEN v.us ELSE c.tm_last_incoming END, " +
	"last_incoming_id = CASE WHEN " + pgTouch(touchIncoming) + " THEN v.mid ELSE c.last_incoming_id END, " +
	"whatsapp_window_expires = CASE WHEN " + pgTouch(touchWindow) + " THEN v.win ELSE c.whatsapp_window_expires END " +
	"FROM unnest(?::uuid[], ?::bigint[], ?::text[], ?::uuid[], ?::bigint[]) AS v(id, us, last, mid, win) " +
	"WHERE c.id = v.id AND (" + pgTouch(touchFresh) + " OR " + pgTouch(touchIncoming) + " OR " + pgTouch(touchWindow) + ") RETURNING c.id, c.tm_activity) " +
	"UPDATE conversation_labels cl SET tm_activity = t.tm_activity FROM touched t WHERE cl.conversation_id = t.id AND cl.tm_activity <> t.tm_activity"

// pgTouch writes a touch condition over the batch's row v of conversation c.
func pgTouch(cond string) string {
	return strings.NewReplacer("?1", "v.us", "?3", "v.mid", "?5", "v.win", "tm_last_message", "c.tm_last_message",
		"tm_last_incoming", "c.tm_last_incoming", "last_incoming_id", "c.last_incoming_id",
		"whatsapp_window_expires", "c.whatsapp_window_expires").Replace(cond)
}

func (t *tx) TouchConversations(ctx context.Context, touches []convo.Touch) error {
	if len(touches) == 0 {
		return nil
	}
	// In id order, as LockConversations locks, so that two writers of the
	// same rows cannot each wait for the other.
	touches = slices.Clone(touches)
	slices.SortStableFunc(touches, func(a, b convo.Touch) int { return strings.Compare(a.ConversationID, b.ConversationID) })
	n := len(touches)
	ids, times, texts, incoming, windows := make([]string, 0, n), make([]int64, 0, n), make([]string, 0, n), make([]string, 0, n), make([]int64, 0, n)
	for _, tc := range touches {
		id, ok := canonicalID(tc.ConversationID)
		if !ok {
			return convo.NotFound(conversations.notFound, conversations.what)
		}
		last := tc.Message
		text, err := optionalJSON{&last}.text()
		if err != nil {
			return err
		}
		mid := convo.NilID
		if last.Direction == convo.DirectionIncoming {
			if mid, ok = canonicalID(last.ID); !ok {
				return convo.Invalid(convo.ReasonInvalidID, "message id %q is not a UUID", last.ID)
			}
		}
		var window int64
		if !tc.WindowExpires.IsZero() {
			window = tc.WindowExpires.Micros()
		}
		ids, times, texts, incoming = append(ids, id), append(times, last.TMCreate.Micros()), append(texts, text), append(incoming, mid)
		windows = append(windows, window)
	}
	if t.postgres {
		// One statement for the whole batch; the rows travel as arrays.
		return t.execLater(ctx, conversations.kind, touchPostgresSQL, ids, times, texts, incoming, windows)
	}
	for i, id := range ids {
		if err := t.execLater(ctx, conversations.kind, touchSQL, times[i], texts[i], incoming[i], id, windows[i]); err != nil {
			return err
		}
		if err := t.execLater(ctx, conversations.kind, touchLabelsSQL, id); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) SupersedeConversation(ctx context.Context, id string) (bool, error) {
	id, ok := canonicalID(id)
	if !ok {
		return false, nil
	}
	res, err := t.q.ExecContext(ctx, t.sql("UPDATE conversations SET superseded = 1 WHERE id = ? AND status = ? AND "+liveDialog), id, convo.StatusResolved)
	if err != nil {
		return false, interpretError(err, conversations.kind)
	}
	n, err := res.RowsAffected()
	return n > 0, interpretError(err, conversations.kind)
}

func (t *tx) ListIdleConversations(ctx context.Context, p convo.IdleConversationParams) ([]*convo.Conversation, error) {
	customerID, ok1 := canonicalID(p.CustomerID)
	accountID, ok2 := canonicalID(p.AccountID)
	if !ok1 || !ok2 {
		return []*convo.Conversation{}, nil
	}
	// Walks the customer's rows of the status from the oldest activity on
	// and stops at Before; other accounts' rows are checked on the way.
	res, err := t.queryInOrder(ctx, conversations.columnsSQL+t.walking(conversations.name, &listIndex{name: "conversations_activity_by_status"})+
		" WHERE customer_id = ? AND status = ? AND tm_activity < ? AND (account_id = ?) IS TRUE AND "+live+" ORDER BY tm_activity, id LIMIT ?",
		customerID, p.Status, p.Before.Micros(), accountID, max(p.Limit, 1))
	return conversations.read(t, res, err)
}
