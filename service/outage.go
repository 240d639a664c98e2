package service

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/convohq/convo"
)

// While the database does not answer (a restart, a lost network), requests
// fail with EUnavailable and the client retries; background work (jobs,
// deliveries, streams) waits and retries by itself, so that everything
// resumes once the database answers again, without a restart.

// Ready reports whether the store can serve: the database answers and has
// every migration applied.
func (s *Service) Ready(ctx context.Context) error {
	return s.store.Ready(ctx)
}

// isUnavailable reports whether err says the database cannot answer now.
func isUnavailable(err error) bool {
	return convo.ErrorStatus(err) == convo.EUnavailable
}

// maxOutageWait bounds the wait between two attempts of background work
// while the database is away, hence how long it takes to notice its return.
const maxOutageWait = time.Second

// outageWait is the wait before attempt n+1 (n from 0) of work that met
// an unavailable database: short at first, for a blip.
func outageWait(n int) time.Duration {
	return min(50*time.Millisecond<<min(n, 10), maxOutageWait)
}

// outage tells the log when background work finds the database gone and
// when it answers again, once each rather than at every failed attempt.
type outage struct {
	down atomic.Bool
	// lastFailure is when work last met the database away (Unix nanoseconds).
	lastFailure atomic.Int64
}

// outageSettles is how long the database must have answered without a
// failure for an outage to be over: while it stops, some calls still
// succeed between failures.
const outageSettles = 500 * time.Millisecond

// logError logs a failure of background work: an unavailable database only
// when it is first seen, anything else always.
func (s *Service) logError(msg string, err error, attrs ...any) {
	if !isUnavailable(err) {
		s.logger.Error(msg, append(attrs, "error", err)...)
		return
	}
	s.outage.lastFailure.Store(time.Now().UnixNano())
	if s.outage.down.CompareAndSwap(false, true) {
		s.logger.Error("the database is unavailable; background work waits for it", "error", err)
	}
}

// answered notes that the database answered background work.
func (s *Service) answered() {
	if s.outage.down.Load() && time.Since(time.Unix(0, s.outage.lastFailure.Load())) > outageSettles &&
		s.outage.down.CompareAndSwap(true, false) {
		s.logger.Info("the database answers again")
	}
}

// retryUnavailable runs fn again, after a growing wait, while it fails
// because the database is unavailable, until stop is closed; it returns
// fn's last error.
func (s *Service) retryUnavailable(stop <-chan struct{}, what string, fn func() error) error {
	for n := 0; ; n++ {
		err := fn()
		if !isUnavailable(err) {
			if err == nil {
				s.answered()
			}
			return err
		}
		s.logError(what, err)
		timer := time.NewTimer(outageWait(n))
		select {
		case <-stop:
			timer.Stop()
			return err
		case <-timer.C:
		}
	}
}

// leases picks the ends of a runner's leases and remembers the claims whose
// outcome is unknown: a claim whose commit failed with the database may
// have taken its rows all the same, and nobody would work on them until
// the lease ended. Each end picked is later than the one before, so it
// names one claim of this process; the next claim releases the unknown ones.
type leases struct {
	mu      sync.Mutex
	last    convo.Time
	unknown []convo.Time
}

// next returns the end of a new lease: at, or just after the last one.
func (l *leases) next(at time.Time) convo.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	end := convo.NewTime(at)
	if !end.After(l.last.Time) {
		end = convo.TimeFromMicros(l.last.Micros() + 1)
	}
	l.last = end
	return end
}

// uncertain remembers lease ends to release.
func (l *leases) uncertain(ends ...convo.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unknown = append(l.unknown, ends...)
}

// take returns the lease ends to release, leaving out those over by now.
func (l *leases) take(now convo.Time) []convo.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []convo.Time
	for _, end := range l.unknown {
		if end.After(now.Time) {
			out = append(out, end)
		}
	}
	l.unknown = nil
	return out
}
