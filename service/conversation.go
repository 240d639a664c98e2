package service

import (
	"context"
	"slices"
	"strings"

	"github.com/convohq/convo"
)

// ConversationFilter holds the list filters of GET /conversations as given.
type ConversationFilter struct {
	OwnerID   string
	AccountID string
	Type      string
	DialogID  string
	Deleted   bool
	// Statuses keeps conversations in any of them (the repeated status).
	Statuses []string
	// Unassigned is the unassigned parameter: "true" lists the unassigned
	// queue; "" and "false" do not filter.
	Unassigned string
	// Order is "" (newest created first) or "last_message" (newest
	// activity first).
	Order string
	// Labels keeps conversations holding each of these labels (by name).
	Labels []string
	// Unread is "true" for the conversations unread by the calling agent.
	Unread string
}

// OrderLastMessage orders a conversation list by last activity.
const OrderLastMessage = "last_message"

// ConversationCreate is the body of POST /conversations.
type ConversationCreate struct {
	AccountID string        `json:"account_id"`
	Peer      convo.Address `json:"peer"`
	Name      *string       `json:"name"`
	Detail    *string       `json:"detail"`
}

// ConversationUpdate is the body of PUT /conversations/{id}; owner_type is
// accepted and ignored because it is derived from owner_id.
type ConversationUpdate struct {
	Name      *string `json:"name"`
	Detail    *string `json:"detail"`
	OwnerID   *string `json:"owner_id"`
	OwnerType *string `json:"owner_type"`
}

// customerConversation returns a conversation of the caller's customer
// (deleted ones too); another customer's is answered as missing.
func customerConversation(ctx context.Context, tx convo.Tx, c *convo.Caller, id string) (*convo.Conversation, error) {
	conv, err := tx.GetConversation(ctx, id)
	if err == nil && conv.CustomerID != c.CustomerID {
		return nil, convo.NotFound(convo.ReasonConversationNotFound, "conversation")
	}
	return conv, err
}

// canSee is the one rule of who may read a conversation and what hangs off
// it (its messages, notes, read state, search results, stream events):
// admins and managers (access keys too) see all of their customer's; a
// plain agent sees those it owns and, while its customer lets agents take
// unassigned conversations (agents_take_unassigned), the unassigned ones.
// conv must be of c's customer. Reads of another customer's are answered
// as missing before this rule is asked.
func (s *Service) canSee(ctx context.Context, tx convo.Tx, c *convo.Caller, conv *convo.Conversation) error {
	if canAct(c, conv) == nil {
		return nil
	}
	if conv.OwnerType == convo.OwnerNone {
		takes, err := s.agentsTakeUnassigned(ctx, tx, c)
		if err != nil || takes {
			return err
		}
	}
	return convo.Forbidden("the conversation is not assigned to you")
}

// canAct reports whether c may change conv or send on it: admins and
// managers, or its owner. Seeing an unassigned conversation is not enough:
// a plain agent takes it first.
func canAct(c *convo.Caller, conv *convo.Conversation) error {
	if c.IsManager() || (conv.OwnerType == convo.OwnerAgent && conv.OwnerID == c.AgentID) {
		return nil
	}
	return convo.Forbidden("the conversation is not assigned to you")
}

// agentsTakeUnassigned reports the setting of c's customer that lets plain
// agents see, list and take unassigned conversations.
func (s *Service) agentsTakeUnassigned(ctx context.Context, tx convo.Tx, c *convo.Caller) (bool, error) {
	cust, err := tx.GetCustomer(ctx, c.CustomerID)
	if err != nil {
		return false, err
	}
	return cust.AgentsTakeUnassigned, nil
}

// visibleConversation returns a conversation the caller may read.
func (s *Service) visibleConversation(ctx context.Context, tx convo.Tx, c *convo.Caller, id string) (*convo.Conversation, error) {
	conv, err := customerConversation(ctx, tx, c, id)
	if err != nil {
		return nil, err
	}
	return conv, s.canSee(ctx, tx, c, conv)
}

// workedConversation returns a conversation the caller may send on.
func (s *Service) workedConversation(ctx context.Context, tx convo.Tx, c *convo.Caller, id string) (*convo.Conversation, error) {
	conv, err := customerConversation(ctx, tx, c, id)
	if err != nil {
		return nil, err
	}
	return conv, canAct(c, conv)
}

// GetConversation returns one conversation (admin/manager, or its owner).
func (s *Service) GetConversation(ctx context.Context, c *convo.Caller, id string) (*convo.Conversation, error) {
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var conv *convo.Conversation
	err = s.store.View(ctx, func(tx convo.Tx) (err error) {
		if conv, err = s.visibleConversation(ctx, tx, c, id); err != nil {
			return err
		}
		return s.decorate(ctx, tx, c, conv)
	})
	return conv, err
}

// ListConversations lists the caller's customer's conversations. A plain
// agent must filter on itself as owner, or list the unassigned queue when
// its customer allows.
func (s *Service) ListConversations(ctx context.Context, c *convo.Caller, f ConversationFilter, pr convo.PageRequest) (convo.List[*convo.Conversation], error) {
	p, allowed := conversationListParams(c, f)
	at := func(c *convo.Conversation) convo.Cursor { return cursorOf(c.TMCreate, c.ID) }
	if p.ByActivity {
		// The cursor carries the activity it was read with: a conversation
		// whose activity moves on goes to the head of the list, so a walk
		// never returns a row twice but may miss one that moved past it
		// (see the README).
		at = func(c *convo.Conversation) convo.Cursor { return cursorOf(c.TMActivity, c.ID) }
	}
	return listPage(ctx, s, pr, allowed, func(tx convo.Tx, page convo.Page) ([]*convo.Conversation, error) {
		if p.Unassigned && !c.IsManager() {
			takes, err := s.agentsTakeUnassigned(ctx, tx, c)
			if err != nil {
				return nil, err
			}
			if !takes {
				return nil, convo.Forbidden("your customer does not let agents take unassigned conversations")
			}
		}
		p.Page = page
		convs, err := tx.ListConversations(ctx, p)
		if err != nil {
			return nil, err
		}
		return convs, s.decorate(ctx, tx, c, convs...)
	}, at)
}

// ListServiceAgentConversations lists what an agent works on: for a plain
// agent the conversations it owns (or the unassigned queue), for admins
// and managers all of them; f's owner_id is not read.
func (s *Service) ListServiceAgentConversations(ctx context.Context, c *convo.Caller, f ConversationFilter, pr convo.PageRequest) (convo.List[*convo.Conversation], error) {
	f.OwnerID = ""
	if !c.IsManager() && f.Unassigned != "true" {
		f.OwnerID = c.AgentID
	}
	return s.ListConversations(ctx, c, f, pr)
}

// conversationListParams checks a list's filters and the caller's right to
// list: a plain agent must filter on itself as owner or list the unassigned.
func conversationListParams(c *convo.Caller, f ConversationFilter) (convo.ConversationListParams, error) {
	p := convo.ConversationListParams{CustomerID: c.CustomerID, Type: strings.TrimSpace(f.Type), DialogID: strings.TrimSpace(f.DialogID), Deleted: f.Deleted}
	var err error
	if !convo.IsNilID(f.OwnerID) {
		if p.OwnerID, err = convo.ParseID(f.OwnerID); err != nil {
			return p, convo.Invalid(convo.ReasonInvalidID, "owner_id must be a UUID")
		}
	}
	switch f.Unassigned {
	case "", "false":
	case "true":
		if p.OwnerID != "" {
			return p, convo.Invalid(convo.ReasonInvalidFilter, "unassigned=true lists conversations of no owner: leave owner_id out")
		}
		p.Unassigned = true
	default:
		return p, convo.Invalid(convo.ReasonInvalidFilter, "unassigned must be true or false")
	}
	for _, st := range f.Statuses {
		if !convo.ValidConversationStatus(st) {
			return p, convo.Invalid(convo.ReasonInvalidStatus, "status must be open, pending, snoozed or resolved")
		}
		if !slices.Contains(p.Statuses, st) {
			p.Statuses = append(p.Statuses, st)
		}
	}
	switch f.Order {
	case "":
	case OrderLastMessage:
		p.ByActivity = true
	default:
		return p, convo.Invalid(convo.ReasonInvalidFilter, "order must be last_message, or left out for newest created first")
	}
	if !c.IsManager() && !p.Unassigned && (p.OwnerID == "" || p.OwnerID != c.AgentID) {
		return p, convo.Forbidden("an agent lists only its own conversations, or the unassigned ones: pass owner_id set to your agent id, or unassigned=true")
	}
	if !convo.IsNilID(f.AccountID) {
		if p.AccountID, err = convo.ParseID(f.AccountID); err != nil {
			return p, convo.Invalid(convo.ReasonInvalidID, "account_id must be a UUID")
		}
	}
	return p, workingSetFilters(c, f, &p)
}

// CreateConversation starts an outbound thread with a peer on an account, or
// returns the live conversation of that pair (admin/manager).
func (s *Service) CreateConversation(ctx context.Context, c *convo.Caller, in ConversationCreate) (*convo.Conversation, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	accountID, err := convo.ParseID(strings.TrimSpace(in.AccountID))
	if err != nil || accountID == convo.NilID {
		return nil, convo.Invalid("INVALID_ACCOUNT_ID", "account_id must be the id of a conversation account")
	}
	var conv *convo.Conversation
	var lookup *peerLookup
	err = s.update(ctx, func(tx convo.Tx) error {
		lookup = nil
		a, err := customerAccount(ctx, tx, c, accountID)
		if convo.ErrorStatus(err) == convo.ENotFound || (err == nil && a.IsDeleted()) {
			return convo.Invalid(convo.ReasonAccountNotFound, "account_id names no live account of yours")
		} else if err != nil {
			return err
		}
		// Until then the account may lack the business address itself.
		if err := a.NotConfigured(); err != nil {
			return err
		}
		if err := convo.CheckAddressLen("peer", in.Peer); err != nil {
			return err
		}
		peer, dialogID, err := convo.PeerForAccount(a.Type, in.Peer)
		if err != nil {
			return err
		}
		name, detail := convo.AutoTitle(a.Type, peer)
		conv = &convo.Conversation{
			CustomerID: c.CustomerID, AccountID: a.ID, Type: convo.ConversationType(a.Type), DialogID: dialogID,
			Name: trimmed(in.Name, name), Detail: trimmed(in.Detail, detail), Self: convo.SelfAddress(a), Peer: peer,
		}
		if err := checkText("name", conv.Name); err != nil {
			return err
		}
		if err := checkText("detail", conv.Detail); err != nil {
			return err
		}
		var created bool
		if conv, created, err = s.findOrCreateConversation(ctx, tx, conv); err != nil {
			return err
		}
		if created {
			if lookup, err = s.queuePeerName(ctx, tx, a, conv); err != nil {
				return err
			}
		}
		return s.decorate(ctx, tx, c, conv)
	})
	if err == nil && lookup != nil {
		s.startPeerLookup(context.WithoutCancel(ctx), lookup)
	}
	return conv, err
}

// findOrCreateConversation returns the live conversation of (account,
// dialog), creating it from proto when there is none. It is safe under
// concurrent creation: the database keeps one live row per pair.
func (s *Service) findOrCreateConversation(ctx context.Context, tx convo.Tx, proto *convo.Conversation) (*convo.Conversation, bool, error) {
	conv, err := tx.GetLiveConversation(ctx, proto.AccountID, proto.DialogID)
	if convo.ErrorStatus(err) != convo.ENotFound {
		return conv, false, err
	}
	return s.createLiveConversation(ctx, tx, proto)
}

// createLiveConversation creates the conversation proto describes, known
// to be missing a moment ago; when another process created it since, it
// returns that one instead.
func (s *Service) createLiveConversation(ctx context.Context, tx convo.Tx, proto *convo.Conversation) (*convo.Conversation, bool, error) {
	now := s.now()
	proto.ID, proto.OwnerType, proto.OwnerID = convo.NewID(), convo.OwnerNone, convo.NilID
	proto.Status, proto.SnoozedUntil, proto.TMLastMessage, proto.LastMessage = convo.StatusOpen, convo.Never, convo.Never, nil
	proto.TMCreate, proto.TMUpdate, proto.TMDelete, proto.TMActivity = now, now, convo.Never, now
	proto.Labels = []string{}
	err := tx.CreateConversation(ctx, proto)
	if convo.ErrorStatus(err) == convo.EConflict {
		conv, err := tx.GetLiveConversation(ctx, proto.AccountID, proto.DialogID)
		return conv, false, err
	} else if err != nil {
		return nil, false, err
	}
	return proto, true, s.emitConversation(ctx, tx, convo.EventConversationCreated, proto)
}

// changeConversation runs one change of a live conversation of the caller's customer.
func (s *Service) changeConversation(ctx context.Context, c *convo.Caller, id, eventType string, change func(tx convo.Tx, conv *convo.Conversation) (bool, error)) (*convo.Conversation, error) {
	id, err := parseID(id, "id")
	if err != nil {
		return nil, err
	}
	var conv *convo.Conversation
	err = s.update(ctx, func(tx convo.Tx) (err error) {
		if conv, err = customerConversation(ctx, tx, c, id); err != nil {
			return err
		}
		if conv.IsDeleted() {
			return convo.Errorf(convo.EPrecondition, "CONVERSATION_DELETED", "the conversation is deleted")
		}
		before := *conv
		changed, err := change(tx, conv)
		if err != nil {
			return err
		}
		if changed {
			conv.TMUpdate = s.now()
			if err := tx.UpdateConversation(ctx, conv); err != nil {
				return err
			}
			if err := s.emitConversation(ctx, tx, eventType, conv); err != nil {
				return err
			}
			if err := s.emitLeft(ctx, tx, &before, conv); err != nil {
				return err
			}
		}
		return s.decorate(ctx, tx, c, conv)
	})
	return conv, err
}

// UpdateConversation changes name, detail and assignment (admin/manager).
// owner_type follows owner_id: a live agent of the customer makes it
// "agent"; the nil UUID or "" unassigns. An empty change changes nothing.
func (s *Service) UpdateConversation(ctx context.Context, c *convo.Caller, id string, in ConversationUpdate) (*convo.Conversation, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	return s.changeConversation(ctx, c, id, convo.EventConversationUpdated, func(tx convo.Tx, conv *convo.Conversation) (bool, error) {
		before := *conv
		conv.Name, conv.Detail = trimmed(in.Name, conv.Name), trimmed(in.Detail, conv.Detail)
		if err := checkText("name", conv.Name); err != nil {
			return false, err
		}
		if err := checkText("detail", conv.Detail); err != nil {
			return false, err
		}
		if in.OwnerID != nil {
			if err := assign(ctx, tx, c, conv, strings.TrimSpace(*in.OwnerID)); err != nil {
				return false, err
			}
			if err := s.auditOwner(ctx, tx, c, &before, conv); err != nil {
				return false, err
			}
		}
		return conv.Name != before.Name || conv.Detail != before.Detail || conv.OwnerID != before.OwnerID, nil
	})
}

// assign sets the owner of conv to ownerID (nil or empty: nobody).
func assign(ctx context.Context, tx convo.Tx, c *convo.Caller, conv *convo.Conversation, ownerID string) error {
	if convo.IsNilID(ownerID) {
		conv.OwnerType, conv.OwnerID = convo.OwnerNone, convo.NilID
		return nil
	}
	errNoAgent := convo.Invalid(convo.ReasonAgentNotFound, "owner_id must be the id of an agent of this customer")
	id, err := convo.ParseID(ownerID)
	if err != nil {
		return errNoAgent
	}
	a, err := customerAgent(ctx, tx, c, id)
	if convo.ErrorStatus(err) == convo.ENotFound {
		return errNoAgent
	} else if err != nil {
		return err
	}
	conv.OwnerType, conv.OwnerID = convo.OwnerAgent, a.ID
	return nil
}

// UnassignConversation clears the owner (admin/manager, or the owner itself).
func (s *Service) UnassignConversation(ctx context.Context, c *convo.Caller, id string) (*convo.Conversation, error) {
	return s.changeConversation(ctx, c, id, convo.EventConversationUpdated, func(tx convo.Tx, conv *convo.Conversation) (bool, error) {
		if err := canAct(c, conv); err != nil {
			return false, err
		}
		before := *conv
		if err := assign(ctx, tx, c, conv, ""); err != nil {
			return false, err
		}
		return conv.OwnerType != before.OwnerType, s.auditOwner(ctx, tx, c, &before, conv)
	})
}

// DeleteConversation soft-deletes a conversation; the next inbound message
// from the peer starts a new one (admin/manager).
func (s *Service) DeleteConversation(ctx context.Context, c *convo.Caller, id string) (*convo.Conversation, error) {
	if err := requireManager(c); err != nil {
		return nil, err
	}
	return s.changeConversation(ctx, c, id, convo.EventConversationDeleted, func(tx convo.Tx, conv *convo.Conversation) (bool, error) {
		conv.TMDelete = s.now()
		return true, s.audit(ctx, tx, c, convo.AuditDeleted, convo.ResourceConversation, conv.ID, nil)
	})
}

// auditOwner records an assignment or unassignment of conv, if its owner changed.
func (s *Service) auditOwner(ctx context.Context, tx convo.Tx, c *convo.Caller, before, conv *convo.Conversation) error {
	if before.OwnerID == conv.OwnerID {
		return nil
	}
	action := convo.AuditAssigned
	if conv.OwnerType == convo.OwnerNone {
		action = convo.AuditUnassigned
	}
	ch := changes{}
	ch.add("owner_id", before.OwnerID, conv.OwnerID)
	return s.audit(ctx, tx, c, action, convo.ResourceConversation, conv.ID, ch)
}
