package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/convohq/convo"
)

const (
	// backlogTimeout bounds the backlog's read: a database that does not
	// answer leaves the scrape without those figures, not hanging.
	backlogTimeout = 2 * time.Second
	// backlogMaxAge is how long a read serves further scrapes: however many
	// scrape, the database sees at most one read a second.
	backlogMaxAge = time.Second
)

// jobKinds are the job kinds reported, 0 when none is pending.
var jobKinds = []string{convo.JobSendMessage, convo.JobPeerName, convo.JobActiveflow}

var (
	backlogUpDesc = prometheus.NewDesc("convo_backlog_up",
		"1 when the outbox and job figures below were read from the database in this scrape, 0 when the read failed or timed out.", nil, nil)
	outboxPendingDesc = prometheus.NewDesc("convo_outbox_pending_events",
		"Events waiting for webhook delivery, first attempt or retry (counted up to 1,000,000).", nil, nil)
	outboxOldestDesc = prometheus.NewDesc("convo_outbox_oldest_pending_age_seconds",
		"Age of the pending event first in the delivery order; 0 when none waits.", nil, nil)
	outboxDeadDesc = prometheus.NewDesc("convo_outbox_dead_events",
		"Events whose delivery was given up on and not retried since (counted up to 1,000,000).", nil, nil)
	jobsPendingDesc = prometheus.NewDesc("convo_jobs_pending",
		"Durable jobs not yet done (sends, peer name lookups, flow runs), by kind.", []string{"kind"}, nil)
)

// backlogCollector reads the store's backlog when scraped.
type backlogCollector struct {
	read  func(ctx context.Context) (convo.Backlog, error)
	clock convo.Clock

	// mu makes concurrent scrapes share one read.
	mu     sync.Mutex
	last   convo.Backlog
	lastOK bool
	lastAt time.Time
}

func newBacklogCollector(read func(ctx context.Context) (convo.Backlog, error), clock convo.Clock) *backlogCollector {
	return &backlogCollector{read: read, clock: clock}
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{backlogUpDesc, outboxPendingDesc, outboxOldestDesc, outboxDeadDesc, jobsPendingDesc} {
		ch <- d
	}
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	b, ok := c.backlog()
	if !ok {
		ch <- prometheus.MustNewConstMetric(backlogUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(backlogUpDesc, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(outboxPendingDesc, prometheus.GaugeValue, float64(b.EventsPending))
	age := 0.0
	if !b.OldestPending.IsZero() {
		age = max(c.clock.Now().Sub(b.OldestPending.Time).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(outboxOldestDesc, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(outboxDeadDesc, prometheus.GaugeValue, float64(b.EventsDead))
	for _, kind := range jobKinds {
		ch <- prometheus.MustNewConstMetric(jobsPendingDesc, prometheus.GaugeValue, float64(b.JobsPending[kind]), kind)
	}
}

// backlog returns the latest read, reading again when it is older than
// backlogMaxAge.
func (c *backlogCollector) backlog() (convo.Backlog, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.lastAt.IsZero() && time.Since(c.lastAt) < backlogMaxAge {
		return c.last, c.lastOK
	}
	ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
	defer cancel()
	b, err := c.read(ctx)
	c.last, c.lastOK, c.lastAt = b, err == nil, time.Now()
	return b, c.lastOK
}

var (
	poolMaxDesc   = prometheus.NewDesc("convo_db_pool_max_connections", "Most connections the pool opens.", []string{"pool"}, nil)
	poolOpenDesc  = prometheus.NewDesc("convo_db_pool_open_connections", "Connections the pool has open.", []string{"pool"}, nil)
	poolInUseDesc = prometheus.NewDesc("convo_db_pool_in_use_connections", "Connections lent out now.", []string{"pool"}, nil)
	poolIdleDesc  = prometheus.NewDesc("convo_db_pool_idle_connections", "Open connections waiting to be lent.", []string{"pool"}, nil)
	poolWaitsDesc = prometheus.NewDesc("convo_db_pool_waits_total", "Connections asked for while none was free.", []string{"pool"}, nil)
	poolWaitDesc  = prometheus.NewDesc("convo_db_pool_wait_seconds_total", "Time spent waiting for a free connection.", []string{"pool"}, nil)
)

// poolCollector reports the database's connection pools when scraped.
type poolCollector func() []convo.PoolStats

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolMaxDesc, poolOpenDesc, poolInUseDesc, poolIdleDesc, poolWaitsDesc, poolWaitDesc} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c() {
		ch <- prometheus.MustNewConstMetric(poolMaxDesc, prometheus.GaugeValue, float64(p.MaxOpen), p.Name)
		ch <- prometheus.MustNewConstMetric(poolOpenDesc, prometheus.GaugeValue, float64(p.Open), p.Name)
		ch <- prometheus.MustNewConstMetric(poolInUseDesc, prometheus.GaugeValue, float64(p.InUse), p.Name)
		ch <- prometheus.MustNewConstMetric(poolIdleDesc, prometheus.GaugeValue, float64(p.Idle), p.Name)
		ch <- prometheus.MustNewConstMetric(poolWaitsDesc, prometheus.CounterValue, float64(p.Waits), p.Name)
		ch <- prometheus.MustNewConstMetric(poolWaitDesc, prometheus.CounterValue, p.WaitTime.Seconds(), p.Name)
	}
}
