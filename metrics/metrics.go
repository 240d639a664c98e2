// Package metrics exposes convo's figures in Prometheus's text format
// through prometheus/client_golang: requests, the outbox and the jobs,
// webhook attempts, provider calls, streams, database pools and Go's
// runtime. Every label takes its values from a small fixed vocabulary
// (route patterns, methods, status codes, channels, outcomes), never from
// an id or a customer's text.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/convohq/convo"
)

// Sources are what a scrape reads besides the counters kept here.
type Sources struct {
	// Backlog reads the store's backlog (see backlogCollector for how often).
	Backlog func(ctx context.Context) (convo.Backlog, error)
	// Pools returns the figures of the database's connection pools.
	Pools func() []convo.PoolStats
	// Clock tells the age of the oldest pending event (default: the wall clock).
	Clock convo.Clock
}

// Metrics holds the figures of one convo process in a registry of its own,
// so that several servers in one process (tests) keep theirs apart.
type Metrics struct {
	registry *prometheus.Registry
	handler  http.Handler

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// observers caches the series of each (route, method, status) seen, so
	// that a request looks its series up without building label strings. It
	// is copied on write: the keys are few and soon all known.
	observers atomic.Pointer[map[requestKey]*requestObservers]
	addMu     sync.Mutex

	webhookAttempts *prometheus.CounterVec
	// attempts holds webhookAttempts' series by outcome.
	attempts      map[string]prometheus.Counter
	providerCalls *prometheus.CounterVec
	streams       prometheus.Gauge
}

// New returns the metrics of a process reading src when scraped.
func New(src Sources) *Metrics {
	if src.Clock == nil {
		src.Clock = convo.SystemClock{}
	}
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "convo_http_requests_total",
			Help: "HTTP requests answered, by route pattern (\"unmatched\" when no route matched), method and status code.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "convo_http_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer, by route pattern and method (a WebSocket stream: its whole life).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		webhookAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "convo_webhook_attempts_total",
			Help: "Webhook delivery attempts, by the event's state after the attempt: delivered, failed (retried later) or dead (given up).",
		}, []string{"outcome"}),
		providerCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "convo_provider_calls_total",
			Help: "Provider API calls, by channel (sms, line, whatsapp), call (send, display_name) and outcome.",
		}, []string{"channel", "call", "outcome"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "convo_websocket_connections",
			Help: "Realtime WebSocket streams open now.",
		}),
	}
	m.observers.Store(&map[requestKey]*requestObservers{})
	m.attempts = map[string]prometheus.Counter{}
	for _, outcome := range []string{convo.DeliveryDelivered, convo.DeliveryFailed, convo.DeliveryDead} {
		m.attempts[outcome] = m.webhookAttempts.WithLabelValues(outcome)
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.webhookAttempts, m.providerCalls, m.streams,
	)
	if src.Backlog != nil {
		m.registry.MustRegister(newBacklogCollector(src.Backlog, src.Clock))
	}
	if src.Pools != nil {
		m.registry.MustRegister(poolCollector(src.Pools))
	}
	m.handler = promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		// A figure that cannot be read leaves the others served.
		ErrorHandling: promhttp.ContinueOnError,
		// The route may be public: a flood of scrapes is refused, not served.
		MaxRequestsInFlight: 4,
	})
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Streams counts realtime streams opening (+1) and ending (-1).
func (m *Metrics) Streams(delta int) { m.streams.Add(float64(delta)) }

// WebhookAttempt counts a delivery attempt by the state it left its event
// in; states other than delivered, failed and dead are not attempts.
func (m *Metrics) WebhookAttempt(status string) {
	if c, ok := m.attempts[status]; ok {
		c.Inc()
	}
}
