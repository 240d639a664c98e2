package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/convohq/convo"
)

// benchReport is the outcome of a run; it is also the --json object.
type benchReport struct {
	Command        string             `json:"command"`
	Database       string             `json:"database"`
	DatabaseDetail string             `json:"database_detail"`
	Concurrency    int                `json:"concurrency"`
	DurationS      float64            `json:"duration_s"`
	Scenarios      []string           `json:"scenarios"`
	CPUs           int                `json:"cpus"`
	GoVersion      string             `json:"go_version"`
	Version        string             `json:"version"`
	Ingest         *benchIngest       `json:"ingest,omitempty"`
	DBLimit        *benchDBLimit      `json:"db_limit,omitempty"`
	HTTPLimit      *benchHTTPLimit    `json:"http_limit,omitempty"`
	Ratios         *benchRatios       `json:"ratios,omitempty"`
	List           *benchList         `json:"list,omitempty"`
	Inbox          *benchInbox        `json:"inbox,omitempty"`
	Webhook        *benchWebhook      `json:"webhook,omitempty"`
	Media          *benchMedia        `json:"media,omitempty"`
	Seed           *benchSeed         `json:"seed,omitempty"`
	PeakRSSMB      float64            `json:"peak_rss_mb"`
	RSSMBByPhase   map[string]float64 `json:"rss_mb_by_phase"`
	FirstAnswerMS  float64            `json:"first_answer_ms"`
	FirstAnswerOn  string             `json:"first_answer_database"`
	StartsMS       []float64          `json:"server_starts_ms"`
	TotalS         float64            `json:"total_s"`
	Notes          []string           `json:"notes,omitempty"`
}

type benchIngest struct {
	MessagesPerSec   float64 `json:"messages_per_sec"`
	P50MS            float64 `json:"p50_ms"`
	P99MS            float64 `json:"p99_ms"`
	MaxMS            float64 `json:"max_ms"`
	Messages         int     `json:"messages"`
	NewConversations int     `json:"new_conversations"`
	Errors           int     `json:"errors"`
	// HalfRate is the latency of webhooks sent at half the rate above, at
	// fixed times whatever the answers (open loop).
	HalfRate *benchPaced `json:"half_rate,omitempty"`
	// CPUPerMessageUS is where the CPU went during the measurement above.
	CPUPerMessageUS *benchCPU `json:"cpu_us_per_message,omitempty"`
	// DatabaseCheckpoints is how many checkpoints PostgreSQL began during
	// the measurement: page writes after one carry full-page images.
	DatabaseCheckpoints *int64 `json:"database_checkpoints,omitempty"`
}

// benchPaced is a load sent at a fixed rate; latency runs from each
// request's scheduled time, so a stalled server is not let off by the
// requests it held back.
type benchPaced struct {
	TargetPerSec   float64 `json:"target_per_sec"`
	AchievedPerSec float64 `json:"achieved_per_sec"`
	P50MS          float64 `json:"p50_ms"`
	P99MS          float64 `json:"p99_ms"`
	MaxMS          float64 `json:"max_ms"`
	Errors         int     `json:"errors"`
	// DatabaseCheckpoints is as in benchIngest.
	DatabaseCheckpoints *int64 `json:"database_checkpoints,omitempty"`
}

type benchDBLimit struct {
	TxPerSec       float64 `json:"tx_per_sec"`
	BeforeTxPerSec float64 `json:"before_ingest_tx_per_sec"`
	AfterTxPerSec  float64 `json:"after_ingest_tx_per_sec"`
	// CPUPerTxUS is the budget ingest is held to: on a machine the database
	// saturates, ingest matches db_limit only if a message costs no more.
	CPUPerTxUS *benchClientCPU `json:"cpu_us_per_tx,omitempty"`

	runs []insertRun
}

// insertRun is one half of the db_limit baseline and the CPU it used.
type insertRun struct {
	committed          int64
	elapsed            time.Duration
	selfTicks, dbTicks int64
	databaseOK, selfOK bool
}

func (r insertRun) rate() float64 { return float64(r.committed) / r.elapsed.Seconds() }

// add records a half of the baseline and updates the figures.
func (d *benchDBLimit) add(r insertRun) {
	d.runs = append(d.runs, r)
	var total insertRun
	total.databaseOK, total.selfOK = true, true
	for _, r := range d.runs {
		total.committed += r.committed
		total.elapsed += r.elapsed
		total.selfTicks += r.selfTicks
		total.dbTicks += r.dbTicks
		total.databaseOK = total.databaseOK && r.databaseOK
		total.selfOK = total.selfOK && r.selfOK
	}
	d.BeforeTxPerSec = benchRound(d.runs[0].rate())
	if len(d.runs) > 1 {
		d.AfterTxPerSec = benchRound(d.runs[1].rate())
	}
	d.TxPerSec = benchRound(total.rate())
	d.CPUPerTxUS = nil
	if total.selfOK {
		d.CPUPerTxUS = cpuPerTransaction(total.selfTicks, total.dbTicks, total.databaseOK, total.committed)
	}
}

type benchHTTPLimit struct {
	RequestsPerSec float64 `json:"requests_per_sec"`
	P50MS          float64 `json:"p50_ms"`
	P99MS          float64 `json:"p99_ms"`
	Errors         int     `json:"errors"`
	// The baseline runs half before and half after ingest.
	BeforeRequestsPerSec float64 `json:"before_ingest_requests_per_sec"`
	AfterRequestsPerSec  float64 `json:"after_ingest_requests_per_sec"`
}

type benchRatios struct {
	IngestDB   float64 `json:"ingest_db"`
	IngestHTTP float64 `json:"ingest_http"`
}

type benchLatency struct {
	Requests int     `json:"requests"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	MaxMS    float64 `json:"max_ms"`
}

// benchList holds the list queries measured on the seeded tables before
// the database has planner statistics of them (as after a bulk import or a
// restore, or where autovacuum is off), and again after ANALYZE.
type benchList struct {
	benchListRound
	Analyzed     benchListRound `json:"analyzed"`
	DeepPageRows int            `json:"deep_page_rows_deep"`
}

type benchListRound struct {
	FirstPageP99MS   float64                 `json:"first_page_p99_ms"`
	DeepPageP99MS    float64                 `json:"deep_page_p99_ms"`
	OwnerFilterP99MS float64                 `json:"owner_filter_p99_ms"`
	MessagesP99MS    float64                 `json:"messages_p99_ms"`
	Queries          map[string]benchLatency `json:"queries"`
	// DatabaseCheckpoints is as in benchIngest: what follows a seeding of
	// PostgreSQL is a run of checkpoints, which show in the tails.
	DatabaseCheckpoints *int64 `json:"database_checkpoints,omitempty"`
}

type benchWebhook struct {
	// The live deliveries while LINE webhooks with one message each are ingested.
	benchWebhookLive
	BacklogEvents       int     `json:"backlog_events"`
	BacklogEventsPerSec float64 `json:"backlog_events_per_sec"`
	// Paced is the same at a set rate of events: the webhooks carry
	// several messages each, which costs ingest less per event, and are
	// sent at fixed times whatever the answers take.
	Paced *benchWebhookPaced `json:"paced,omitempty"`
	// PendingList and DeadList are GET /webhook_deliveries?status=pending
	// and status=dead once the backlog is drained: none are left, behind
	// every event delivered; OutboxEvents is how many events the outbox
	// then holds.
	PendingList  *benchLatency `json:"pending_list,omitempty"`
	DeadList     *benchLatency `json:"dead_list,omitempty"`
	OutboxEvents int           `json:"outbox_events,omitempty"`
}

// benchWebhookLive is what the receiver got while webhooks were ingested.
type benchWebhookLive struct {
	EventsPerSec         float64 `json:"events_per_sec"`
	P50DelayMS           float64 `json:"p50_delay_ms"`
	P99DelayMS           float64 `json:"p99_delay_ms"`
	MaxDelayMS           float64 `json:"max_delay_ms"`
	Events               int     `json:"events"`
	Messages             int     `json:"messages"`
	IngestMessagesPerSec float64 `json:"ingest_messages_per_sec"`
	// IngestP99MS is the p99 of the answers to the webhooks that made the
	// events: a delay that follows a slow ingest is the database's, not
	// the dispatcher's.
	IngestP99MS float64 `json:"ingest_p99_ms"`
	Duplicates  int     `json:"duplicates"`
	// CPUPerEventUS is the CPU from the first webhook until the deliveries
	// settle (the receiver's quiet second included), per event delivered:
	// ingest and delivery together, comparable across builds where events
	// per second on a shared machine are not.
	CPUPerEventUS *benchCPU `json:"cpu_us_per_event,omitempty"`
	// DatabaseCheckpoints is as in benchIngest, over the same span.
	DatabaseCheckpoints *int64 `json:"database_checkpoints,omitempty"`
}

type benchWebhookPaced struct {
	TargetEventsPerSec float64 `json:"target_events_per_sec"`
	MessagesPerWebhook int     `json:"messages_per_webhook"`
	benchWebhookLive
}

type benchSeed struct {
	Conversations int     `json:"conversations"`
	Messages      int     `json:"messages"`
	Seconds       float64 `json:"seconds"`
	RowsPerSec    float64 `json:"rows_per_sec"`
}

// benchProgress keeps one status line on stderr up to date while a run goes on.
type benchProgress struct {
	w     io.Writer
	mu    sync.Mutex
	fn    func() string
	tty   bool
	width int
	done  chan struct{}
	wg    sync.WaitGroup
}

func newBenchProgress(w io.Writer) *benchProgress {
	p := &benchProgress{w: w, done: make(chan struct{})}
	// On a terminal the line is redrawn in place; elsewhere (a log, a
	// pipe) a line is written now and then.
	every := 5 * time.Second
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty, every = true, 200*time.Millisecond
		}
	}
	p.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
				p.draw()
			}
		}
	})
	return p
}

func (p *benchProgress) set(fn func() string) {
	p.mu.Lock()
	p.fn = fn
	p.mu.Unlock()
}

func (p *benchProgress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fn == nil {
		return
	}
	line := p.fn()
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	pad := max(p.width-len(line), 0)
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
}

// stop ends the status line and clears it.
func (p *benchProgress) stop() {
	close(p.done)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.width > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
	}
}

func printBenchTable(w io.Writer, r *benchReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...any) {
		for i, c := range cells {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw)
	}
	f := func(v float64) string {
		switch {
		case v >= 100:
			return strconv.FormatFloat(v, 'f', 0, 64)
		case v >= 10:
			return strconv.FormatFloat(v, 'f', 1, 64)
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	// cpuRow shows where the CPU of a measurement went; client names what
	// this process did besides the server and the database.
	cpuRow := func(label, client string, c *benchCPU) {
		if c == nil {
			return
		}
		detail := fmt.Sprintf("server %s µs, %s %s µs", f(c.Server), client, f(c.LoadGenerator))
		total := c.Server + c.LoadGenerator
		if c.Database != nil {
			detail = fmt.Sprintf("server %s µs, PostgreSQL %s µs, %s %s µs", f(c.Server), f(*c.Database), client, f(c.LoadGenerator))
			total += *c.Database
		}
		row(label, f(total)+" µs", detail)
	}
	fmt.Fprintf(w, "convo %s bench on %d CPUs, %s\n", r.Version, r.CPUs, r.GoVersion)
	fmt.Fprintf(w, "command:     %s\n", r.Command)
	fmt.Fprintf(w, "database:    %s (%s)\n", r.Database, r.DatabaseDetail)
	fmt.Fprintf(w, "concurrency: %d clients, %s per timed measurement\n\n", r.Concurrency, time.Duration(r.DurationS*float64(time.Second)))
	row("measure", "value", "detail")
	row("-------", "-----", "------")
	if in := r.Ingest; in != nil {
		row("ingest", f(in.MessagesPerSec)+" msg/s", fmt.Sprintf("p50 %s ms, p99 %s ms, max %s ms; %d messages, %d new conversations, %d errors",
			f(in.P50MS), f(in.P99MS), f(in.MaxMS), in.Messages, in.NewConversations, in.Errors)+checkpointNote(in.DatabaseCheckpoints))
		if h := in.HalfRate; h != nil {
			row("ingest at half rate", f(h.AchievedPerSec)+" msg/s", fmt.Sprintf("sent at fixed times, %s/s asked; p50 %s ms, p99 %s ms, max %s ms; %d errors",
				f(h.TargetPerSec), f(h.P50MS), f(h.P99MS), f(h.MaxMS), h.Errors)+checkpointNote(h.DatabaseCheckpoints))
		}
		cpuRow("ingest CPU per message", "load generator", in.CPUPerMessageUS)
	}
	if d := r.DBLimit; d != nil {
		row("db_limit", f(d.TxPerSec)+" tx/s", fmt.Sprintf("single-row insert transactions, same database, settings and clients (%s before ingest, %s after)",
			f(d.BeforeTxPerSec), f(d.AfterTxPerSec)))
		if c := d.CPUPerTxUS; c != nil {
			detail, total := fmt.Sprintf("client %s µs", f(c.Client)), c.Client
			if c.Database != nil {
				detail, total = fmt.Sprintf("client %s µs, PostgreSQL %s µs", f(c.Client), f(*c.Database)), total+*c.Database
			}
			row("db_limit CPU per transaction", f(total)+" µs", detail)
		}
	}
	if h := r.HTTPLimit; h != nil {
		row("http_limit", f(h.RequestsPerSec)+" req/s", fmt.Sprintf("read body + check signature only; p50 %s ms, p99 %s ms (%s before ingest, %s after)",
			f(h.P50MS), f(h.P99MS), f(h.BeforeRequestsPerSec), f(h.AfterRequestsPerSec)))
	}
	if x := r.Ratios; x != nil {
		row("ingest/db_limit", f(x.IngestDB), "")
		row("ingest/http_limit", f(x.IngestHTTP), "")
	}
	printMediaRows(row, f, r.Media)
	if s := r.Seed; s != nil {
		row("seed", f(s.Seconds)+" s", fmt.Sprintf("%d conversations, %d messages, %s rows/s", s.Conversations, s.Messages, f(s.RowsPerSec)))
	}
	if l := r.List; l != nil {
		detail := "the seeded tables before the database has statistics of them, then after ANALYZE"
		if n, a := l.DatabaseCheckpoints, l.Analyzed.DatabaseCheckpoints; n != nil && a != nil {
			detail += fmt.Sprintf("; %d / %d PostgreSQL checkpoints began meanwhile", *n, *a)
		}
		row("list", "never analyzed / analyzed", detail)
		for _, q := range []struct{ key, label, detail string }{
			{"first_page", "list first page", "GET /conversations?page_size=100"},
			{"deep_page", "list deep page", fmt.Sprintf("a page ~%d rows deep", l.DeepPageRows)},
			{"owner_filter", "list owner_id", "GET /conversations?owner_id=<agent>"},
			{"messages", "list messages", "GET /conversations/{id}/messages"},
		} {
			v, a := l.Queries[q.key], l.Analyzed.Queries[q.key]
			row(q.label, "p99 "+f(v.P99MS)+" / "+f(a.P99MS)+" ms", fmt.Sprintf("p50 %s / %s ms, max %s / %s ms, %d requests each; %s",
				f(v.P50MS), f(a.P50MS), f(v.MaxMS), f(a.MaxMS), v.Requests, q.detail))
		}
	}
	if in := r.Inbox; in != nil {
		detail := fmt.Sprintf("after ANALYZE; the agent owns %d open conversations; targets p99 < %s ms (lists), < %s ms (search)",
			in.AgentOpen, f(in.ListTargetMS), f(in.SearchTargetMS))
		if len(in.Missed) > 0 {
			detail += "; MISSED: " + strings.Join(in.Missed, ", ")
		}
		row("inbox", "", detail+checkpointNote(in.DatabaseCheckpoints))
		for _, name := range in.order {
			q := in.Queries[name]
			row("inbox "+name, "p99 "+f(q.P99MS)+" ms", fmt.Sprintf("p50 %s ms, max %s ms, %d requests, %s results each; %s",
				f(q.P50MS), f(q.MaxMS), q.Requests, f(in.Results[name]), in.details[name]))
		}
	}
	if wh := r.Webhook; wh != nil {
		row("webhook", f(wh.EventsPerSec)+" events/s", fmt.Sprintf("%d events from %d messages ingested at %s msg/s", wh.Events, wh.Messages, f(wh.IngestMessagesPerSec)))
		row("webhook delay", "p99 "+f(wh.P99DelayMS)+" ms", fmt.Sprintf("commit to delivery: p50 %s ms, max %s ms", f(wh.P50DelayMS), f(wh.MaxDelayMS))+checkpointNote(wh.DatabaseCheckpoints))
		cpuRow("webhook CPU per event", "load generator and receiver", wh.CPUPerEventUS)
		if p := wh.Paced; p != nil {
			row("webhook paced", f(p.EventsPerSec)+" events/s", fmt.Sprintf("%s/s asked; %d events from %d messages in webhooks of %d sent at fixed times",
				f(p.TargetEventsPerSec), p.Events, p.Messages, p.MessagesPerWebhook))
			row("webhook paced delay", "p99 "+f(p.P99DelayMS)+" ms", fmt.Sprintf("commit to delivery: p50 %s ms, max %s ms; the webhooks' answers p99 %s ms",
				f(p.P50DelayMS), f(p.MaxDelayMS), f(p.IngestP99MS))+checkpointNote(p.DatabaseCheckpoints))
			cpuRow("webhook paced CPU per event", "load generator and receiver", p.CPUPerEventUS)
		}
		if wh.BacklogEvents > 0 {
			row("webhook backlog", f(wh.BacklogEventsPerSec)+" events/s", fmt.Sprintf("drain of %d queued events", wh.BacklogEvents))
		}
		for _, l := range []struct {
			status string
			lat    *benchLatency
		}{{convo.DeliveryPending, wh.PendingList}, {convo.DeliveryDead, wh.DeadList}} {
			if l.lat != nil {
				row(l.status+" deliveries", "p99 "+f(l.lat.P99MS)+" ms", fmt.Sprintf("GET /webhook_deliveries?status=%s: p50 %s ms, %d requests, none %s of %d events",
					l.status, f(l.lat.P50MS), l.lat.Requests, l.status, wh.OutboxEvents))
			}
		}
	}
	phases := make([]string, 0, len(r.RSSMBByPhase))
	for k, v := range r.RSSMBByPhase {
		phases = append(phases, fmt.Sprintf("%s %s", k, f(v)))
	}
	slices.Sort(phases)
	row("peak RSS", f(r.PeakRSSMB)+" MB", "server process; by phase: "+strings.Join(phases, ", "))
	row("first answer", f(r.FirstAnswerMS)+" ms", "start to first 200 of GET /v1.0/me on the "+r.FirstAnswerOn+" database")
	tw.Flush()
	fmt.Fprintf(w, "\ntotal %s s\n", f(r.TotalS))
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// checkpointNote tells, in a table row's detail, how many checkpoints
// PostgreSQL began during the measurement.
func checkpointNote(n *int64) string {
	switch {
	case n == nil:
		return ""
	case *n == 1:
		return "; 1 PostgreSQL checkpoint began meanwhile"
	}
	return fmt.Sprintf("; %d PostgreSQL checkpoints began meanwhile", *n)
}

func benchPercentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func benchMS(d time.Duration) float64 { return benchRound(float64(d) / float64(time.Millisecond)) }

func benchRound(v float64) float64 { return math.Round(v*100) / 100 }

func benchSince(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

func benchSleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// benchFreeAddr returns a loopback address with a port free a moment ago.
func benchFreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func benchHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// benchShellJoin quotes args for a shell where needed.
func benchShellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`&|;<>()*?!#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
