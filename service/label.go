package service

import (
	"context"
	"slices"
	"strings"

	"github.com/convohq/convo"
)

// Labels sort a customer's conversations (billing, vip, ...). Admins and
// managers keep the customer's labels; every agent reads them, as an inbox
// shows them. A conversation's owner or an admin/manager sets its labels,
// by name.

// LabelInput holds the writable fields of a label; nil leaves a field unchanged.
type LabelInput struct {
	Name   *string `json:"name"`
	Color  *string `json:"color"`
	Detail *string `json:"detail"`
}

// apply validates in and writes it onto l.
func (in LabelInput) apply(l *convo.Label) error {
	l.Name, l.Detail = trimmed(in.Name, l.Name), trimmed(in.Detail, l.Detail)
	if err := convo.CheckLabelName("name", l.Name); err != nil {
		return err
	}
	if in.Color != nil {
		color, ok := convo.NormalizeLabelColor(*in.Color)
		if !ok {
			return convo.Invalid(convo.ReasonInvalidLabelColor, "color must be #rrggbb in hexadecimal, like #1f77b4")
		}
		l.Color = color
	}
	return checkText("detail", l.Detail)
}

// CreateLabel adds a label to the caller's customer (admin/manager); a
// name a live label has, ignoring case, is 409 LABEL_NAME_TAKEN.
func (s *Service) CreateLabel(ctx context.Context, c *convo.Caller, in LabelInput) (*convo.Label, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	now := s.now()
	l := &convo.Label{ID: convo.NewID(), CustomerID: c.CustomerID, Color: convo.DefaultLabelColor, TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
	if err := in.apply(l); err != nil {
		return nil, err
	}
	return l, s.store.Update(ctx, func(tx convo.Tx) error {
		if err := tx.CreateLabel(ctx, l); err != nil {
			return err
		}
		return s.audit(ctx, tx, c, convo.AuditCreated, convo.ResourceLabel, l.ID, changes{"name": {Old: nil, New: l.Name}})
	})
}

// customerLabel returns a live label of the caller's customer; another
// customer's is answered as missing.
func customerLabel(ctx context.Context, tx convo.Tx, c *convo.Caller, id string) (*convo.Label, error) {
	l, err := tx.GetLabel(ctx, id)
	if err == nil && (l.CustomerID != c.CustomerID || !l.TMDelete.IsNever()) {
		return nil, convo.NotFound(convo.ReasonLabelNotFound, "label")
	}
	return l, err
}

// GetLabel returns a label of the caller's customer (any agent).
func (s *Service) GetLabel(ctx context.Context, c *convo.Caller, id string) (*convo.Label, error) {
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var l *convo.Label
	err = s.store.View(ctx, func(tx convo.Tx) (err error) {
		l, err = customerLabel(ctx, tx, c, id)
		return err
	})
	return l, err
}

// ListLabels lists the live labels of the caller's customer (any agent).
func (s *Service) ListLabels(ctx context.Context, c *convo.Caller, pr convo.PageRequest) (convo.List[*convo.Label], error) {
	return listPage(ctx, s, pr, nil, func(tx convo.Tx, page convo.Page) ([]*convo.Label, error) {
		return tx.ListLabels(ctx, convo.LabelListParams{CustomerID: c.CustomerID, Page: page})
	}, func(l *convo.Label) convo.Cursor { return cursorOf(l.TMCreate, l.ID) })
}

// changeLabel runs one change of a label of the caller's customer (admin/manager).
func (s *Service) changeLabel(ctx context.Context, c *convo.Caller, id string, change func(tx convo.Tx, l *convo.Label) error) (*convo.Label, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var l *convo.Label
	err = s.store.Update(ctx, func(tx convo.Tx) (err error) {
		if l, err = customerLabel(ctx, tx, c, id); err != nil {
			return err
		}
		if err := change(tx, l); err != nil {
			return err
		}
		l.TMUpdate = s.now()
		return tx.UpdateLabel(ctx, l)
	})
	return l, err
}

// UpdateLabel renames a label or changes its color or detail
// (admin/manager); its conversations show the new name.
func (s *Service) UpdateLabel(ctx context.Context, c *convo.Caller, id string, in LabelInput) (*convo.Label, error) {
	return s.changeLabel(ctx, c, id, func(_ convo.Tx, l *convo.Label) error { return in.apply(l) })
}

// DeleteLabel soft-deletes a label, freeing its name, and takes it off
// every conversation (admin/manager).
func (s *Service) DeleteLabel(ctx context.Context, c *convo.Caller, id string) (*convo.Label, error) {
	return s.changeLabel(ctx, c, id, func(tx convo.Tx, l *convo.Label) error {
		if err := tx.UnlabelConversations(ctx, l.ID); err != nil {
			return err
		}
		l.TMDelete = s.now()
		return s.audit(ctx, tx, c, convo.AuditDeleted, convo.ResourceLabel, l.ID, nil)
	})
}

// ConversationLabelsInput is the body of PUT /conversations/{id}/labels.
type ConversationLabelsInput struct {
	Labels *[]string `json:"labels"`
}

// labelNames returns the names of in, trimmed and each once (ignoring case),
// refusing a missing list, too many names, or a name no label could have.
func (in ConversationLabelsInput) labelNames() ([]string, error) {
	if in.Labels == nil {
		return nil, convo.Invalid(convo.ReasonInvalidLabels, "labels is required: a list of label names, [] for none")
	}
	var names []string
	for _, n := range *in.Labels {
		n = strings.TrimSpace(n)
		if err := convo.CheckLabelName("labels[]", n); err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(names, func(m string) bool { return strings.ToLower(m) == strings.ToLower(n) }) {
			names = append(names, n)
		}
	}
	if len(names) > convo.MaxConversationLabels {
		return nil, convo.Invalid(convo.ReasonInvalidLabels, "a conversation holds at most %d labels", convo.MaxConversationLabels)
	}
	return names, nil
}

// SetConversationLabels makes the named live labels of the caller's
// customer the labels of a conversation (its owner, or an admin/manager).
// A name no live label has, ignoring case, is 400 UNKNOWN_LABEL and
// changes nothing. A change emits conversation_updated.
func (s *Service) SetConversationLabels(ctx context.Context, c *convo.Caller, id string, in ConversationLabelsInput) (*convo.Conversation, error) {
	names, err := in.labelNames()
	if err != nil {
		return nil, err
	}
	return s.changeConversation(ctx, c, id, convo.EventConversationUpdated, func(tx convo.Tx, conv *convo.Conversation) (bool, error) {
		// Seeing a queued conversation is not enough: a plain agent takes it first.
		if err := canAct(c, conv); err != nil {
			return false, err
		}
		found, err := tx.GetLiveLabelsByName(ctx, c.CustomerID, names)
		if err != nil {
			return false, err
		}
		var unknown []string
		for _, n := range names {
			if !slices.ContainsFunc(found, func(l *convo.Label) bool { return strings.ToLower(l.Name) == strings.ToLower(n) }) {
				unknown = append(unknown, n)
			}
		}
		if len(unknown) > 0 {
			return false, convo.Invalid(convo.ReasonUnknownLabel, "no label is named %s: create it first (POST /v1.0/labels)", strings.Join(unknown, ", "))
		}
		if err := s.loadLabels(ctx, tx, conv); err != nil {
			return false, err
		}
		ids, now := make([]string, len(found)), make([]string, len(found))
		for i, l := range found {
			ids[i], now[i] = l.ID, l.Name
		}
		convo.SortLabelNames(now)
		if slices.Equal(now, conv.Labels) {
			return false, nil
		}
		conv.Labels = now
		return true, tx.SetConversationLabels(ctx, conv.ID, ids)
	})
}

// loadLabels reads the label names of those of convs that lack them.
func (s *Service) loadLabels(ctx context.Context, tx convo.Tx, convs ...*convo.Conversation) error {
	var need []string
	for _, conv := range convs {
		if conv.Labels == nil {
			need = append(need, conv.ID)
		}
	}
	if len(need) == 0 {
		return nil
	}
	names, err := tx.ConversationLabels(ctx, need)
	if err != nil {
		return err
	}
	for _, conv := range convs {
		if conv.Labels == nil {
			conv.Labels = append([]string{}, names[conv.ID]...)
			convo.SortLabelNames(conv.Labels)
		}
	}
	return nil
}

// decorate completes convs as the caller sees them: their labels and the
// caller's unread counts, one query each for all of them.
func (s *Service) decorate(ctx context.Context, tx convo.Tx, c *convo.Caller, convs ...*convo.Conversation) error {
	if err := s.loadLabels(ctx, tx, convs...); err != nil {
		return err
	}
	if err := s.loadOptOuts(ctx, tx, convs...); err != nil {
		return err
	}
	if !isAgent(c) || len(convs) == 0 {
		return nil
	}
	ids := make([]string, len(convs))
	for i, conv := range convs {
		ids[i] = conv.ID
	}
	counts, err := tx.UnreadCounts(ctx, c.AgentID, ids)
	if err != nil {
		return err
	}
	for _, conv := range convs {
		conv.UnreadCount = counts[conv.ID]
	}
	return nil
}

// isAgent reports whether c is an agent, which has read state, rather than an access key.
func isAgent(c *convo.Caller) bool { return c.AccessKeyID == "" && !convo.IsNilID(c.AgentID) }

// workingSetFilters checks the label and unread filters of a list of
// conversations and writes them to p. A name no label has is no error: it
// matches nothing. An access key has read nothing and has nothing unread.
func workingSetFilters(c *convo.Caller, f ConversationFilter, p *convo.ConversationListParams) error {
	if len(f.Labels) > convo.MaxConversationLabels {
		return convo.Invalid(convo.ReasonInvalidLabels, "at most %d label filters", convo.MaxConversationLabels)
	}
	for _, n := range f.Labels {
		n = strings.TrimSpace(n)
		if n == "" {
			return convo.Invalid(convo.ReasonInvalidLabelName, "label must not be empty")
		}
		if err := convo.CheckLen("label", n, convo.MaxLabelName); err != nil {
			return err
		}
		p.Labels = append(p.Labels, n)
	}
	switch f.Unread {
	case "", "false":
	case "true":
		p.UnreadFor = c.AgentID
		if !isAgent(c) {
			// Nothing is unread for an access key: no agent id matches nothing.
			p.UnreadFor = convo.NilID
		}
	default:
		return convo.Invalid(convo.ReasonInvalidUnread, "unread must be true or false")
	}
	return nil
}
