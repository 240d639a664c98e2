package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

// runWebhook measures deliveries of live events while messages arrive, then
// the drain rate of a queued backlog.
func (b *bench) runWebhook(ctx context.Context) error {
	// Events of earlier scenarios were made without a webhook; wait until
	// the dispatcher has settled them so that none reaches the receiver.
	if err := b.waitOutbox(ctx); err != nil {
		return err
	}
	if err := b.api(ctx, http.MethodPut, "/v1.0/customer", map[string]string{
		"webhook_uri": b.recv.url, "webhook_method": "POST", "webhook_secret": "bench-" + benchHex(8)}, nil); err != nil {
		return fmt.Errorf("bench: set the customer webhook: %w", err)
	}
	if b.peers.len() == 0 {
		if warm := b.drive(ctx, "webhook warm-up", b.cfg.duration, max(500, 20*b.cfg.concurrency), b.cfg.concurrency, b.hookRequest(true, 1)); warm.ok == 0 {
			return fmt.Errorf("bench: webhook warm-up failed: %s", warm.firstErr)
		}
		if err := b.waitQuiet(ctx, "webhook warm-up", 0); err != nil {
			return err
		}
	}
	live, err := b.webhookLive(ctx, 1, 0)
	if err != nil {
		return err
	}
	w := &benchWebhook{benchWebhookLive: *live}
	b.report.Webhook = w
	b.recordRSS("webhook")
	if target := b.cfg.webhookRate; target > 0 {
		// As many webhooks a second as make target events, at the events per
		// message just seen (new conversations make more).
		const perWebhook = 10
		perMessage := float64(live.Events) / float64(max(live.Messages, 1))
		if live, err = b.webhookLive(ctx, perWebhook, target/(perWebhook*max(perMessage, 1))); err != nil {
			return err
		}
		w.Paced = &benchWebhookPaced{TargetEventsPerSec: target, MessagesPerWebhook: perWebhook, benchWebhookLive: *live}
	}

	// Capacity: queue a backlog while the server is stopped, then time its drain.
	n := min(b.cfg.webhookBacklog, max(1000, int(5000*b.cfg.duration.Seconds())))
	if n <= 0 {
		return nil
	}
	events := make([]sqlstore.ImportedEvent, n)
	streams := make([]string, max(n/10, 1))
	for i := range streams {
		streams[i] = convo.NewID()
	}
	self := convo.Address{Type: convo.AddressLine, TargetName: "Me"}
	for i := range events {
		now := convo.NewTime(time.Now())
		peer := convo.Address{Type: convo.AddressLine, Target: "U" + benchHex(16), TargetName: "Peer"}
		stream := streams[i%len(streams)]
		payload, err := convo.EventPayload(convo.EventMessageCreated, &convo.Message{ID: convo.NewID(), CustomerID: b.customerID,
			ConversationID: stream, Direction: convo.DirectionIncoming, Status: convo.MessageDone, ReferenceType: convo.ConversationLine,
			ReferenceID: b.accountID, Source: peer, Destination: self, Text: "queued message " + strconv.Itoa(i), Medias: []convo.Media{},
			TMCreate: now, TMUpdate: now, TMDelete: convo.Never})
		if err != nil {
			return err
		}
		events[i] = sqlstore.ImportedEvent{Type: convo.EventMessageCreated, StreamID: stream, ConversationID: stream, Payload: payload}
	}
	b.recv.reset()
	err = b.withStore(ctx, "webhook", func(store *sqlstore.DB) error {
		b.progress.set(func() string { return fmt.Sprintf("webhook: queueing %d events", n) })
		if err := store.ImportEvents(ctx, b.customerID, events); err != nil {
			return err
		}
		// Draining the backlog adds no event: this is what the stuck lists stand behind.
		count, err := store.CountEvents(ctx, b.customerID)
		w.OutboxEvents = count
		return err
	})
	if err != nil {
		return err
	}
	if err := b.waitQuiet(ctx, "webhook: draining the backlog", n); err != nil {
		return err
	}
	got := b.recv.snapshot()
	w.BacklogEvents, w.BacklogEventsPerSec = len(got.list), benchRound(got.rate())
	b.recordRSS("webhook backlog")
	return b.measureStuckLists(ctx, w)
}

// measureStuckLists times the lists of deliveries still pending and given
// up on, the pages an operator opens to see what is stuck, with every
// event delivered.
func (b *bench) measureStuckLists(ctx context.Context, w *benchWebhook) error {
	for _, l := range []struct {
		status string
		into   **benchLatency
	}{{convo.DeliveryPending, &w.PendingList}, {convo.DeliveryDead, &w.DeadList}} {
		lat, err := b.sequential(ctx, "webhook: "+l.status+" deliveries list", 50, 0, func() string { return "/v1.0/webhook_deliveries?page_size=100&status=" + l.status })
		if err != nil {
			return err
		}
		*l.into = new(latencyOf(lat))
	}
	return nil
}

// webhookLive ingests LINE webhooks carrying perWebhook messages each and
// measures what the receiver gets: events per second and the delay from
// each message's commit to its event's delivery. The webhooks come from
// the closed-loop clients, up to --webhook-messages messages, or with pace
// set at that many webhooks a second for --duration.
func (b *bench) webhookLive(ctx context.Context, perWebhook int, pace float64) (*benchWebhookLive, error) {
	b.recv.reset()
	label := "webhook: ingest with a webhook"
	cpuBefore := b.sampleCPU()
	var in *benchLoad
	var profiled <-chan error
	if pace > 0 {
		label += fmt.Sprintf(", %d messages a webhook", perWebhook)
		profiled = b.profileCPU(ctx, "webhook.paced", b.cfg.duration)
		in = b.drivePaced(ctx, label, b.cfg.duration, pace, b.hookRequest(false, perWebhook))
	} else {
		profiled = b.profileCPU(ctx, "webhook", b.cfg.duration)
		in = b.drive(ctx, label, b.cfg.duration, max(b.cfg.webhookMessages/perWebhook, 1), b.cfg.concurrency, b.hookRequest(false, perWebhook))
	}
	if err := <-profiled; err != nil {
		return nil, err
	}
	if in.ok == 0 {
		return nil, fmt.Errorf("bench: webhook ingest: no request succeeded: %s", in.firstErr)
	}
	messages := in.ok * perWebhook
	if err := b.waitQuiet(ctx, "webhook: waiting for deliveries", messages); err != nil {
		return nil, err
	}
	cpuAfter := b.sampleCPU()
	got := b.recv.snapshot()
	w := &benchWebhookLive{Messages: messages, IngestMessagesPerSec: benchRound(in.rate() * float64(perWebhook)), IngestP99MS: benchMS(in.percentile(0.99)), Events: len(got.list),
		Duplicates: got.duplicates, EventsPerSec: benchRound(got.rate()), CPUPerEventUS: cpuPerMessage(cpuBefore, cpuAfter, len(got.list)),
		DatabaseCheckpoints: checkpointsBetween(cpuBefore, cpuAfter)}
	var delays []time.Duration
	for _, rc := range got.list {
		if rc.typ == convo.EventMessageCreated && !rc.created.IsZero() {
			delays = append(delays, rc.at.Sub(rc.created))
		}
	}
	slices.Sort(delays)
	w.P50DelayMS, w.P99DelayMS, w.MaxDelayMS = benchMS(benchPercentile(delays, 0.5)), benchMS(benchPercentile(delays, 0.99)), benchMS(benchPercentile(delays, 1))
	return w, nil
}

// waitOutbox waits until no event of the customer is pending.
func (b *bench) waitOutbox(ctx context.Context) error {
	b.progress.set(func() string { return "webhook: waiting for earlier events to settle" })
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		var page struct {
			Result []json.RawMessage `json:"result"`
		}
		if err := b.api(ctx, http.MethodGet, "/v1.0/webhook_deliveries?status=pending&page_size=1", nil, &page); err != nil {
			return err
		}
		if len(page.Result) == 0 {
			return nil
		}
		if err := benchSleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return errors.New("bench: events of earlier scenarios were still pending after 5 minutes")
}

// waitQuiet waits until the receiver holds at least want message events and
// has received nothing for a second.
func (b *bench) waitQuiet(ctx context.Context, label string, want int) error {
	b.progress.set(func() string {
		got, _ := b.recv.counts()
		return fmt.Sprintf("%s  %d events received", label, got)
	})
	timeout := 2*time.Minute + time.Duration(want)*5*time.Millisecond
	deadline := time.Now().Add(timeout)
	for {
		got, last := b.recv.counts()
		if got >= want && time.Since(last) > time.Second {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: %s: %d of at least %d events arrived within %s", label, got, want, timeout)
		}
		if err := benchSleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// benchReceipt is one webhook request as the receiver saw it.
type benchReceipt struct {
	at      time.Time
	typ     string
	created time.Time // data.tm_create, zero when absent
}

// benchReceiver is the customer's webhook endpoint: it answers 200 and records
// when each event (by webhook-id) arrived.
type benchReceiver struct {
	srv  *http.Server
	ln   net.Listener
	url  string
	mu   sync.Mutex
	got  []benchReceipt
	seen map[string]bool
	dups int
	last time.Time
}

func newBenchReceiver() *benchReceiver {
	r := &benchReceiver{seen: map[string]bool{}}
	var err error
	if r.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		panic(err)
	}
	r.url = "http://" + r.ln.Addr().String() + "/convo-webhook"
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(r.ln)
	return r
}

func (r *benchReceiver) close() { r.srv.Close() }

func (r *benchReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	var payload struct {
		Type string `json:"type"`
		Data struct {
			TMCreate string `json:"tm_create"`
		} `json:"data"`
	}
	// The receiver shares the CPUs with the server: it decodes as the server does.
	jsonv1.Unmarshal(body, &payload)
	rc := benchReceipt{at: at, typ: payload.Type}
	if t, err := convo.ParseTime(payload.Data.TMCreate); err == nil { // either time format
		rc.created = t.Time
	}
	id := cmp.Or(req.Header.Get("webhook-id"), strconv.Itoa(int(at.UnixNano())))
	r.mu.Lock()
	if r.seen[id] {
		r.dups++
	} else {
		r.seen[id] = true
		r.got = append(r.got, rc)
	}
	r.last = at
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (r *benchReceiver) reset() {
	r.mu.Lock()
	r.got, r.seen, r.dups, r.last = nil, map[string]bool{}, 0, time.Time{}
	r.mu.Unlock()
}

// counts returns how many events arrived and when the latest did.
func (r *benchReceiver) counts() (int, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got), r.last
}

type benchReceipts struct {
	list       []benchReceipt
	duplicates int
}

func (r *benchReceiver) snapshot() benchReceipts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return benchReceipts{list: slices.Clone(r.got), duplicates: r.dups}
}

// rate is the events per second from the first receipt to the last.
func (r benchReceipts) rate() float64 {
	if len(r.list) < 2 {
		return 0
	}
	first, last := r.list[0].at, r.list[0].at
	for _, rc := range r.list {
		if rc.at.Before(first) {
			first = rc.at
		}
		if rc.at.After(last) {
			last = rc.at
		}
	}
	if !last.After(first) {
		return 0
	}
	return float64(len(r.list)-1) / last.Sub(first).Seconds()
}
