package sqlstore_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

func newTag(customerID, name string, tm convo.Time) *convo.Tag {
	return &convo.Tag{ID: convo.NewID(), CustomerID: customerID, Name: name, Detail: "team", TMCreate: tm, TMUpdate: tm, TMDelete: convo.Never}
}

func testTags(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	custA, custB := convo.NewID(), convo.NewID()
	t1, t2, gone, other := newTag(custA, "vip", at(0)), newTag(custA, "billing", at(time.Second)), newTag(custA, "old", at(2*time.Second)), newTag(custB, "vip", at(3*time.Second))
	gone.TMDelete = at(time.Hour)
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateTag, t1, t2, gone, other) })

	for _, want := range []*convo.Tag{t1, t2, gone, other} {
		same(t, read(t, db, func(tx convo.Tx) (*convo.Tag, error) { return tx.GetTag(ctx, want.ID) }), want)
	}
	_, err := readErr(db, func(tx convo.Tx) (*convo.Tag, error) { return tx.GetTag(ctx, convo.NewID()) })
	wantErr(t, err, convo.ENotFound, convo.ReasonTagNotFound)
	_, err = readErr(db, func(tx convo.Tx) (*convo.Tag, error) { return tx.GetTag(ctx, "not-a-uuid") })
	wantErr(t, err, convo.ENotFound, convo.ReasonTagNotFound)

	// A name is unique among a customer's live tags.
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.CreateTag(ctx, newTag(custA, "vip", at(4*time.Second))) })
	wantErr(t, err, convo.EConflict, convo.ReasonTagNameTaken)
	update(t, db, func(tx convo.Tx) error { return tx.CreateTag(ctx, newTag(custA, "old", at(4*time.Second))) })
	err = db.Update(ctx, func(tx convo.Tx) error {
		g, err := tx.GetTag(ctx, t2.ID)
		if err != nil {
			return err
		}
		g.Name = "vip"
		return tx.UpdateTag(ctx, g)
	})
	wantErr(t, err, convo.EConflict, convo.ReasonTagNameTaken)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Tag, error) { return tx.GetTag(ctx, t2.ID) }), t2)

	t2.Name, t2.Detail, t2.TMUpdate = "sales", "renamed", at(time.Minute)
	update(t, db, func(tx convo.Tx) error { return tx.UpdateTag(ctx, t2) })
	same(t, read(t, db, func(tx convo.Tx) (*convo.Tag, error) { return tx.GetTag(ctx, t2.ID) }), t2)
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.UpdateTag(ctx, newTag(custA, "nobody", base)) })
	wantErr(t, err, convo.ENotFound, convo.ReasonTagNotFound)

	list := read(t, db, func(tx convo.Tx) ([]*convo.Tag, error) {
		return tx.ListTags(ctx, convo.TagListParams{CustomerID: custA, Page: convo.Page{Limit: 2}})
	})
	tagIDs := ids(list, func(g *convo.Tag) string { return g.ID })
	if len(tagIDs) != 2 || slices.Contains(tagIDs, gone.ID) || slices.Contains(tagIDs, other.ID) || tagIDs[1] != t2.ID {
		t.Errorf("customer A lists %v", tagIDs)
	}

	// Live tags of the customer among ids: not deleted ones, not another's.
	live := read(t, db, func(tx convo.Tx) ([]*convo.Tag, error) {
		return tx.GetLiveTags(ctx, custA, []string{t1.ID, strings.ToUpper(t2.ID), gone.ID, other.ID, convo.NewID(), "nope"})
	})
	if got := ids(live, func(g *convo.Tag) string { return g.ID }); !sameSet(got, []string{t1.ID, t2.ID}) {
		t.Errorf("live tags %v, want %s and %s", got, t1.ID, t2.ID)
	}
	update(t, db, func(tx convo.Tx) error {
		live, err := tx.GetLiveTags(ctx, custA, []string{t1.ID})
		if err == nil && len(live) != 1 {
			t.Errorf("in an Update: live tags %v", live)
		}
		return err
	})
	if got := read(t, db, func(tx convo.Tx) ([]*convo.Tag, error) { return tx.GetLiveTags(ctx, custA, nil) }); len(got) != 0 {
		t.Errorf("no ids: %v", got)
	}

	// The agents holding a tag.
	holder, both, untagged, deletedHolder, otherHolder := newAgent(custA, "h-"+convo.NewID(), base), newAgent(custA, "b-"+convo.NewID(), base),
		newAgent(custA, "u-"+convo.NewID(), base), newAgent(custA, "d-"+convo.NewID(), base), newAgent(custB, "o-"+convo.NewID(), base)
	holder.TagIDs, both.TagIDs, untagged.TagIDs = []string{t1.ID}, []string{t2.ID, t1.ID}, []string{t2.ID}
	deletedHolder.TagIDs, deletedHolder.TMDelete = []string{t1.ID}, at(time.Hour)
	otherHolder.TagIDs = []string{t1.ID}
	update(t, db, func(tx convo.Tx) error {
		return createAll(ctx, tx.CreateAgent, holder, both, untagged, deletedHolder, otherHolder)
	})
	tagged := read(t, db, func(tx convo.Tx) ([]*convo.Agent, error) { return tx.ListTaggedAgents(ctx, custA, t1.ID) })
	if got := ids(tagged, func(a *convo.Agent) string { return a.ID }); !sameSet(got, []string{holder.ID, both.ID}) {
		t.Errorf("agents tagged %s: %v, want %s and %s", t1.ID, got, holder.ID, both.ID)
	}
	if got := read(t, db, func(tx convo.Tx) ([]*convo.Agent, error) { return tx.ListTaggedAgents(ctx, custA, "nope") }); len(got) != 0 {
		t.Errorf("agents tagged with a malformed id: %v", got)
	}
}

func sameSet(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}
