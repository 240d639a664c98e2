package sqlstore

import (
	"context"
	"slices"
	"strings"

	"github.com/convohq/convo"
)

var conversations = newTable(
	kind{what: "conversation", notFound: convo.ReasonConversationNotFound, conflict: convo.ReasonConversationExists, conflictDetail: "a live conversation of this account and dialog exists"},
	"conversations", "id, customer_id, tm_create",
	"owner_type, owner_id, account_id, name, detail, type, dialog_id, self, peer, tm_update, tm_delete",
	"(account_id, dialog_id) WHERE "+live,
	func(c *convo.Conversation) []any {
		return []any{&c.ID, &c.CustomerID, micros{&c.TMCreate},
			&c.OwnerType, optionalID{&c.OwnerID}, &c.AccountID, &c.Name, &c.Detail, &c.Type, &c.DialogID, jsonText{&c.Self}, jsonText{&c.Peer}, micros{&c.TMUpdate}, micros{&c.TMDelete}}
	}).listedBy(
	// A dialog holds a conversation or two, live or deleted; an owner fewer
	// than an account. Live rows are walked in indexes of every row (see the
	// migration 00010).
	allBy("conversations_by_dialog", "customer_id", "dialog_id"),
	deletedBy("conversations_deleted_by_owner", "customer_id", "owner_id"),
	allBy("conversations_by_owner", "customer_id", "owner_id"),
	deletedBy("conversations_deleted_by_account", "customer_id", "account_id"),
	allBy("conversations_by_customer_account", "customer_id", "account_id"),
	deletedBy("conversations_deleted_by_customer", "customer_id"),
	allBy("conversations_by_customer", "customer_id"),
)

func (t *tx) CreateConversation(ctx context.Context, c *convo.Conversation) error {
	return conversations.insert(ctx, t, c)
}

func (t *tx) CreateNewConversation(ctx context.Context, c *convo.Conversation) error {
	return conversations.insertNew(ctx, t, []*convo.Conversation{c})
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
	return conversations.get(ctx, t, "account_id = ? AND dialog_id = ? AND "+live, accountID, dialogID)
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
			conversations.selectSQL+" WHERE account_id = ? AND dialog_id = d.want AND "+live+" LIMIT 1) c", dialogIDs, accountID)
	}
	var found []*convo.Conversation
	err := inChunks(len(dialogIDs), func(start, n int) error {
		args := make([]any, 0, 2*n)
		for _, d := range dialogIDs[start : start+n] {
			args = append(args, accountID, d)
		}
		// One exact lookup per dialog; a statement costs no round trip here.
		branch := conversations.selectSQL + " WHERE account_id = ? AND dialog_id = ? AND " + live
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
	f.equalID("account_id", p.AccountID)
	f.equal("type", p.Type)
	f.equal("dialog_id", p.DialogID)
	f.deleted(p.Deleted)
	if len(p.Labels) > 0 {
		customerID, ok := canonicalID(p.CustomerID)
		f.none = f.none || !ok
		for _, name := range p.Labels {
			labelFilter(&f, customerID, name)
		}
	}
	if p.UnreadFor != "" {
		unreadFilter(&f, p.UnreadFor)
	}
	return conversations.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateConversation(ctx context.Context, c *convo.Conversation) error {
	return conversations.update(ctx, t, c)
}
