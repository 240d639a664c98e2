package service

import (
	"context"
	"strings"
	"time"

	"github.com/convohq/convo"
)

// A conversation's status: open (new conversations), pending, snoozed
// (until snoozed_until, when a durable job opens it again) or resolved.
// Agents set it (SetConversationStatus); an inbound message reopens it or,
// resolved on an account with resolved_inbound = new, starts a new
// conversation (hook.go); the auto-resolve job resolves idle ones.

// StatusChange is the body of POST /conversations/{id}/status.
type StatusChange struct {
	Status       *string     `json:"status"`
	SnoozedUntil *convo.Time `json:"snoozed_until"`
}

// SetConversationStatus changes a conversation's status (admin/manager, or
// its owner). Snoozing needs a future snoozed_until and queues the job that
// opens it then; any other status clears snoozed_until, which makes the
// job of an earlier snooze a no-op.
func (s *Service) SetConversationStatus(ctx context.Context, c *convo.Caller, id string, in StatusChange) (*convo.Conversation, error) {
	if in.Status == nil || !convo.ValidConversationStatus(strings.TrimSpace(*in.Status)) {
		return nil, convo.Invalid(convo.ReasonInvalidStatus, "status must be open, pending, snoozed or resolved")
	}
	status := strings.TrimSpace(*in.Status)
	until := convo.Never
	if in.SnoozedUntil != nil {
		until = *in.SnoozedUntil
	}
	now := s.now()
	switch {
	case status == convo.StatusSnoozed && (until.IsNever() || !until.After(now.Time)):
		return nil, convo.Invalid(convo.ReasonInvalidSnoozedUntil, "snoozing needs snoozed_until, a moment in the future")
	case status != convo.StatusSnoozed && !until.IsNever():
		return nil, convo.Invalid(convo.ReasonInvalidSnoozedUntil, "snoozed_until goes only with status snoozed")
	}
	return s.changeConversation(ctx, c, id, convo.EventConversationUpdated, func(tx convo.Tx, conv *convo.Conversation) (bool, error) {
		if err := canAct(c, conv); err != nil {
			return false, err
		}
		before := *conv
		if !setStatus(conv, status, until) {
			return false, nil
		}
		if status == convo.StatusSnoozed {
			job := &convo.Job{ID: convo.NewID(), Kind: convo.JobUnsnooze, RefID: conv.ID, RunAt: until, TMCreate: now}
			if err := tx.CreateJob(ctx, job); err != nil {
				return false, err
			}
		}
		ch := changes{}
		ch.add("status", before.Status, conv.Status)
		ch.add("snoozed_until", before.SnoozedUntil.String(), conv.SnoozedUntil.String())
		return true, s.audit(ctx, tx, c, convo.AuditStatusChanged, convo.ResourceConversation, conv.ID, ch)
	})
}

// setStatus sets conv's status and snoozed_until (Never unless snoozed) and
// reports whether they changed.
func setStatus(conv *convo.Conversation, status string, until convo.Time) bool {
	if status != convo.StatusSnoozed {
		until = convo.Never
	}
	if conv.Status == status && conv.SnoozedUntil.Micros() == until.Micros() {
		return false
	}
	conv.Status, conv.SnoozedUntil = status, until
	return true
}

// TakeConversation assigns an unassigned conversation to the calling
// agent, or answers 409 ALREADY_ASSIGNED when someone owns it: the row is
// read locked, so of concurrent takes exactly one wins. A plain agent may
// take only while its customer lets agents take unassigned conversations.
func (s *Service) TakeConversation(ctx context.Context, c *convo.Caller, id string) (*convo.Conversation, error) {
	return s.changeConversation(ctx, c, id, convo.EventConversationUpdated, func(tx convo.Tx, conv *convo.Conversation) (bool, error) {
		if convo.IsNilID(c.AgentID) {
			return false, convo.Forbidden("only an agent can take a conversation; an access key assigns with PUT owner_id")
		}
		if !c.IsManager() {
			takes, err := s.agentsTakeUnassigned(ctx, tx, c)
			if err != nil {
				return false, err
			}
			if !takes {
				return false, convo.Forbidden("your customer does not let agents take unassigned conversations")
			}
		}
		if conv.OwnerType == convo.OwnerAgent {
			if conv.OwnerID == c.AgentID {
				return false, nil // taken by this agent already: a retried take
			}
			return false, convo.Errorf(convo.EConflict, convo.ReasonAlreadyAssigned, "the conversation is assigned to another agent")
		}
		before := *conv
		conv.OwnerType, conv.OwnerID = convo.OwnerAgent, c.AgentID
		return true, s.auditOwner(ctx, tx, c, &before, conv)
	})
}

// reopen opens conv, which an inbound message reached while it was pending,
// snoozed or resolved; it rereads (and on PostgreSQL locks) the row first,
// so a concurrent change is not overwritten, and returns the row as written.
func (s *Service) reopen(ctx context.Context, tx convo.Tx, conv *convo.Conversation) (*convo.Conversation, error) {
	fresh, err := tx.GetConversation(ctx, conv.ID)
	if err != nil {
		return nil, err
	}
	if !setStatus(fresh, convo.StatusOpen, convo.Never) {
		return fresh, nil
	}
	fresh.TMUpdate = s.now()
	if err := tx.UpdateConversation(ctx, fresh); err != nil {
		return nil, err
	}
	return fresh, s.emitConversation(ctx, tx, convo.EventConversationUpdated, fresh)
}

// runUnsnooze opens a conversation whose snooze has ended. A job whose
// conversation changed status since, or was snoozed again until later,
// does nothing: the later snooze has a job of its own.
func (s *Service) runUnsnooze(ctx context.Context, j *convo.Job) error {
	return s.update(ctx, func(tx convo.Tx) error {
		if err := tx.DeleteJob(ctx, j.ID); err != nil {
			return err
		}
		conv, err := tx.GetConversation(ctx, j.RefID)
		if convo.ErrorStatus(err) == convo.ENotFound {
			return nil
		} else if err != nil {
			return err
		}
		if conv.IsDeleted() || conv.Status != convo.StatusSnoozed || conv.SnoozedUntil.After(s.now().Time) {
			return nil
		}
		setStatus(conv, convo.StatusOpen, convo.Never)
		conv.TMUpdate = s.now()
		if err := tx.UpdateConversation(ctx, conv); err != nil {
			return err
		}
		return s.emitConversation(ctx, tx, convo.EventConversationUpdated, conv)
	})
}

const (
	// autoResolveEvery is how often the auto-resolve job looks for idle
	// conversations; a conversation is resolved up to this late.
	autoResolveEvery = time.Minute
	// autoResolveBatch bounds the conversations one transaction resolves.
	autoResolveBatch = 100
)

// ensureAutoResolve creates the one auto-resolve job unless it exists; every
// start asks, so that it exists whatever happened to the previous one.
func (s *Service) ensureAutoResolve(ctx context.Context) error {
	now := s.now()
	return s.store.Update(ctx, func(tx convo.Tx) error {
		return tx.EnsureJob(ctx, &convo.Job{ID: convo.AutoResolveJobID, Kind: convo.JobAutoResolve, RefID: convo.NilID, RunAt: now, TMCreate: now})
	})
}

// runAutoResolve resolves the open and pending conversations of every
// account with auto_resolve_after whose last message (or creation) is older
// than that, a batch per transaction, then reschedules itself. The job is
// claimed as any job, so one process at a time runs it.
func (s *Service) runAutoResolve(ctx context.Context, j *convo.Job) error {
	var accounts []*convo.Account
	err := s.store.View(ctx, func(tx convo.Tx) (err error) {
		accounts, err = tx.ListAutoResolveAccounts(ctx)
		return err
	})
	if err != nil {
		return err
	}
	for _, a := range accounts {
		for _, status := range []string{convo.StatusOpen, convo.StatusPending} {
			for {
				n, err := s.autoResolve(ctx, a, status)
				if err != nil {
					return err
				}
				if n < autoResolveBatch {
					break
				}
			}
		}
	}
	return s.store.Update(ctx, func(tx convo.Tx) error {
		return tx.RescheduleJob(ctx, j.ID, convo.NewTime(s.now().Add(autoResolveEvery)), "")
	})
}

// autoResolve resolves a batch of a's idle conversations of status and
// returns how many it found.
func (s *Service) autoResolve(ctx context.Context, a *convo.Account, status string) (int, error) {
	var found int
	err := s.update(ctx, func(tx convo.Tx) error {
		now := s.now()
		before := now.Add(-time.Duration(a.AutoResolveAfter))
		idle, err := tx.ListIdleConversations(ctx, convo.IdleConversationParams{CustomerID: a.CustomerID, AccountID: a.ID, Status: status, Before: convo.NewTime(before), Limit: autoResolveBatch})
		if err != nil {
			return err
		}
		found = len(idle)
		for _, c := range idle {
			// Reread locked: a message or a change may have come since.
			conv, err := tx.GetConversation(ctx, c.ID)
			if err != nil {
				return err
			}
			if conv.IsDeleted() || conv.Status != status || !conv.TMActivity.Before(before) {
				continue
			}
			setStatus(conv, convo.StatusResolved, convo.Never)
			conv.TMUpdate = now
			if err := tx.UpdateConversation(ctx, conv); err != nil {
				return err
			}
			if err := s.emitConversation(ctx, tx, convo.EventConversationUpdated, conv); err != nil {
				return err
			}
		}
		return nil
	})
	return found, err
}
