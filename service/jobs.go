package service

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/convohq/convo"
)

const (
	// jobLease is how long a claimed job is reserved; a process that dies
	// mid-job leaves it to be claimed again after this.
	jobLease = time.Minute
	// jobPollInterval is the backstop poll; commits wake the runner at once.
	jobPollInterval = time.Second
	// jobBatch is how many due jobs one poll claims.
	jobBatch = 32
	// sendTimeout bounds one provider call.
	sendTimeout = 30 * time.Second
)

// jobRunner runs durable jobs: right after the request that created them,
// or from the poll loop after a restart or a retry delay.
type jobRunner struct {
	wake    chan struct{}
	running sync.WaitGroup
	slots   chan struct{}
}

func newJobRunner() *jobRunner {
	return &jobRunner{wake: make(chan struct{}, 1), slots: make(chan struct{}, 16)}
}

// wakeJobs tells the poll loop that new jobs are due.
func (s *Service) wakeJobs() {
	select {
	case s.jobs.wake <- struct{}{}:
	default:
	}
}

// RunJobs claims and runs due jobs until ctx ends, then waits for the jobs
// in flight.
func (s *Service) RunJobs(ctx context.Context) {
	defer s.jobs.running.Wait()
	pollLoop(ctx, s.jobs.wake, jobPollInterval, nil, func() bool {
		jobs, err := s.claimJobs(ctx, convo.ClaimJobsParams{Limit: jobBatch})
		if err != nil && ctx.Err() == nil {
			s.logger.Error("claim jobs", "error", err)
		}
		for _, j := range jobs {
			s.startJob(context.WithoutCancel(ctx), j)
		}
		return len(jobs) == jobBatch
	})
}

// pollLoop calls pass until ctx ends: when woken (but no sooner than
// minGap, when given, says after the previous pass began), after interval
// otherwise, and again straight away while pass reports more work waiting.
func pollLoop(ctx context.Context, wake <-chan struct{}, interval time.Duration, minGap func() time.Duration, pass func() (busy bool)) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var started time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-wake:
			var wait time.Duration
			if minGap != nil {
				wait = minGap() - time.Since(started)
			}
			if wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		started = time.Now()
		next := interval
		if pass() {
			next = 0
		}
		timer.Reset(next)
	}
}

// claimJobs reserves jobs for this process.
func (s *Service) claimJobs(ctx context.Context, p convo.ClaimJobsParams) ([]*convo.Job, error) {
	now := s.now()
	p.Now, p.LeaseUntil = now, convo.NewTime(now.Add(jobLease))
	var jobs []*convo.Job
	err := s.store.Update(ctx, func(tx convo.Tx) (err error) {
		jobs, err = tx.ClaimJobs(ctx, p)
		return err
	})
	return jobs, err
}

// startJob runs a claimed job in the background; the channel closes when it is done.
func (s *Service) startJob(ctx context.Context, j *convo.Job) <-chan struct{} {
	done := make(chan struct{})
	s.jobs.running.Add(1)
	go func() {
		defer s.jobs.running.Done()
		defer close(done)
		s.jobs.slots <- struct{}{}
		defer func() { <-s.jobs.slots }()
		if err := s.runJob(ctx, j); err != nil {
			s.logger.Error("job failed to run", "job_id", j.ID, "kind", j.Kind, "error", err)
		}
	}()
	return done
}

// runJobNow claims one job by id and runs it; the channel closes when it is
// done, or at once when another runner holds it.
func (s *Service) runJobNow(ctx context.Context, id string) <-chan struct{} {
	jobs, err := s.claimJobs(ctx, convo.ClaimJobsParams{ID: id, Limit: 1})
	if err != nil || len(jobs) == 0 {
		if err != nil {
			s.logger.Error("claim job", "job_id", id, "error", err)
		}
		done := make(chan struct{})
		close(done)
		return done
	}
	return s.startJob(context.WithoutCancel(ctx), jobs[0])
}

func (s *Service) runJob(ctx context.Context, j *convo.Job) error {
	switch j.Kind {
	case convo.JobSendMessage:
		return s.runSend(ctx, j)
	case convo.JobPeerName:
		return s.runPeerName(ctx, j)
	case convo.JobActiveflow:
		return s.runActiveflow(ctx, j)
	}
	s.logger.Error("unknown job kind; dropped", "job_id", j.ID, "kind", j.Kind)
	return s.store.Update(ctx, func(tx convo.Tx) error { return tx.DeleteJob(ctx, j.ID) })
}

// retryLater reschedules a job after a temporary failure and reports
// whether attempts remain.
func (s *Service) retryLater(ctx context.Context, j *convo.Job, cause error) (bool, error) {
	delays := s.config.RetryDelays
	if j.Attempts > len(delays) {
		return false, nil
	}
	delay := delays[j.Attempts-1]
	runAt := convo.NewTime(s.clock.Now().Add(delay))
	s.logger.Warn("job will be retried", "job_id", j.ID, "kind", j.Kind, "attempt", j.Attempts, "error", cause.Error(), "run_at", runAt.String())
	err := s.store.Update(ctx, func(tx convo.Tx) error { return tx.RescheduleJob(ctx, j.ID, runAt, cause.Error()) })
	if err == nil && delay < jobPollInterval {
		// Retries sooner than the next poll run on time.
		time.AfterFunc(delay, s.wakeJobs)
	}
	return true, err
}

// isTemporary reports whether a provider failure may go away by itself.
func isTemporary(err error) bool {
	var ce *convo.ChannelError
	return !errors.As(err, &ce) || ce.Temporary
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
	var ch convo.Channel
	if err == nil {
		ch = s.config.Channels[a.Type]
	}
	if err != nil || a.IsDeleted() || ch == nil {
		return s.store.Update(ctx, func(tx convo.Tx) error { return tx.DeleteJob(ctx, j.ID) })
	}
	lookupCtx, cancel := context.WithTimeout(ctx, sendTimeout)
	name, err := ch.DisplayName(lookupCtx, a, conv.DialogID)
	cancel()
	if err != nil {
		if isTemporary(err) {
			if again, rerr := s.retryLater(ctx, j, err); again || rerr != nil {
				return rerr
			}
		}
		s.logger.Warn("display name lookup failed", "conversation_id", conv.ID, "error", err.Error())
	}
	return s.peerNames.submit(peerName{job: j, accountType: a.Type, name: name})
}

// peerName is a display name looked up for a conversation's peer ("" when
// none was found); storing it finishes its job.
type peerName struct {
	job         *convo.Job
	accountType string
	name        string
}

// storePeerNames puts looked-up names on their conversations and deletes
// their jobs, for many lookups in one transaction.
func (s *Service) storePeerNames(batch []peerName) error {
	ctx := context.Background()
	return s.update(ctx, func(tx convo.Tx) error {
		etx := &eventBuffer{Tx: tx}
		for _, p := range batch {
			if err := s.renameFromLookup(ctx, etx, p); err != nil {
				return err
			}
			if err := tx.DeleteJob(ctx, p.job.ID); err != nil {
				return err
			}
		}
		return etx.flush(ctx)
	})
}

// renameFromLookup puts a looked-up name on the job's conversation, unless
// it already has that name.
func (s *Service) renameFromLookup(ctx context.Context, tx convo.Tx, p peerName) error {
	if p.name == "" {
		return nil
	}
	conv, err := tx.GetConversation(ctx, p.job.RefID)
	if err != nil || conv.Peer.TargetName == p.name {
		return err
	}
	renamePeer(conv, p.accountType, p.name)
	conv.TMUpdate = s.now()
	if err := tx.UpdateConversation(ctx, conv); err != nil {
		return err
	}
	return s.emitConversation(ctx, tx, convo.EventConversationUpdated, conv)
}
