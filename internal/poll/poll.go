// Package poll runs the loops of background work: a pass when woken, and
// after an interval otherwise.
package poll

import (
	"context"
	"time"
)

// Signal wakes a loop; signals sent while it is busy fold into one.
type Signal chan struct{}

// NewSignal returns a Signal.
func NewSignal() Signal { return make(Signal, 1) }

// Notify wakes the loop, or leaves it to wake once its pass ends.
func (s Signal) Notify() {
	select {
	case s <- struct{}{}:
	default:
	}
}

// Loop calls pass until ctx ends: when woken (but no sooner than
// minGap, when given, says after the previous pass began), after interval
// otherwise, and again straight away while pass reports more work waiting.
func Loop(ctx context.Context, wake <-chan struct{}, interval time.Duration, minGap func() time.Duration, pass func() (busy bool)) {
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
