// Package jobrunner runs durable jobs in the background: right after the
// request that created them, or from a poll loop after a restart or a
// retry delay. What a job is and how it is claimed belong to its caller.
package jobrunner

import (
	"context"
	"sync"
	"time"

	"github.com/convohq/convo/internal/lease"
	"github.com/convohq/convo/internal/poll"
)

// Runner runs jobs, at most a fixed number at once.
type Runner struct {
	// Leases picks the ends of the leases of claimed jobs.
	Leases  lease.Ends
	wake    poll.Signal
	running sync.WaitGroup
	slots   chan struct{}
	// stop is closed when Run ends: jobs waiting for the database give
	// up, to be claimed again once their leases end.
	stop     chan struct{}
	stopOnce sync.Once
}

// New returns a Runner that runs up to slots jobs at once.
func New(slots int) *Runner {
	return &Runner{wake: poll.NewSignal(), slots: make(chan struct{}, slots), stop: make(chan struct{})}
}

// Wake tells the poll loop that new jobs are due.
func (r *Runner) Wake() { r.wake.Notify() }

// Run calls claim when woken, or after interval, until ctx ends, then waits
// for the jobs in flight. claim starts the jobs it claims with Go and
// reports whether more are due at once.
func (r *Runner) Run(ctx context.Context, interval time.Duration, claim func() (more bool)) {
	defer r.running.Wait()
	defer r.stopOnce.Do(func() { close(r.stop) })
	poll.Loop(ctx, r.wake, interval, nil, claim)
}

// Go runs a job's work in the background, in one of the runner's slots;
// the channel closes when it is done.
func (r *Runner) Go(work func()) <-chan struct{} {
	done := make(chan struct{})
	r.running.Add(1)
	go func() {
		defer r.running.Done()
		defer close(done)
		r.slots <- struct{}{}
		defer func() { <-r.slots }()
		work()
	}()
	return done
}

// Stopping is closed once Run has ended.
func (r *Runner) Stopping() <-chan struct{} { return r.stop }

// Wait waits for the work started with Go, for a runner whose Run is not
// used (its work is claimed by another runner's loop).
func (r *Runner) Wait() { r.running.Wait() }
