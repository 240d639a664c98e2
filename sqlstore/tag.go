package sqlstore

import (
	"context"

	"github.com/convohq/convo"
)

var tags = newTable(
	kind{what: "tag", notFound: convo.ReasonTagNotFound, conflict: convo.ReasonTagNameTaken, conflictDetail: "a live tag of the customer has the name"},
	"tags", "id, customer_id, tm_create",
	"name, detail, tm_update, tm_delete",
	"(customer_id, name) WHERE "+live,
	func(g *convo.Tag) []any {
		return []any{&g.ID, &g.CustomerID, micros{&g.TMCreate}, &g.Name, &g.Detail, micros{&g.TMUpdate}, micros{&g.TMDelete}}
	}).listedBy(
	allBy("tags_by_customer", "customer_id"),
)

func (t *tx) CreateTag(ctx context.Context, g *convo.Tag) error {
	return tags.insert(ctx, t, g)
}

func (t *tx) GetTag(ctx context.Context, id string) (*convo.Tag, error) {
	return tags.getByID(ctx, t, id)
}

func (t *tx) GetLiveTags(ctx context.Context, customerID string, ids []string) ([]*convo.Tag, error) {
	customerID, ok := canonicalID(customerID)
	var canonical []string
	for _, id := range ids {
		if id, ok := canonicalID(id); ok {
			canonical = append(canonical, id)
		}
	}
	found := []*convo.Tag{}
	if !ok || len(canonical) == 0 {
		return found, nil
	}
	lock := ""
	if t.lockRows {
		// Held against a concurrent delete, which strips the tag from agents.
		lock = " FOR UPDATE"
	}
	err := inChunks(len(canonical), func(start, n int) error {
		args := []any{customerID}
		for _, id := range canonical[start : start+n] {
			args = append(args, id)
		}
		rows, err := tags.query(ctx, t, tags.selectSQL+" WHERE customer_id = ? AND id IN ("+placeholders(n)+") AND "+live+lock, args...)
		for _, g := range rows {
			if t.lockRows {
				t.hold(tags.name, g.ID)
			}
		}
		found = append(found, rows...)
		return err
	})
	return found, err
}

func (t *tx) ListTags(ctx context.Context, p convo.TagListParams) ([]*convo.Tag, error) {
	var f filter
	f.equalID("customer_id", p.CustomerID)
	f.deleted(false)
	return tags.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateTag(ctx context.Context, g *convo.Tag) error {
	return tags.update(ctx, t, g)
}

func (t *tx) ListTaggedAgents(ctx context.Context, customerID, tagID string) ([]*convo.Agent, error) {
	customerID, ok := canonicalID(customerID)
	tagID, okTag := canonicalID(tagID)
	if !ok || !okTag {
		return []*convo.Agent{}, nil
	}
	// tag_ids is a JSON array of canonical ids: the quoted id matches one
	// element exactly. In id order, so that two deletes lock agents alike.
	return agents.query(ctx, t, agents.selectSQL+" WHERE customer_id = ? AND tag_ids LIKE ? AND "+live+" ORDER BY id",
		customerID, `%"`+tagID+`"%`)
}
