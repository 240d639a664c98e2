package service

import (
	"context"

	"github.com/convohq/convo"
)

// Display names of peers: a hook from LINE names no one, so a new
// conversation there queues a job that asks the provider for the peer's
// name; the name found is stored with the next batch of hooks (see
// hook.go), which finishes the job.

// queuePeerName queues the lookup of a new conversation's peer name when
// the channel has names to give (LINE) and the conversation has none yet.
// The job is created claimed by this process: the caller starts the lookup
// once committed (a crash leaves the job to the poll after its lease).
func (s *Service) queuePeerName(ctx context.Context, tx convo.Tx, a *convo.Account, conv *convo.Conversation) (*peerLookup, error) {
	if conv.Peer.TargetName != "" || a.Type != convo.AccountLine {
		return nil, nil
	}
	now := s.now()
	j := &convo.Job{ID: convo.NewID(), Kind: convo.JobPeerName, RefID: conv.ID, RunAt: now, TMCreate: now,
		Attempts: 1, LockedUntil: convo.NewTime(now.Add(jobLease))}
	return &peerLookup{job: j, account: a, dialogID: conv.DialogID}, tx.CreateJob(ctx, j)
}

// peerLookup is a display-name job with what its lookup needs: the creator
// of a conversation starts it without reading the conversation back.
type peerLookup struct {
	job      *convo.Job
	account  *convo.Account
	dialogID string
}

// startPeerLookup runs a display-name job its caller created claimed.
func (s *Service) startPeerLookup(ctx context.Context, l *peerLookup) <-chan struct{} {
	return s.startTask(l.job, func() error { return s.lookUpPeerName(ctx, l) })
}

// runPeerName looks up a peer's display name and puts it on the
// conversation (and its automatic title).
func (s *Service) runPeerName(ctx context.Context, j *convo.Job) error {
	var conv *convo.Conversation
	err := s.store.View(ctx, func(tx convo.Tx) (err error) {
		conv, err = tx.GetConversation(ctx, j.RefID)
		return err
	})
	var a *convo.Account
	if err == nil {
		a, err = s.cachedAccount(ctx, conv.AccountID)
	}
	if err != nil && convo.ErrorStatus(err) != convo.ENotFound {
		return err
	}
	if err != nil || a.IsDeleted() {
		return s.store.Update(ctx, func(tx convo.Tx) error { return tx.DeleteJob(ctx, j.ID) })
	}
	return s.lookUpPeerName(ctx, &peerLookup{job: j, account: a, dialogID: conv.DialogID})
}

// lookUpPeerName asks the channel for the peer's display name and stores
// it with the next batch of hooks, which finishes the job.
func (s *Service) lookUpPeerName(ctx context.Context, l *peerLookup) error {
	ch := s.config.Channels[l.account.Type]
	if ch == nil {
		return s.store.Update(ctx, func(tx convo.Tx) error { return tx.DeleteJob(ctx, l.job.ID) })
	}
	lookupCtx, cancel := context.WithTimeout(ctx, providerTimeout)
	name, err := ch.DisplayName(lookupCtx, l.account, l.dialogID)
	cancel()
	name = convo.StripNUL(name)
	if err != nil {
		if isTemporary(err) {
			if again, rerr := s.retryLater(ctx, l.job, err); again || rerr != nil {
				return rerr
			}
		}
		s.logger.Warn("display name lookup failed", "conversation_id", l.job.RefID, "error", err.Error())
	}
	return s.inbound.Submit(&inbound{account: l.account, name: &peerName{job: l.job, dialogID: l.dialogID, name: name}})
}

// peerName is a display name looked up for the peer of a conversation on
// dialogID ("" when none was found); storing it finishes its job.
type peerName struct {
	job      *convo.Job
	dialogID string
	name     string
}

// lockNamed locks the conversations a batch's display names go to; the
// lock travels with the read of the batch's live conversations, which
// returns them (see liveConversations).
func lockNamed(ctx context.Context, tx convo.Tx, batch []*inbound) error {
	var ids []string
	for _, r := range batch {
		if r.name != nil && r.name.name != "" {
			ids = append(ids, r.name.job.RefID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return tx.LockConversations(ctx, ids)
}

// storePeerNames puts the looked-up names of a batch on their
// conversations, read locked among the batch's live ones, and deletes
// their jobs. A conversation no longer live for its dialog is closed: it
// keeps the peer as it was.
func (s *Service) storePeerNames(ctx context.Context, tx convo.Tx, batch []*inbound, live map[dialogKey]*convo.Conversation) error {
	for _, r := range batch {
		if r.name == nil {
			continue
		}
		if err := tx.DeleteJob(ctx, r.name.job.ID); err != nil {
			return err
		}
		key := dialogKey{r.account.ID, r.name.dialogID}
		conv := live[key]
		if conv == nil || conv.ID != r.name.job.RefID || r.name.name == "" || conv.Peer.TargetName == r.name.name {
			continue
		}
		renamePeer(conv, r.account.Type, r.name.name)
		conv.TMUpdate = s.now()
		if err := tx.UpdateConversation(ctx, conv); err != nil {
			return err
		}
		if err := s.emitConversation(ctx, tx, convo.EventConversationUpdated, conv); err != nil {
			return err
		}
	}
	return nil
}

// renamePeer sets the peer's display name and refreshes the automatic
// title, unless a person has changed the title.
func renamePeer(conv *convo.Conversation, accountType, name string) {
	autoName, _ := convo.AutoTitle(accountType, conv.Peer)
	conv.Peer.TargetName = name
	if conv.Name == autoName {
		conv.Name, _ = convo.AutoTitle(accountType, conv.Peer)
	}
}
