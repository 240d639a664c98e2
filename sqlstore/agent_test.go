package sqlstore_test

import (
	"slices"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

func testAgents(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	custA, custB := convo.NewID(), convo.NewID()
	name := "agent-" + convo.NewID()
	a1 := newAgent(custA, name, at(0))
	a1.TagIDs, a1.Addresses = nil, nil
	busy := newAgent(custA, "busy-"+convo.NewID(), at(time.Second))
	busy.Status = convo.AgentBusy
	other := newAgent(custB, "other-"+convo.NewID(), at(2*time.Second))
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateAgent, a1, busy, other) })

	got := read(t, db, func(tx convo.Tx) (*convo.Agent, error) { return tx.GetAgent(ctx, a1.ID) })
	a1.TagIDs, a1.Addresses = []string{}, []convo.Address{}
	same(t, got, a1)
	wantJSON(t, got, `"tag_ids":[]`, `"addresses":[]`)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Agent, error) { return tx.GetAgent(ctx, busy.ID) }), busy)

	// A live username is taken; the failed insert leaves the transaction usable.
	sameName := newAgent(custB, name, at(3*time.Second))
	err := db.Update(ctx, func(tx convo.Tx) error {
		wantErr(t, tx.CreateAgent(ctx, sameName), convo.EConflict, convo.ReasonUsernameTaken)
		return tx.CreateAgent(ctx, newAgent(custB, "after-conflict-"+convo.NewID(), at(3*time.Second)))
	})
	if err != nil {
		t.Fatalf("insert after a conflict: %v", err)
	}

	// Once the holder is deleted the username is free again.
	a1.TMDelete, a1.TMUpdate = at(time.Hour), at(time.Hour)
	update(t, db, func(tx convo.Tx) error {
		if err := tx.UpdateAgent(ctx, a1); err != nil {
			return err
		}
		return tx.CreateAgent(ctx, sameName)
	})
	byName := read(t, db, func(tx convo.Tx) (*convo.Agent, error) { return tx.GetAgentByUsername(ctx, name) })
	same(t, byName, sameName)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Agent, error) { return tx.GetAgent(ctx, a1.ID) }), a1)
	_, err = readErr(db, func(tx convo.Tx) (*convo.Agent, error) { return tx.GetAgentByUsername(ctx, "nobody-"+convo.NewID()) })
	wantErr(t, err, convo.ENotFound, convo.ReasonAgentNotFound)
	_, err = readErr(db, func(tx convo.Tx) (*convo.Agent, error) { return tx.GetAgent(ctx, convo.NewID()) })
	wantErr(t, err, convo.ENotFound, convo.ReasonAgentNotFound)
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.UpdateAgent(ctx, newAgent(custA, "x", base)) })
	wantErr(t, err, convo.ENotFound, convo.ReasonAgentNotFound)

	agentIDs := func(p convo.AgentListParams) []string {
		list := read(t, db, func(tx convo.Tx) ([]*convo.Agent, error) { return tx.ListAgents(ctx, p) })
		return ids(list, func(a *convo.Agent) string { return a.ID })
	}
	wantIDs(t, agentIDs(convo.AgentListParams{CustomerID: custA, Page: convo.Page{Limit: 10}}), busy.ID)
	wantIDs(t, agentIDs(convo.AgentListParams{CustomerID: custA, Status: convo.AgentAvailable, Page: convo.Page{Limit: 10}}))
	if got := agentIDs(convo.AgentListParams{CustomerID: custB, Page: convo.Page{Limit: 10}}); len(got) != 3 || slices.Contains(got, busy.ID) {
		t.Errorf("customer B lists %v", got)
	}
}
