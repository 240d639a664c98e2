// Package outage lets background work ride out a database that does not
// answer: it retries the work and tells the log when the outage begins and
// ends, once each.
package outage

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/convohq/convo"
)

// While the database does not answer (a restart, a lost network), requests
// fail with EUnavailable and the client retries; background work (jobs,
// deliveries, streams) waits and retries by itself, so that everything
// resumes once the database answers again, without a restart.

// Unavailable reports whether err says the database cannot answer now.
func Unavailable(err error) bool {
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

// Watch tells the log when background work finds the database gone and
// when it answers again, once each rather than at every failed attempt.
type Watch struct {
	logger *slog.Logger
	down   atomic.Bool
	// lastFailure is when work last met the database away (Unix nanoseconds).
	lastFailure atomic.Int64
}

// NewWatch returns a Watch that logs to logger.
func NewWatch(logger *slog.Logger) *Watch { return &Watch{logger: logger} }

// outageSettles is how long the database must have answered without a
// failure for an outage to be over: while it stops, some calls still
// succeed between failures.
const outageSettles = 500 * time.Millisecond

// LogError logs a failure of background work: an unavailable database only
// when it is first seen, anything else always.
func (w *Watch) LogError(msg string, err error, attrs ...any) {
	if !Unavailable(err) {
		w.logger.Error(msg, append(attrs, "error", err)...)
		return
	}
	w.lastFailure.Store(time.Now().UnixNano())
	if w.down.CompareAndSwap(false, true) {
		w.logger.Error("the database is unavailable; background work waits for it", "error", err)
	}
}

// Answered notes that the database answered background work.
func (w *Watch) Answered() {
	if w.down.Load() && time.Since(time.Unix(0, w.lastFailure.Load())) > outageSettles &&
		w.down.CompareAndSwap(true, false) {
		w.logger.Info("the database answers again")
	}
}

// Retry runs fn again, after a growing wait, while it fails
// because the database is unavailable, until stop is closed; it returns
// fn's last error.
func (w *Watch) Retry(stop <-chan struct{}, what string, fn func() error) error {
	for n := 0; ; n++ {
		err := fn()
		if !Unavailable(err) {
			if err == nil {
				w.Answered()
			}
			return err
		}
		w.LogError(what, err)
		timer := time.NewTimer(outageWait(n))
		select {
		case <-stop:
			timer.Stop()
			return err
		case <-timer.C:
		}
	}
}
