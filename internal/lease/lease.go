// Package lease picks the ends of the leases a process takes on rows it
// claims (jobs, events) and remembers the claims whose outcome is unknown.
package lease

import (
	"sync"
	"time"

	"github.com/convohq/convo"
)

// Ends picks the ends of a runner's leases and remembers the claims whose
// outcome is unknown: a claim whose commit failed with the database may
// have taken its rows all the same, and nobody would work on them until
// the lease ended. Each end picked is later than the one before, so it
// names one claim of this process; the next claim releases the unknown ones.
type Ends struct {
	mu      sync.Mutex
	last    convo.Time
	unknown []convo.Time
}

// Next returns the end of a new lease: at, or just after the last one.
func (l *Ends) Next(at time.Time) convo.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	end := convo.NewTime(at)
	if !end.After(l.last.Time) {
		end = convo.TimeFromMicros(l.last.Micros() + 1)
	}
	l.last = end
	return end
}

// Uncertain remembers lease ends to release.
func (l *Ends) Uncertain(ends ...convo.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unknown = append(l.unknown, ends...)
}

// Take returns the lease ends to release, leaving out those over by now.
func (l *Ends) Take(now convo.Time) []convo.Time {
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
