package service

import (
	"context"
	"errors"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/outage"
)

const (
	// jobLease is how long a claimed job is reserved; a process that dies
	// mid-job leaves it to be claimed again after this.
	jobLease = time.Minute
	// jobPollInterval is the backstop poll; commits wake the runner at once.
	jobPollInterval = time.Second
	// jobBatch is how many due jobs one poll claims.
	jobBatch = 32
	// providerTimeout bounds one provider call (a send or a lookup).
	providerTimeout = 30 * time.Second
)

// RunJobs claims and runs due jobs until ctx ends, then waits for the jobs
// in flight.
func (s *Service) RunJobs(ctx context.Context) {
	defer s.mediaJobs.Wait()
	s.jobs.Run(ctx, jobPollInterval, func() bool {
		jobs, err := s.claimJobs(ctx, convo.ClaimJobsParams{Limit: jobBatch})
		if err == nil {
			s.outage.Answered()
		} else if ctx.Err() == nil {
			s.outage.LogError("claim jobs", err)
		}
		for _, j := range jobs {
			s.startJob(context.WithoutCancel(ctx), j)
		}
		return len(jobs) == jobBatch
	})
}

// claimJobs reserves jobs for this process.
func (s *Service) claimJobs(ctx context.Context, p convo.ClaimJobsParams) ([]*convo.Job, error) {
	now := s.now()
	p.Now, p.LeaseUntil = now, s.jobs.Leases.Next(now.Add(jobLease))
	release := s.jobs.Leases.Take(now)
	var jobs []*convo.Job
	err := s.store.Update(ctx, func(tx convo.Tx) (err error) {
		if len(release) > 0 {
			if err := tx.ReleaseJobLeases(ctx, release); err != nil {
				return err
			}
		}
		jobs, err = tx.ClaimJobs(ctx, p)
		return err
	})
	if err != nil {
		s.jobs.Leases.Uncertain(release...)
		if outage.Unavailable(err) {
			s.jobs.Leases.Uncertain(p.LeaseUntil)
		}
		// The jobs read are not ours unless the commit says so.
		return nil, err
	}
	return jobs, nil
}

// startJob runs a claimed job in the background; the channel closes when it is done.
func (s *Service) startJob(ctx context.Context, j *convo.Job) <-chan struct{} {
	return s.startTask(j, func() error { return s.runJob(ctx, j) })
}

// startTask runs the work of job j in the background, among the runner's
// slots; the channel closes when it is done.
func (s *Service) startTask(j *convo.Job, run func() error) <-chan struct{} {
	runner := s.jobs
	if j.Kind == convo.JobFetchMedia {
		// Downloads have slots of their own: a burst of media neither
		// holds up sends nor takes more than its share of the machine.
		runner = s.mediaJobs
	}
	return runner.Go(func() {
		// A job is safe to run again from the start: it rereads its state
		// (sends record their provider's answer apart, see runSend).
		if err := s.outage.Retry(s.jobs.Stopping(), "run a job", run); err != nil {
			s.outage.LogError("job failed to run", err, "job_id", j.ID, "kind", j.Kind)
		}
	})
}

// runJobNow claims one job by id and runs it; the channel closes when it is
// done, or at once when another runner holds it.
func (s *Service) runJobNow(ctx context.Context, id string) <-chan struct{} {
	jobs, err := s.claimJobs(ctx, convo.ClaimJobsParams{ID: id, Limit: 1})
	if err != nil || len(jobs) == 0 {
		if err != nil {
			// The poll takes the job once it is due.
			s.outage.LogError("claim job", err, "job_id", id)
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
	case convo.JobUnsnooze:
		return s.runUnsnooze(ctx, j)
	case convo.JobAutoResolve:
		return s.runAutoResolve(ctx, j)
	case convo.JobFetchMedia:
		return s.runFetchMedia(ctx, j)
	case convo.JobMediaRetention:
		return s.runMediaRetention(ctx, j)
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
		time.AfterFunc(delay, s.jobs.Wake)
	}
	return true, err
}

// isTemporary reports whether a provider failure may go away by itself.
func isTemporary(err error) bool {
	var ce *convo.ChannelError
	return !errors.As(err, &ce) || ce.Temporary
}
