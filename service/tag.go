package service

import (
	"context"
	"slices"

	"github.com/convohq/convo"
)

// TagInput holds the writable fields of a tag; nil leaves a field unchanged.
type TagInput struct {
	Name   *string `json:"name"`
	Detail *string `json:"detail"`
}

// apply validates in and writes it onto g.
func (in TagInput) apply(g *convo.Tag) error {
	g.Name, g.Detail = trimmed(in.Name, g.Name), trimmed(in.Detail, g.Detail)
	if g.Name == "" {
		return convo.Invalid("INVALID_NAME", "name is required")
	}
	if err := checkText("name", g.Name); err != nil {
		return err
	}
	return checkText("detail", g.Detail)
}

// CreateTag adds a tag to the caller's customer (admin/manager); a name a
// live tag has is 409 TAG_NAME_TAKEN.
func (s *Service) CreateTag(ctx context.Context, c *convo.Caller, in TagInput) (*convo.Tag, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	now := s.now()
	g := &convo.Tag{ID: convo.NewID(), CustomerID: c.CustomerID, TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
	if err := in.apply(g); err != nil {
		return nil, err
	}
	return g, s.store.Update(ctx, func(tx convo.Tx) error {
		if err := tx.CreateTag(ctx, g); err != nil {
			return err
		}
		return s.audit(ctx, tx, c, convo.AuditCreated, convo.ResourceTag, g.ID, changes{"name": {Old: nil, New: g.Name}})
	})
}

// customerTag returns a live tag of the caller's customer; another
// customer's tag is answered as missing.
func customerTag(ctx context.Context, tx convo.Tx, c *convo.Caller, id string) (*convo.Tag, error) {
	g, err := tx.GetTag(ctx, id)
	if err == nil && (g.CustomerID != c.CustomerID || !g.TMDelete.IsNever()) {
		return nil, convo.NotFound(convo.ReasonTagNotFound, "tag")
	}
	return g, err
}

// GetTag returns a tag of the caller's customer (admin/manager).
func (s *Service) GetTag(ctx context.Context, c *convo.Caller, id string) (*convo.Tag, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var g *convo.Tag
	err = s.store.View(ctx, func(tx convo.Tx) (err error) {
		g, err = customerTag(ctx, tx, c, id)
		return err
	})
	return g, err
}

// ListTags lists the live tags of the caller's customer (admin/manager).
func (s *Service) ListTags(ctx context.Context, c *convo.Caller, pr convo.PageRequest) (convo.List[*convo.Tag], error) {
	return listPage(ctx, s, pr, requireManager(c), func(tx convo.Tx, page convo.Page) ([]*convo.Tag, error) {
		return tx.ListTags(ctx, convo.TagListParams{CustomerID: c.CustomerID, Page: page})
	}, func(g *convo.Tag) convo.Cursor { return cursorOf(g.TMCreate, g.ID) })
}

// changeTag runs one change of a tag of the caller's customer (admin/manager).
func (s *Service) changeTag(ctx context.Context, c *convo.Caller, id string, change func(tx convo.Tx, g *convo.Tag) error) (*convo.Tag, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var g *convo.Tag
	err = s.store.Update(ctx, func(tx convo.Tx) (err error) {
		if g, err = customerTag(ctx, tx, c, id); err != nil {
			return err
		}
		if err := change(tx, g); err != nil {
			return err
		}
		g.TMUpdate = s.now()
		return tx.UpdateTag(ctx, g)
	})
	return g, err
}

// UpdateTag renames a tag or changes its detail (admin/manager).
func (s *Service) UpdateTag(ctx context.Context, c *convo.Caller, id string, in TagInput) (*convo.Tag, error) {
	return s.changeTag(ctx, c, id, func(_ convo.Tx, g *convo.Tag) error { return in.apply(g) })
}

// DeleteTag soft-deletes a tag and, in the same transaction, takes it off
// every agent holding it (admin/manager).
func (s *Service) DeleteTag(ctx context.Context, c *convo.Caller, id string) (*convo.Tag, error) {
	return s.changeTag(ctx, c, id, func(tx convo.Tx, g *convo.Tag) error {
		g.TMDelete = s.now()
		tagged, err := tx.ListTaggedAgents(ctx, c.CustomerID, g.ID)
		if err != nil {
			return err
		}
		for _, found := range tagged {
			// Read again to lock it: the list's copy may be older than a
			// change committed since, which the update would undo.
			a, err := tx.GetAgent(ctx, found.ID)
			if err != nil {
				return err
			}
			a.TagIDs = slices.DeleteFunc(a.TagIDs, func(t string) bool { return t == g.ID })
			a.TMUpdate = g.TMDelete
			if err := tx.UpdateAgent(ctx, a); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, c, convo.AuditDeleted, convo.ResourceTag, g.ID, nil)
	})
}

// checkTagIDs refuses tag ids that are not live tags of the customer:
// another customer's tag is as unknown as a missing one. In an Update it
// locks the tags, which a concurrent delete waits for; use cases lock tags
// before agents, as DeleteTag does, so that neither waits for the other.
func checkTagIDs(ctx context.Context, tx convo.Tx, customerID string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	found, err := tx.GetLiveTags(ctx, customerID, ids)
	if err != nil {
		return err
	}
	if len(found) != len(ids) {
		return convo.Invalid("INVALID_TAG_IDS", "tag_ids must name live tags of the customer")
	}
	return nil
}
