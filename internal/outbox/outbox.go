// Package outbox delivers the events that use cases write in their
// transactions (the transactional outbox): it follows how far events are
// settled, claims those due, attempts each customer's webhook and records
// the outcomes, and prunes what retention lets go.
package outbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// eventBatch is how many new wanted events a pass counts at most.
	eventBatch = 256
	// pruneInterval is how often delivered events past retention are
	// deleted, pruneBatch how many one transaction deletes.
	pruneInterval = time.Hour
	pruneBatch    = 2000
)

// Config holds the settings of a Dispatcher.
type Config struct {
	// RetryBase is the first retry delay of a failed webhook; each further
	// retry doubles it up to RetryCap.
	RetryBase, RetryCap time.Duration
	// MaxAge is how long an event is retried before it is dead.
	MaxAge time.Duration
	// AllowPrivate lets webhooks target loopback and private networks.
	AllowPrivate bool
	// Retention is how long delivered events are kept (for listing and replay).
	Retention time.Duration
	// Poll is the backstop poll; commits wake the dispatcher at once.
	Poll time.Duration
	// TidyAfter is how many deliveries leave the delivery queue between
	// two tidies of it (see convo.Store.Tidy).
	TidyAfter int
	// Attempted, when set, is told of each attempt by the state it left
	// the event in: delivered, failed or dead.
	Attempted func(status string)
	// TimeFormat is how timestamps are written in webhook bodies (stored
	// event payloads keep the seed format); empty is the seed format.
	TimeFormat convo.TimeFormat
	// Settled, when set, is told whenever events are settled further.
	Settled func()
	// Prune, when set, runs beside the pruning of events and reports
	// whether more is left to prune.
	Prune  func(ctx context.Context) (more bool, err error)
	Logger *slog.Logger
	// Outage, when set, is shared with the process's other background
	// work, so that an outage is logged once.
	Outage *outage.Watch
}

// Dispatcher follows settled events and delivers customer webhooks.
type Dispatcher struct {
	store  convo.Store
	clock  convo.Clock
	config Config
	logger *slog.Logger
	outage *outage.Watch
	wake   poll.Signal
	// work hands claimed events to idle delivery workers.
	work    chan *convo.Event
	client  *webhook.Client
	running sync.WaitGroup
	// active counts deliveries in flight in this process, at most
	// MaxActive; a finished one may unblock the next event of its stream.
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
func (d *Dispatcher) record(e *convo.Event, a *convo.EventAttempt) {
	d.outcomesMu.Lock()
	d.outcomes = append(d.outcomes, convo.DeliveryOutcome{Event: e, Attempt: a})
	d.outcomesMu.Unlock()
	d.Wake()
}

// ForgetCustomer drops the cached webhook settings of a customer, after a
// change to them has committed.
func (d *Dispatcher) ForgetCustomer(id string) { d.customers.Forget(id) }

// recordOutcomes writes delivery outcomes.
func recordOutcomes(ctx context.Context, tx convo.Tx, outcomes []convo.DeliveryOutcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	return tx.RecordDeliveries(ctx, outcomes)
}

// requeueOutcomes puts back outcomes that a pass failed to record, ahead
// of those queued since.
func (d *Dispatcher) requeueOutcomes(outcomes []convo.DeliveryOutcome) {
	d.outcomesMu.Lock()
	defer d.outcomesMu.Unlock()
	d.outcomes = append(outcomes, d.outcomes...)
}

// takeOutcomes returns the queued outcomes and empties the queue.
func (d *Dispatcher) takeOutcomes() []convo.DeliveryOutcome {
	d.outcomesMu.Lock()
	defer d.outcomesMu.Unlock()
	out := d.outcomes
	d.outcomes = nil
	return out
}

// webhookCustomer returns the customer of an event, cached for a second.
func (d *Dispatcher) webhookCustomer(ctx context.Context, id string) (*convo.Customer, error) {
	return d.customers.Get(id, func() (cust *convo.Customer, err error) {
		err = d.store.View(ctx, func(tx convo.Tx) (err error) {
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
func (d *Dispatcher) passGap() time.Duration {
	d.outcomesMu.Lock()
	defer d.outcomesMu.Unlock()
	if len(d.outcomes) > 0 {
		return 0
	}
	return commitPassGap
}

// MaxActive bounds the deliveries one process attempts at once. Only that
// many events are claimed: a claimed event waiting for its turn could
// outlive its lease and be claimed again while still queued here. Each
// pass waits for a commit, so it must claim enough to keep up with ingest.
const MaxActive = 256

// defaultTidyAfter is how many deliveries leave the queue between two
// tidies. Each leaves a dead entry that claims step over until the next
// (about a millisecond a claim for every 5,000 on PostgreSQL); a tidy of
// the small queue costs a few milliseconds.
const defaultTidyAfter = 5000

// New returns a Dispatcher of the events in store; zero settings take defaults.
func New(store convo.Store, clock convo.Clock, config Config) *Dispatcher {
	config.RetryBase = cmp.Or(config.RetryBase, 5*time.Second)
	config.RetryCap = cmp.Or(config.RetryCap, time.Hour)
	config.MaxAge = cmp.Or(config.MaxAge, 25*time.Hour)
	config.Retention = cmp.Or(config.Retention, 7*24*time.Hour)
	config.Poll = cmp.Or(config.Poll, 250*time.Millisecond)
	config.TidyAfter = cmp.Or(config.TidyAfter, defaultTidyAfter)
	config.TimeFormat = cmp.Or(config.TimeFormat, convo.TimeSeed)
	if config.Attempted == nil {
		config.Attempted = func(string) {}
	}
	if config.Settled == nil {
		config.Settled = func() {}
	}
	if config.Prune == nil {
		config.Prune = func(context.Context) (bool, error) { return false, nil }
	}
	if config.Logger == nil {
		config.Logger = slog.New(slog.DiscardHandler)
	}
	if config.Outage == nil {
		config.Outage = outage.NewWatch(config.Logger)
	}
	return &Dispatcher{store: store, clock: clock, config: config, logger: config.Logger,
		outage: config.Outage, wake: poll.NewSignal(), work: make(chan *convo.Event),
		client: webhook.NewClient(config.AllowPrivate, MaxActive, clock)}
}

// Wake tells the dispatcher that events were committed.
func (d *Dispatcher) Wake() { d.wake.Notify() }

// Run delivers events and tells of settled ones until ctx ends, then waits for
// deliveries in flight.
func (d *Dispatcher) Run(ctx context.Context) {
	poll.Loop(ctx, d.wake, d.config.Poll, d.passGap, func() bool {
		busy, err := d.dispatchOnce(ctx)
		if err == nil {
			d.outage.Answered()
		} else if ctx.Err() == nil {
			d.outage.LogError("dispatch events", err)
		}
		return busy
	})
	close(d.work)
	d.running.Wait()
	d.client.CloseIdleConnections()
	// Record what the deliveries in flight did, so a clean stop delivers nothing twice.
	if outcomes := d.takeOutcomes(); len(outcomes) > 0 {
		stopped := context.WithoutCancel(ctx)
		err := d.store.Update(stopped, func(tx convo.Tx) error { return recordOutcomes(stopped, tx, outcomes) })
		if err != nil {
			d.logger.Error("record webhook deliveries at shutdown", "error", err)
		}
	}
}

// dispatchOnce learns how far events are settled, starts due deliveries
// and prunes; it reports whether more work is waiting.
func (d *Dispatcher) dispatchOnce(ctx context.Context) (bool, error) {
	var seq convo.Settled
	outcomes := d.takeOutcomes()
	release := d.leases.Take(d.now())
	free := MaxActive - int(d.active.Load())
	backstop := time.Since(d.lastClaim) >= d.config.Poll
	var claimed []*convo.Event
	var tried []convo.Time
	var looked, write bool
	var err error
	if write = len(outcomes) > 0 || len(release) > 0 || free > 0 && (d.claimAgain || backstop); !write {
		// Most passes under load only learn how far events are settled and
		// find none to deliver: one statement, and no transaction to commit.
		err = d.store.View(ctx, func(tx convo.Tx) (err error) {
			seq, err = tx.SettledEvents(ctx, d.lastPos, eventBatch)
			return err
		})
		write = err == nil && free > 0 && seq.Wanted > 0
	}
	// One transaction records every finished attempt, learns how far events
	// are settled and claims what is due: one commit a pass.
	if write {
		err = d.store.Update(ctx, func(tx convo.Tx) (err error) {
			claimed, looked = nil, false
			if len(release) > 0 {
				if err := tx.ReleaseEventLeases(ctx, release); err != nil {
					return err
				}
			}
			if err := recordOutcomes(ctx, tx, outcomes); err != nil {
				return err
			}
			if seq, err = tx.SettledEvents(ctx, d.lastPos, eventBatch); err != nil {
				return err
			}
			// Most passes under load settle events nobody receives; looking
			// for due ones then would find none and cost a statement.
			if free > 0 && (seq.Wanted > 0 || len(outcomes) > 0 || d.claimAgain || backstop) {
				looked = true
				// Read after settling: an event committed in this process
				// just before is due by now.
				now := d.now()
				lease := d.leases.Next(now.Add(eventLease))
				tried = append(tried, lease)
				claimed, err = tx.ClaimEvents(ctx, convo.ClaimEventsParams{Now: now, LeaseUntil: lease, Limit: free})
			}
			return err
		})
	}
	if err != nil {
		d.leases.Uncertain(release...)
		if outage.Unavailable(err) {
			// The next pass records the attempts and releases what this
			// one may have claimed: left to their leases, they would hold
			// up their streams for as long.
			d.requeueOutcomes(outcomes)
			d.leases.Uncertain(tried...)
		}
		// Unrecorded attempts are retried once their leases end: at least once still holds.
		return false, err
	}
	d.tidyQueue(ctx, outcomes)
	if looked {
		d.lastClaim = time.Now()
		// New events may not be due yet here when another replica's clock
		// runs ahead; the next pass looks again.
		d.claimAgain = len(claimed) == free || seq.Wanted > 0
	} else if free <= 0 {
		d.claimAgain = true
	}
	// Streams wake on every new position, also those another replica gave.
	if seq.LastPos > d.lastPos {
		d.lastPos = seq.LastPos
		d.config.Settled()
	}
	for _, e := range claimed {
		d.startDelivery(ctx, e)
	}
	var pruneMore bool
	if time.Since(d.lastPrune) > pruneInterval {
		d.lastPrune = time.Now()
		var n int
		err = d.store.Update(ctx, func(tx convo.Tx) (err error) {
			n, err = tx.PruneEvents(ctx, convo.NewTime(d.clock.Now().Add(-d.config.Retention)), pruneBatch)
			return err
		})
		if n > 0 {
			d.logger.Info("pruned delivered events", "count", n)
		}
		auditMore, auditErr := d.config.Prune(ctx)
		err = errors.Join(err, auditErr)
		if pruneMore = n == pruneBatch || auditMore; pruneMore {
			// The rest in the passes that follow, each a short transaction.
			d.lastPrune = time.Time{}
		}
	}
	return pruneMore, err
}

// startDelivery hands e to an idle delivery worker, or starts one. Workers
// outlive their delivery (a new goroutine per delivery grew its stack,
// copying it, on every request); about MaxActive of them, those the
// busiest moment needed, wait for work until Run ends.
func (d *Dispatcher) startDelivery(ctx context.Context, e *convo.Event) {
	d.active.Add(1)
	select {
	case d.work <- e:
		return
	default:
	}
	d.running.Add(1)
	go func() {
		defer d.running.Done()
		for ok := true; ok; e, ok = <-d.work {
			// Until Run stops; then the event waits for its lease to end.
			err := d.outage.Retry(ctx.Done(), "deliver a webhook", func() error { return d.deliver(context.WithoutCancel(ctx), e) })
			if err != nil {
				d.outage.LogError("webhook delivery", err, "event_id", e.ID)
			}
			d.active.Add(-1)
		}
	}()
}

// tidyQueue counts the recorded outcomes that left the delivery queue and
// tidies it, beside the passes, once Config.TidyAfter have.
func (d *Dispatcher) tidyQueue(ctx context.Context, recorded []convo.DeliveryOutcome) {
	for _, o := range recorded {
		if !convo.DeliveryWaiting(o.Event.Status) {
			d.leftQueue++
		}
	}
	if d.leftQueue < d.config.TidyAfter || !d.tidying.CompareAndSwap(false, true) {
		return
	}
	d.leftQueue = 0
	d.running.Add(1)
	go func() {
		defer d.running.Done()
		defer d.tidying.Store(false)
		if err := d.store.Tidy(ctx); err != nil && ctx.Err() == nil {
			d.outage.LogError("tidy the delivery queue", err)
		}
	}()
}

// deliver makes one attempt to deliver e to its customer's webhook and
// records the outcome.
func (d *Dispatcher) deliver(ctx context.Context, e *convo.Event) error {
	cust, err := d.webhookCustomer(ctx, e.CustomerID)
	if err != nil {
		return err
	}
	now := d.now()
	e.LockedUntil = convo.Time{Time: time.Unix(0, 0)}
	if e.TargetURI == "" && (cust.WebhookURI == "" || !cust.TMDelete.IsNever()) {
		e.Status = convo.DeliverySkipped
		d.record(e, nil)
		return nil
	}
	start := time.Now()
	status, retryAfter, err := d.post(ctx, cust, e)
	attempt := &convo.EventAttempt{EventID: e.ID, At: now, HTTPStatus: status, LatencyMS: time.Since(start).Milliseconds()}
	e.Attempts++
	switch {
	case err == nil && status/100 == 2:
		e.Status, e.TMDelivered, e.LastError = convo.DeliveryDelivered, d.now(), ""
	default:
		if err != nil {
			attempt.Error = err.Error()
		} else {
			attempt.Error = fmt.Sprintf("answered %d", status)
		}
		e.LastError = attempt.Error
		e.Status = convo.DeliveryFailed
		e.NextAttemptAt = convo.NewTime(now.Add(max(d.backoff(e.Attempts), retryAfter)))
		if e.NextAttemptAt.Sub(e.TMCreate.Time) > d.config.MaxAge {
			e.Status = convo.DeliveryDead
			d.logger.Warn("webhook event given up", "event_id", e.ID, "customer_id", e.CustomerID, "attempts", e.Attempts, "error", e.LastError)
		}
	}
	d.config.Attempted(e.Status)
	d.record(e, attempt)
	return nil
}

// backoff is the wait before retry n (1-based): exponential from
// RetryBase, capped at RetryCap, with ±20% jitter so that retries of many
// events spread out.
func (d *Dispatcher) backoff(n int) time.Duration {
	wait := d.config.RetryBase << min(n-1, 30)
	if wait > d.config.RetryCap || wait <= 0 {
		wait = d.config.RetryCap
	}
	return time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))
}

// post makes the webhook request of e and returns the answer's status and
// any Retry-After it asked for.
func (d *Dispatcher) post(ctx context.Context, cust *convo.Customer, e *convo.Event) (int, time.Duration, error) {
	r := webhook.Request{ID: e.ID, Method: cust.WebhookMethod, URI: cust.WebhookURI, ContentType: "application/json", Secret: cust.WebhookSecret}
	if e.TargetURI != "" {
		r.Method, r.URI, r.ContentType = e.TargetMethod, e.TargetURI, e.ContentType
	}
	// Stored in the seed format; signed as posted. A flow's body in another
	// media type is the flow's text, not convo's document.
	r.Body = e.Payload
	if r.ContentType == "application/json" {
		r.Body = d.config.TimeFormat.RenderJSON(r.Body)
	}
	return d.client.Post(ctx, r)
}

// now is the current time at the store's precision.
func (d *Dispatcher) now() convo.Time { return convo.NewTime(d.clock.Now()) }
