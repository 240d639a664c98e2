package sqlstore_test

import (
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

func testAuditLogs(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	custA, custB := convo.NewID(), convo.NewID()
	agentID, keyID, convID := convo.NewID(), convo.NewID(), convo.NewID()
	entry := func(cust string, actor convo.AuditActor, action, resType, resID string, tm convo.Time, ch map[string]convo.AuditChange) *convo.AuditLog {
		return &convo.AuditLog{ID: convo.NewID(), CustomerID: cust, Actor: actor, Action: action, ResourceType: resType,
			ResourceID: resID, Changes: ch, Address: "192.0.2.1", TMCreate: tm}
	}
	byAgent := convo.AuditActor{Type: convo.ActorAgent, ID: agentID}
	byKey := convo.AuditActor{Type: convo.ActorAccessKey, ID: keyID}
	login := entry(custA, byAgent, convo.AuditLogin, convo.ResourceAgent, agentID, at(0), nil)
	assigned := entry(custA, byKey, convo.AuditAssigned, convo.ResourceConversation, convID, at(time.Second),
		map[string]convo.AuditChange{"owner_id": {Old: convo.NilID, New: agentID}})
	// Two entries of one moment still page apart by id.
	deleted := entry(custA, byKey, convo.AuditDeleted, convo.ResourceConversation, convID, at(2*time.Second), nil)
	password := entry(custA, byKey, convo.AuditPasswordChanged, convo.ResourceAgent, agentID, at(2*time.Second),
		map[string]convo.AuditChange{"password": {Old: convo.Redacted, New: convo.Redacted}})
	other := entry(custB, byKey, convo.AuditDeleted, convo.ResourceConversation, convID, at(3*time.Second), nil)
	update(t, db, func(tx convo.Tx) error {
		return createAll(ctx, tx.CreateAuditLog, login, assigned, deleted, password, other)
	})
	list := func(p convo.AuditLogListParams) []*convo.AuditLog {
		if p.Limit == 0 {
			p.Limit = 10
		}
		return read(t, db, func(tx convo.Tx) ([]*convo.AuditLog, error) { return tx.ListAuditLogs(ctx, p) })
	}
	idOf := func(a *convo.AuditLog) string { return a.ID }
	newer, older := password, deleted
	if deleted.ID > password.ID {
		newer, older = deleted, password
	}
	all := list(convo.AuditLogListParams{CustomerID: custA})
	wantIDs(t, ids(all, idOf), newer.ID, older.ID, assigned.ID, login.ID)
	login.Changes = map[string]convo.AuditChange{} // stored as {}
	same(t, all[3], login)
	if got := all[2].Changes["owner_id"]; got.Old != convo.NilID || got.New != agentID {
		t.Errorf("changes read back as %+v", all[2].Changes)
	}
	wantIDs(t, ids(list(convo.AuditLogListParams{CustomerID: custA, ActorID: agentID}), idOf), login.ID)
	wantIDs(t, ids(list(convo.AuditLogListParams{CustomerID: custA, ResourceID: agentID}), idOf), password.ID, login.ID)
	wantIDs(t, ids(list(convo.AuditLogListParams{CustomerID: custA, ResourceType: convo.ResourceConversation}), idOf), deleted.ID, assigned.ID)
	wantIDs(t, ids(list(convo.AuditLogListParams{CustomerID: custA, Action: convo.AuditDeleted}), idOf), deleted.ID)
	wantIDs(t, ids(list(convo.AuditLogListParams{CustomerID: custB, ResourceID: convID}), idOf), other.ID)
	// Paging one row at a time walks every entry once.
	var walked []string
	var after *convo.Cursor
	for range 10 {
		page := list(convo.AuditLogListParams{CustomerID: custA, Page: convo.Page{After: after, Limit: 1}})
		if len(page) == 0 {
			break
		}
		walked = append(walked, page[0].ID)
		after = &convo.Cursor{Time: page[0].TMCreate, ID: page[0].ID}
	}
	wantIDs(t, walked, ids(all, idOf)...)

	// Pruning takes the oldest first, a bounded batch at a time.
	var n int
	update(t, db, func(tx convo.Tx) (err error) { n, err = tx.PruneAuditLogs(ctx, at(2*time.Second), 1); return err })
	if n != 1 {
		t.Fatalf("pruned %d entries, want 1", n)
	}
	wantIDs(t, ids(list(convo.AuditLogListParams{CustomerID: custA}), idOf), newer.ID, older.ID, assigned.ID)
	update(t, db, func(tx convo.Tx) (err error) { n, err = tx.PruneAuditLogs(ctx, at(2*time.Second), 100); return err })
	if n != 1 {
		t.Fatalf("pruned %d entries, want 1 (those of the cut-off moment stay)", n)
	}
	wantIDs(t, ids(list(convo.AuditLogListParams{CustomerID: custA}), idOf), newer.ID, older.ID)

	// Agents keep their token version.
	a := newAgent(custA, "versioned-"+convo.NewID(), at(0))
	a.TokenVersion = 3
	update(t, db, func(tx convo.Tx) error { return tx.CreateAgent(ctx, a) })
	a.TokenVersion++
	update(t, db, func(tx convo.Tx) error { return tx.UpdateAgent(ctx, a) })
	same(t, read(t, db, func(tx convo.Tx) (*convo.Agent, error) { return tx.GetAgent(ctx, a.ID) }), a)
}
