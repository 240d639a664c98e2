package sqlstore

import (
	"context"
	"slices"
	"strings"

	"github.com/convohq/convo"
)

// The last message, activity and WhatsApp window are fixed columns:
// written by the insert and by TouchConversations, never by the update of
// the whole row, so that neither undoes the other.
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
	customerID, ok := canonicalID(p.CustomerID)
	if len(p.Labels) > 0 {
		f.none = f.none || !ok
		for _, name := range p.Labels {
			labelFilter(&f, customerID, name)
		}
	}
	if p.UnreadFor != "" {
		unreadFilter(&f, p.UnreadFor)
	}
	if len(p.Labels) > 0 && !f.none {
		// A rare label's conversations are read by id: a walk in order
		// would check most of the customer's to fill a page.
		ids, few, err := t.labelledFew(ctx, customerID, p.Labels[0])
		if err != nil {
			return nil, err
		}
		if few {
			return conversations.listAmong(ctx, t, f, p.Page, "sqlite_autoindex_conversations_1", ids)
		}
	}
	return conversations.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateConversation(ctx context.Context, c *convo.Conversation) error {
	return conversations.update(ctx, t, c)
}

// touchSQL moves a conversation's last message forward: a touch older than
// the one recorded changes nothing; of two at the same microsecond the
// later write wins. Never (no message yet) is the greatest time, hence its
// own case. An incoming WhatsApp message's touch also moves the window
// forward (0: no window), whether or not its message is the newest.
const (
	touchNewer  = "(tm_last_message = 253370764800000000 OR tm_last_message <= ?)"
	windowNewer = "(? > 0 AND (whatsapp_window_expires = 253370764800000000 OR whatsapp_window_expires < ?))"
	touchSQL    = "tm_activity = ?, tm_last_message = ?, last_message = ? WHERE id = ? AND " + touchNewer
	// touchWindowSQL is touchSQL for a touch that opens a window.
	touchWindowSQL = "tm_activity = CASE WHEN " + touchNewer + " THEN ? ELSE tm_activity END, " +
		"last_message = CASE WHEN " + touchNewer + " THEN ? ELSE last_message END, " +
		"tm_last_message = CASE WHEN " + touchNewer + " THEN ? ELSE tm_last_message END, " +
		"whatsapp_window_expires = CASE WHEN " + windowNewer + " THEN ? ELSE whatsapp_window_expires END " +
		"WHERE id = ? AND (" + touchNewer + " OR " + windowNewer + ")"
)

func (t *tx) TouchConversations(ctx context.Context, touches []convo.Touch) error {
	if len(touches) == 0 {
		return nil
	}
	// In id order, as LockConversations locks, so that two writers of the
	// same rows cannot each wait for the other.
	touches = slices.Clone(touches)
	slices.SortStableFunc(touches, func(a, b convo.Touch) int { return strings.Compare(a.ConversationID, b.ConversationID) })
	type touchRow struct {
		id         string
		us, window int64
		text       string
	}
	rows := make([]touchRow, 0, len(touches))
	windows := false
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
		var window int64
		if !tc.WindowExpires.IsZero() {
			window, windows = tc.WindowExpires.Micros(), true
		}
		rows = append(rows, touchRow{id, last.TMCreate.Micros(), window, text})
	}
	if t.postgres {
		// One statement for the whole batch; the rows travel as arrays.
		ids, times, texts, wins := make([]string, len(rows)), make([]int64, len(rows)), make([]string, len(rows)), make([]int64, len(rows))
		for i, r := range rows {
			ids[i], times[i], texts[i], wins[i] = r.id, r.us, r.text, r.window
		}
		if !windows {
			return t.execLater(ctx, conversations.kind, "UPDATE conversations c SET tm_activity = v.us, tm_last_message = v.us, last_message = v.last "+
				"FROM unnest(?::uuid[], ?::bigint[], ?::text[]) AS v(id, us, last) "+
				"WHERE c.id = v.id AND (c.tm_last_message = 253370764800000000 OR c.tm_last_message <= v.us)", ids, times, texts)
		}
		newer := "(c.tm_last_message = 253370764800000000 OR c.tm_last_message <= v.us)"
		window := "(v.win > 0 AND (c.whatsapp_window_expires = 253370764800000000 OR c.whatsapp_window_expires < v.win))"
		return t.execLater(ctx, conversations.kind, "UPDATE conversations c SET "+
			"tm_activity = CASE WHEN "+newer+" THEN v.us ELSE c.tm_activity END, "+
			"tm_last_message = CASE WHEN "+newer+" THEN v.us ELSE c.tm_last_message END, "+
			"last_message = CASE WHEN "+newer+" THEN v.last ELSE c.last_message END, "+
			"whatsapp_window_expires = CASE WHEN "+window+" THEN v.win ELSE c.whatsapp_window_expires END "+
			"FROM unnest(?::uuid[], ?::bigint[], ?::text[], ?::bigint[]) AS v(id, us, last, win) "+
			"WHERE c.id = v.id AND ("+newer+" OR "+window+")", ids, times, texts, wins)
	}
	for _, r := range rows {
		var err error
		if r.window == 0 {
			err = t.execLater(ctx, conversations.kind, "UPDATE conversations SET "+touchSQL, r.us, r.us, r.text, r.id, r.us)
		} else {
			err = t.execLater(ctx, conversations.kind, "UPDATE conversations SET "+touchWindowSQL,
				r.us, r.us, r.us, r.text, r.us, r.us, r.window, r.window, r.window, r.id, r.us, r.window, r.window)
		}
		if err != nil {
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
