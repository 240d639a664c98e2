package service

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/lease"
	"github.com/convohq/convo/internal/outage"
	"github.com/convohq/convo/internal/poll"
	"github.com/convohq/convo/internal/rowcache"
	"github.com/convohq/convo/internal/webhook"
)

const (
	// eventLease is how long a claimed delivery is reserved; a process
	// killed mid-attempt leaves the event to another after this.
	eventLease = 30 * time.Second
	// eventBatch is how many events a realtime stream reads at once, and
	// how many new wanted events a pass counts at most.
	eventBatch = 256
	// pruneInterval is how often delivered events past retention are
	// deleted, pruneBatch how many one transaction deletes.
	pruneInterval = time.Hour
	pruneBatch    = 2000
)

// dispatcher follows settled events, feeds the realtime stream and
// delivers customer webhooks.
type dispatcher struct {
	wake     poll.Signal
	sequence *broadcast // notified when more events are settled
	// work hands claimed events to idle delivery workers.
	work    chan *convo.Event
	client  *webhook.Client
	running sync.WaitGroup
	// active counts deliveries in flight in this process, at most
	// maxActive; a finished one may unblock the next event of its stream.
	active atomic.Int32
	// lastPos is the highest event position streams were told about.
	lastPos int64
	// outcomes are attempts made but not yet recorded; the next pass writes
	// them all in one transaction.
	outcomesMu sync.Mutex
	outcomes   []convo.DeliveryOutcome
	lastPrune  time.Time
	// lastClaim is when a pass last looked for due events, and claimAgain
	// tells the next pass that the last look may have left some behind.
	lastClaim  time.Time
	claimAgain bool
	// customers caches webhook settings: one read serves a burst of deliveries.
	customers rowcache.Cache[*convo.Customer]
	leases    lease.Ends
	// leftQueue counts deliveries settled for good since the queue was last
	// tidied; tidying is set while a tidy runs.
	leftQueue int
	tidying   atomic.Bool
}

// record queues an attempt's outcome for the next pass and wakes it.
func (s *Service) record(e *convo.Event, a *convo.EventAttempt) {
	s.events.outcomesMu.Lock()
	s.events.outcomes = append(s.events.outcomes, convo.DeliveryOutcome{Event: e, Attempt: a})
	s.events.outcomesMu.Unlock()
	s.wakeEvents()
}

// recordOutcomes writes delivery outcomes.
func recordOutcomes(ctx context.Context, tx convo.Tx, outcomes []convo.DeliveryOutcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	return tx.RecordDeliveries(ctx, outcomes)
}

// requeueOutcomes puts back outcomes that a pass failed to record, ahead
// of those queued since.
func (s *Service) requeueOutcomes(outcomes []convo.DeliveryOutcome) {
	s.events.outcomesMu.Lock()
	defer s.events.outcomesMu.Unlock()
	s.events.outcomes = append(outcomes, s.events.outcomes...)
}

// takeOutcomes returns the queued outcomes and empties the queue.
func (s *Service) takeOutcomes() []convo.DeliveryOutcome {
	s.events.outcomesMu.Lock()
	defer s.events.outcomesMu.Unlock()
	out := s.events.outcomes
	s.events.outcomes = nil
	return out
}

// webhookCustomer returns the customer of an event, cached for cacheTTL.
func (s *Service) webhookCustomer(ctx context.Context, id string) (*convo.Customer, error) {
	return s.events.customers.Get(id, func() (cust *convo.Customer, err error) {
		err = s.store.View(ctx, func(tx convo.Tx) (err error) {
			cust, err = tx.GetCustomer(ctx, id)
			return err
		})
		return cust, err
	})
}

// commitPassGap is the least time between dispatcher passes woken by
// commits. Under load a pass came after every commit and numbered a handful
// of events; spaced out, each numbers more at once for the same statements
// and commit (PostgreSQL spent about a tenth less CPU per ingested message),
// and an event waits at most this much longer.
const commitPassGap = 5 * time.Millisecond

// passGap is the least time between passes: none while finished deliveries
// wait to be recorded, since the next event of their stream waits on them.
func (s *Service) passGap() time.Duration {
	s.events.outcomesMu.Lock()
	defer s.events.outcomesMu.Unlock()
	if len(s.events.outcomes) > 0 {
		return 0
	}
	return commitPassGap
}

// maxActive bounds the deliveries one process attempts at once. Only that
// many events are claimed: a claimed event waiting for its turn could
// outlive its lease and be claimed again while still queued here. Each
// pass waits for a commit, so it must claim enough to keep up with ingest.
const maxActive = 256

// defaultQueueTidyAfter is how many deliveries leave the queue between two
// tidies. Each leaves a dead entry that claims step over until the next
// (about a millisecond a claim for every 5,000 on PostgreSQL); a tidy of
// the small queue costs a few milliseconds.
const defaultQueueTidyAfter = 5000

func newDispatcher(allowPrivate bool, clock convo.Clock) *dispatcher {
	return &dispatcher{
		wake:     poll.NewSignal(),
		sequence: newBroadcast(),
		work:     make(chan *convo.Event),
		client:   webhook.NewClient(allowPrivate, maxActive, clock),
	}
}

// wakeEvents tells the dispatcher that events were committed.
func (s *Service) wakeEvents() { s.events.wake.Notify() }

// RunEvents delivers events and feeds realtime streams until ctx ends, then waits for
// deliveries in flight.
func (s *Service) RunEvents(ctx context.Context) {
	poll.Loop(ctx, s.events.wake, s.config.EventPoll, s.passGap, func() bool {
		busy, err := s.dispatchOnce(ctx)
		if err == nil {
			s.outage.Answered()
		} else if ctx.Err() == nil {
			s.outage.LogError("dispatch events", err)
		}
		return busy
	})
	close(s.events.work)
	s.events.running.Wait()
	s.events.client.CloseIdleConnections()
	// Record what the deliveries in flight did, so a clean stop sends nothing twice.
	if outcomes := s.takeOutcomes(); len(outcomes) > 0 {
		stopped := context.WithoutCancel(ctx)
		err := s.store.Update(stopped, func(tx convo.Tx) error { return recordOutcomes(stopped, tx, outcomes) })
		if err != nil {
			s.logger.Error("record webhook deliveries at shutdown", "error", err)
		}
	}
}

// dispatchOnce learns how far events are settled, starts due deliveries
// and prunes; it reports whether more work is waiting.
func (s *Service) dispatchOnce(ctx context.Context) (bool, error) {
	var seq convo.Settled
	outcomes := s.takeOutcomes()
	release := s.events.leases.Take(s.now())
	free := maxActive - int(s.events.active.Load())
	backstop := time.Since(s.events.lastClaim) >= s.config.EventPoll
	var claimed []*convo.Event
	var tried []convo.Time
	var looked, write bool
	var err error
	if write = len(outcomes) > 0 || len(release) > 0 || free > 0 && (s.events.claimAgain || backstop); !write {
		// Most passes under load only learn how far events are settled and
		// find none to deliver: one statement, and no transaction to commit.
		err = s.store.View(ctx, func(tx convo.Tx) (err error) {
			seq, err = tx.SettledEvents(ctx, s.events.lastPos, eventBatch)
			return err
		})
		write = err == nil && free > 0 && seq.Wanted > 0
	}
	// One transaction records every finished attempt, learns how far events
	// are settled and claims what is due: one commit a pass.
	if write {
		err = s.store.Update(ctx, func(tx convo.Tx) (err error) {
			claimed, looked = nil, false
			if len(release) > 0 {
				if err := tx.ReleaseEventLeases(ctx, release); err != nil {
					return err
				}
			}
			if err := recordOutcomes(ctx, tx, outcomes); err != nil {
				return err
			}
			if seq, err = tx.SettledEvents(ctx, s.events.lastPos, eventBatch); err != nil {
				return err
			}
			// Most passes under load settle events nobody receives; looking
			// for due ones then would find none and cost a statement.
			if free > 0 && (seq.Wanted > 0 || len(outcomes) > 0 || s.events.claimAgain || backstop) {
				looked = true
				// Read after settling: an event committed in this process
				// just before is due by now.
				now := s.now()
				lease := s.events.leases.Next(now.Add(eventLease))
				tried = append(tried, lease)
				claimed, err = tx.ClaimEvents(ctx, convo.ClaimEventsParams{Now: now, LeaseUntil: lease, Limit: free})
			}
			return err
		})
	}
	if err != nil {
		s.events.leases.Uncertain(release...)
		if outage.Unavailable(err) {
			// The next pass records the attempts and releases what this
			// one may have claimed: left to their leases, they would hold
			// up their streams for as long.
			s.requeueOutcomes(outcomes)
			s.events.leases.Uncertain(tried...)
		}
		// Unrecorded attempts are retried once their leases end: at least once still holds.
		return false, err
	}
	s.tidyQueue(ctx, outcomes)
	if looked {
		s.events.lastClaim = time.Now()
		// New events may not be due yet here when another replica's clock
		// runs ahead; the next pass looks again.
		s.events.claimAgain = len(claimed) == free || seq.Wanted > 0
	} else if free <= 0 {
		s.events.claimAgain = true
	}
	// Streams wake on every new position, also those another replica gave.
	if seq.LastPos > s.events.lastPos {
		s.events.lastPos = seq.LastPos
		s.events.sequence.notify()
	}
	for _, e := range claimed {
		s.startDelivery(ctx, e)
	}
	var pruneMore bool
	if time.Since(s.events.lastPrune) > pruneInterval {
		s.events.lastPrune = time.Now()
		var n int
		err = s.store.Update(ctx, func(tx convo.Tx) (err error) {
			n, err = tx.PruneEvents(ctx, convo.NewTime(s.clock.Now().Add(-s.config.EventRetention)), pruneBatch)
			return err
		})
		if n > 0 {
			s.logger.Info("pruned delivered events", "count", n)
		}
		auditMore, auditErr := s.pruneAudit(ctx)
		err = errors.Join(err, auditErr)
		if pruneMore = n == pruneBatch || auditMore; pruneMore {
			// The rest in the passes that follow, each a short transaction.
			s.events.lastPrune = time.Time{}
		}
	}
	return pruneMore, err
}

// startDelivery hands e to an idle delivery worker, or starts one. Workers
// outlive their delivery (a new goroutine per delivery grew its stack,
// copying it, on every request); about maxActive of them, those the
// busiest moment needed, wait for work until RunEvents ends.
func (s *Service) startDelivery(ctx context.Context, e *convo.Event) {
	s.events.active.Add(1)
	select {
	case s.events.work <- e:
		return
	default:
	}
	s.events.running.Add(1)
	go func() {
		defer s.events.running.Done()
		for ok := true; ok; e, ok = <-s.events.work {
			// Until RunEvents stops; then the event waits for its lease to end.
			err := s.outage.Retry(ctx.Done(), "deliver a webhook", func() error { return s.deliver(context.WithoutCancel(ctx), e) })
			if err != nil {
				s.outage.LogError("webhook delivery", err, "event_id", e.ID)
			}
			s.events.active.Add(-1)
		}
	}()
}

// tidyQueue counts the recorded outcomes that left the delivery queue and
// tidies it, beside the passes, once Config.QueueTidyAfter have.
func (s *Service) tidyQueue(ctx context.Context, recorded []convo.DeliveryOutcome) {
	for _, o := range recorded {
		if !convo.DeliveryWaiting(o.Event.Status) {
			s.events.leftQueue++
		}
	}
	if s.events.leftQueue < s.config.QueueTidyAfter || !s.events.tidying.CompareAndSwap(false, true) {
		return
	}
	s.events.leftQueue = 0
	s.events.running.Add(1)
	go func() {
		defer s.events.running.Done()
		defer s.events.tidying.Store(false)
		if err := s.store.Tidy(ctx); err != nil && ctx.Err() == nil {
			s.outage.LogError("tidy the delivery queue", err)
		}
	}()
}

// deliver makes one attempt to deliver e to its customer's webhook and
// records the outcome.
func (s *Service) deliver(ctx context.Context, e *convo.Event) error {
	cust, err := s.webhookCustomer(ctx, e.CustomerID)
	if err != nil {
		return err
	}
	now := s.now()
	e.LockedUntil = convo.Time{Time: time.Unix(0, 0)}
	if e.TargetURI == "" && (cust.WebhookURI == "" || !cust.TMDelete.IsNever()) {
		e.Status = convo.DeliverySkipped
		s.record(e, nil)
		return nil
	}
	start := time.Now()
	status, retryAfter, err := s.post(ctx, cust, e)
	attempt := &convo.EventAttempt{EventID: e.ID, At: now, HTTPStatus: status, LatencyMS: time.Since(start).Milliseconds()}
	e.Attempts++
	switch {
	case err == nil && status/100 == 2:
		e.Status, e.TMDelivered, e.LastError = convo.DeliveryDelivered, s.now(), ""
	default:
		if err != nil {
			attempt.Error = err.Error()
		} else {
			attempt.Error = fmt.Sprintf("answered %d", status)
		}
		e.LastError = attempt.Error
		e.Status = convo.DeliveryFailed
		e.NextAttemptAt = convo.NewTime(now.Add(max(s.backoff(e.Attempts), retryAfter)))
		if e.NextAttemptAt.Sub(e.TMCreate.Time) > s.config.WebhookMaxAge {
			e.Status = convo.DeliveryDead
			s.logger.Warn("webhook event given up", "event_id", e.ID, "customer_id", e.CustomerID, "attempts", e.Attempts, "error", e.LastError)
		}
	}
	s.config.WebhookAttempted(e.Status)
	s.record(e, attempt)
	return nil
}

// backoff is the wait before retry n (1-based): exponential from
// WebhookRetryBase, capped at WebhookRetryCap, with ±20% jitter so that
// retries of many events spread out.
func (s *Service) backoff(n int) time.Duration {
	d := s.config.WebhookRetryBase << min(n-1, 30)
	if d > s.config.WebhookRetryCap || d <= 0 {
		d = s.config.WebhookRetryCap
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// post makes the webhook request of e and returns the answer's status and
// any Retry-After it asked for.
func (s *Service) post(ctx context.Context, cust *convo.Customer, e *convo.Event) (int, time.Duration, error) {
	r := webhook.Request{ID: e.ID, Method: cust.WebhookMethod, URI: cust.WebhookURI, ContentType: "application/json", Secret: cust.WebhookSecret}
	if e.TargetURI != "" {
		r.Method, r.URI, r.ContentType = e.TargetMethod, e.TargetURI, e.ContentType
	}
	// Stored in the seed format; signed as sent. A flow's body in another
	// media type is the flow's text, not convo's document.
	r.Body = e.Payload
	if r.ContentType == "application/json" {
		r.Body = s.config.TimeFormat.RenderJSON(r.Body)
	}
	return s.events.client.Post(ctx, r)
}
