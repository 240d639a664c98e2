package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

// `convo bench` measures convo on the machine it runs on. It starts a real
// `convo serve` as a child process on a loopback port and drives it over
// HTTP like a provider and a client would. Each figure is measured in the
// same run as its baseline, so the ratios hold on a noisy machine.

const benchUsage = `usage: convo bench [flags]

Measures convo on this machine against a real server started as a child
process, and prints a table (or, with --json, one JSON object).

scenarios:
  ingest   signed LINE webhooks, one text message each (10% new peers), with
           two baselines: raw single-row insert transactions on the same
           database (db_limit) and a handler that only checks the signature
           on the same server stack (http_limit)
  list     conversation and message lists on a seeded database, before
           and after ANALYZE
  webhook  customer webhook deliveries to a local benchReceiver
  all      all of the above

flags:`

// benchConfig is the command line of `convo bench`.
type benchConfig struct {
	database          string
	duration          time.Duration
	concurrency       int
	scenario          string
	seedConversations int
	seedMessages      int
	listRequests      int
	webhookMessages   int
	webhookBacklog    int
	webhookRate       float64
	sqliteSynchronous string
	json              bool
	keep              bool
	cpuProfile        string
	cpuProfilePhase   string
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, benchUsage)
		fs.PrintDefaults()
	}
	var cfg benchConfig
	fs.StringVar(&cfg.database, "database", "", "database to measure: empty for a fresh SQLite file in a temporary folder, sqlite:PATH (a new file), or postgres://... (a fresh schema, dropped afterwards)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long each timed measurement runs")
	fs.IntVar(&cfg.concurrency, "concurrency", 32, "concurrent clients")
	fs.StringVar(&cfg.scenario, "scenario", "all", "ingest, list, webhook or all (comma-separated for several)")
	fs.IntVar(&cfg.seedConversations, "seed-conversations", 1_000_000, "conversations seeded for the list scenario")
	fs.IntVar(&cfg.seedMessages, "seed-messages-per-conversation", 5, "messages per seeded conversation")
	fs.IntVar(&cfg.listRequests, "list-requests", 300, "requests per list query")
	fs.IntVar(&cfg.webhookMessages, "webhook-messages", 20_000, "at most this many messages are ingested (for at most --duration) to make webhook events")
	fs.IntVar(&cfg.webhookBacklog, "webhook-backlog", 20_000, "at most this many queued events are drained to measure delivery capacity (fewer for short durations)")
	fs.Float64Var(&cfg.webhookRate, "webhook-rate", 5000, "events per second made, from webhooks of several messages sent at fixed times, to measure deliveries at that rate (0: skip)")
	fs.StringVar(&cfg.sqliteSynchronous, "sqlite-synchronous", env("CONVO_SQLITE_SYNCHRONOUS", "FULL"), "SQLite synchronous mode of the server and of the baseline")
	fs.BoolVar(&cfg.json, "json", false, "print one JSON object instead of a table")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temporary folder (database, server log)")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the server's CPU profile during one measurement (--cpuprofile-phase) to this file (for go tool pprof)")
	fs.StringVar(&cfg.cpuProfilePhase, "cpuprofile-phase", "ingest", "the measurement --cpuprofile records: ingest, webhook (live) or webhook.paced")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	scenarios, err := parseBenchScenarios(cfg.scenario)
	if err != nil {
		return err
	}
	if cfg.duration <= 0 || cfg.concurrency < 1 || cfg.seedConversations < 1 || cfg.seedMessages < 0 || cfg.listRequests < 1 {
		return errors.New("bench: --duration, --concurrency, --seed-conversations and --list-requests must be positive")
	}
	phaseSet := false
	fs.Visit(func(f *flag.Flag) { phaseSet = phaseSet || f.Name == "cpuprofile-phase" })
	if phaseSet && cfg.cpuProfile == "" {
		return errors.New("bench: --cpuprofile-phase needs --cpuprofile")
	}
	if cfg.cpuProfile != "" {
		if err := checkProfilePhase(cfg, scenarios); err != nil {
			return err
		}
	}
	b := &bench{cfg: cfg, scenarios: scenarios, stderr: stderr, progress: newBenchProgress(stderr)}
	b.report.Command = "convo bench " + benchShellJoin(args)
	report, err := b.run(ctx)
	b.progress.stop()
	if err != nil {
		return err
	}
	if cfg.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	printBenchTable(stdout, report)
	return nil
}

var benchScenarios = []string{"ingest", "webhook", "list"}

func parseBenchScenarios(s string) (map[string]bool, error) {
	set := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		switch name = strings.TrimSpace(name); name {
		case "all":
			for _, n := range benchScenarios {
				set[n] = true
			}
		case "ingest", "list", "webhook":
			set[name] = true
		default:
			return nil, fmt.Errorf("bench: unknown scenario %q (ingest, list, webhook, all)", name)
		}
	}
	return set, nil
}

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
	Webhook        *benchWebhook      `json:"webhook,omitempty"`
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

// bench is one run of `convo bench`.
type bench struct {
	cfg       benchConfig
	scenarios map[string]bool
	stderr    io.Writer
	progress  *benchProgress
	report    benchReport

	dir     string // temporary folder: SQLite file, server log
	dsn     string // the database the server uses
	logPath string
	exe     string
	client  *http.Client
	lineAPI *httptest.Server
	recv    *benchReceiver
	// checkpoints counts PostgreSQL's checkpoints; nil on SQLite.
	checkpoints *sqlstore.CheckpointCounter

	benchSecret   string
	channelSecret string
	botID         string

	srv        *benchChild
	key        string
	customerID string
	accountID  string
	agents     []string
	peers      benchPeers
	seq        atomic.Uint64
	idBase     uint64
}

func (b *bench) run(ctx context.Context) (_ *benchReport, err error) {
	started := time.Now()
	r := &b.report
	r.Concurrency, r.DurationS = b.cfg.concurrency, b.cfg.duration.Seconds()
	r.CPUs, r.GoVersion, r.Version = runtime.NumCPU(), runtime.Version(), convo.Version
	r.RSSMBByPhase = map[string]float64{}
	for _, n := range benchScenarios {
		if b.scenarios[n] {
			r.Scenarios = append(r.Scenarios, n)
		}
	}
	if b.exe, err = os.Executable(); err != nil {
		return nil, fmt.Errorf("bench: find the convo binary: %w", err)
	}
	if b.dir, err = os.MkdirTemp("", "convo-bench-"); err != nil {
		return nil, err
	}
	defer func() {
		// A failed run keeps its files for a look at the server log; an
		// interrupted one does not.
		if b.cfg.keep || (err != nil && ctx.Err() == nil) {
			fmt.Fprintf(b.stderr, "convo bench: kept %s (server log: %s)\n", b.dir, b.logPath)
			return
		}
		os.RemoveAll(b.dir)
	}()
	b.logPath = filepath.Join(b.dir, "server.log")
	b.benchSecret, b.channelSecret = benchHex(16), benchHex(16)
	b.botID = "U" + benchHex(16)
	b.idBase = uint64(time.Now().UnixMicro()) * 1000

	switch db := b.cfg.database; {
	case db == "":
		b.dsn = "sqlite:" + filepath.Join(b.dir, "convo.db")
		r.Database, r.DatabaseDetail = sqlstore.DialectSQLite, "fresh SQLite file in a temporary folder, synchronous="+strings.ToUpper(b.cfg.sqliteSynchronous)
	case strings.HasPrefix(db, "sqlite:"):
		if _, err := os.Stat(strings.TrimPrefix(db, "sqlite:")); err == nil {
			return nil, errors.New("bench: the SQLite file exists; bench writes a lot of test data, so give it a new file")
		}
		b.dsn = db
		r.Database, r.DatabaseDetail = sqlstore.DialectSQLite, "new SQLite file "+strings.TrimPrefix(db, "sqlite:")+", synchronous="+strings.ToUpper(b.cfg.sqliteSynchronous)
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		dsn, drop, err := sqlstore.NewScratchSchema(ctx, db, "convo_bench_")
		if err != nil {
			return nil, err
		}
		defer func() {
			if derr := drop(context.WithoutCancel(ctx)); derr != nil {
				fmt.Fprintln(b.stderr, "convo bench:", derr)
			}
		}()
		b.dsn = dsn
		u, _ := url.Parse(dsn)
		r.Database, r.DatabaseDetail = sqlstore.DialectPostgres, "fresh schema "+u.Query().Get("search_path")+" on "+u.Redacted()
		if b.checkpoints, err = sqlstore.OpenCheckpointCounter(ctx, dsn); err != nil {
			return nil, err
		}
		defer b.checkpoints.Close()
	default:
		return nil, errors.New("bench: --database must be empty, sqlite:PATH or postgres://...")
	}

	b.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		Proxy: nil, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns: 4 * b.cfg.concurrency, MaxIdleConnsPerHost: 4 * b.cfg.concurrency, IdleConnTimeout: time.Minute,
		DisableCompression: true,
	}}
	defer b.client.CloseIdleConnections()
	b.lineAPI = httptest.NewServer(http.HandlerFunc(benchLineAPI))
	defer b.lineAPI.Close()
	b.recv = newBenchReceiver()
	defer b.recv.close()
	defer b.stopServer("")

	// The raw database baseline runs while no server holds the database:
	// half of it now, half after ingest, so that drift over the run (disk
	// flush times vary a lot) affects both sides of the ratio alike.
	if b.scenarios["ingest"] {
		store, err := sqlstore.Open(ctx, b.dsn, sqlstore.Options{SQLiteSynchronous: b.cfg.sqliteSynchronous})
		if err != nil {
			return nil, err
		}
		run, err := b.measureInsertRate(ctx, store, "before ingest")
		store.Close()
		if err != nil {
			return nil, err
		}
		r.DBLimit = &benchDBLimit{}
		r.DBLimit.add(run)
	}
	if err := b.startServer(ctx); err != nil {
		return nil, err
	}
	r.FirstAnswerMS, r.FirstAnswerOn = b.srv.firstAnswerMS(), "fresh"
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	if b.scenarios["ingest"] {
		if err := b.runIngest(ctx); err != nil {
			return nil, err
		}
	}
	if b.scenarios["webhook"] {
		if err := b.runWebhook(ctx); err != nil {
			return nil, err
		}
	}
	if b.scenarios["list"] {
		if err := b.runList(ctx); err != nil {
			return nil, err
		}
	}
	b.stopServer("")
	r.TotalS = benchRound(time.Since(started).Seconds())
	for _, v := range r.RSSMBByPhase {
		r.PeakRSSMB = max(r.PeakRSSMB, v)
	}
	r.Notes = append(r.Notes, fmt.Sprintf("the load generator, the webhook receiver and the server share this machine's %d CPUs", r.CPUs))
	return r, nil
}

// checkProfilePhase checks that --cpuprofile-phase names a measurement
// the chosen scenarios make.
func checkProfilePhase(cfg benchConfig, scenarios map[string]bool) error {
	scenario, _, _ := strings.Cut(cfg.cpuProfilePhase, ".")
	switch cfg.cpuProfilePhase {
	case "ingest", "webhook":
	case "webhook.paced":
		if cfg.webhookRate <= 0 {
			return errors.New("bench: --cpuprofile-phase webhook.paced needs a --webhook-rate")
		}
	default:
		return fmt.Errorf("bench: unknown --cpuprofile-phase %q (ingest, webhook, webhook.paced)", cfg.cpuProfilePhase)
	}
	if !scenarios[scenario] {
		return fmt.Errorf("bench: --cpuprofile-phase %s needs the %s scenario", cfg.cpuProfilePhase, scenario)
	}
	return nil
}

// profileCPU records the server's CPU profile for d into --cpuprofile when
// phase is the measurement --cpuprofile-phase names; the channel reports
// the outcome once the profile is written.
func (b *bench) profileCPU(ctx context.Context, phase string, d time.Duration) <-chan error {
	done := make(chan error, 1)
	if b.cfg.cpuProfile == "" || phase != b.cfg.cpuProfilePhase {
		done <- nil
		return done
	}
	go func() {
		done <- func() error {
			url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", b.srv.debugURL, max(1, int(d.Seconds())))
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("bench: CPU profile: %w", err)
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("bench: CPU profile: the server answered %s", res.Status)
			}
			f, err := os.Create(b.cfg.cpuProfile)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, res.Body); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}()
	}()
	return done
}

// measureInsertRate runs half of the db_limit baseline, with the server's
// own store settings, while the server is stopped.
func (b *bench) measureInsertRate(ctx context.Context, store *sqlstore.DB, when string) (insertRun, error) {
	start, d := time.Now(), b.cfg.duration/2
	b.progress.set(func() string {
		return fmt.Sprintf("db_limit (%s): single-row insert transactions, %d clients  %s/%s", when, b.cfg.concurrency, benchSince(start), d)
	})
	before := b.sampleClientCPU()
	committed, elapsed, err := store.MeasureInsertRate(ctx, b.cfg.concurrency, d)
	after := b.sampleClientCPU()
	return insertRun{committed: committed, elapsed: elapsed,
		selfTicks: after.self - before.self, selfOK: before.ok && after.ok,
		dbTicks: after.databaseSince(before), databaseOK: before.databaseOK && after.databaseOK}, err
}

// withStore stops the server, opens the database in this process, runs fn
// and restarts the server, measuring its first answer.
func (b *bench) withStore(ctx context.Context, phase string, fn func(*sqlstore.DB) error) error {
	b.stopServer(phase)
	store, err := sqlstore.Open(ctx, b.dsn, sqlstore.Options{SQLiteSynchronous: b.cfg.sqliteSynchronous})
	if err != nil {
		return err
	}
	err = fn(store)
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return b.startServer(ctx)
}

// setup creates, through the public API, what every scenario needs.
func (b *bench) setup(ctx context.Context) error {
	b.progress.set(func() string { return "setup: LINE account" })
	var acct struct {
		ID string `json:"id"`
	}
	if err := b.api(ctx, http.MethodPost, "/v1.0/conversation_accounts", map[string]string{
		"type": "line", "name": "bench LINE", "token": "bench-channel-token", "secret": b.channelSecret}, &acct); err != nil {
		return fmt.Errorf("bench: create the LINE account: %w", err)
	}
	b.accountID = acct.ID
	var cust struct {
		ID string `json:"id"`
	}
	if err := b.api(ctx, http.MethodGet, "/v1.0/customer", nil, &cust); err != nil {
		return fmt.Errorf("bench: read the customer: %w", err)
	}
	b.customerID = cust.ID
	return nil
}

// runIngest measures the HTTP baseline, then ingest.
func (b *bench) runIngest(ctx context.Context) error {
	c := b.cfg.concurrency
	// Warm-up: connections, caches, and the first peers, so that 90% of the
	// measured messages come from existing conversations.
	warm := b.drive(ctx, "ingest warm-up", b.cfg.duration, max(500, 20*c), c, b.hookRequest(true, 1))
	if warm.ok == 0 {
		return fmt.Errorf("bench: ingest warm-up failed: %s", warm.firstErr)
	}
	// Both baselines run half before and half after ingest.
	h1 := b.drive(ctx, "http_limit (before ingest)", b.cfg.duration/2, 0, c, b.benchRequest())
	if h1.ok == 0 {
		return fmt.Errorf("bench: http_limit: no request succeeded: %s", h1.firstErr)
	}
	newBefore := b.peers.len()
	profiled := b.profileCPU(ctx, "ingest", b.cfg.duration)
	cpuBefore := b.sampleCPU()
	in := b.drive(ctx, "ingest", b.cfg.duration, 0, c, b.hookRequest(false, 1))
	cpuAfter := b.sampleCPU()
	if err := <-profiled; err != nil {
		return err
	}
	newConversations := b.peers.len() - newBefore
	if in.ok == 0 {
		return fmt.Errorf("bench: ingest: no request succeeded: %s", in.firstErr)
	}
	halfBefore := b.sampleCPU()
	half := b.drivePaced(ctx, "ingest at half that rate", b.cfg.duration, in.rate()/2, b.hookRequest(false, 1))
	halfAfter := b.sampleCPU()
	if half.ok == 0 {
		return fmt.Errorf("bench: ingest at half rate: no request succeeded: %s", half.firstErr)
	}
	h2 := b.drive(ctx, "http_limit (after ingest)", b.cfg.duration/2, 0, c, b.benchRequest())
	if h2.ok == 0 {
		return fmt.Errorf("bench: http_limit: no request succeeded: %s", h2.firstErr)
	}
	h := &benchLoad{ok: h1.ok + h2.ok, failed: h1.failed + h2.failed, elapsed: h1.elapsed + h2.elapsed, lat: slices.Concat(h1.lat, h2.lat)}
	slices.Sort(h.lat)
	b.report.HTTPLimit = &benchHTTPLimit{RequestsPerSec: benchRound(h.rate()), P50MS: benchMS(h.percentile(0.50)), P99MS: benchMS(h.percentile(0.99)), Errors: h.failed,
		BeforeRequestsPerSec: benchRound(h1.rate()), AfterRequestsPerSec: benchRound(h2.rate())}
	if dl := b.report.DBLimit; dl != nil {
		err := b.withStore(ctx, "ingest", func(store *sqlstore.DB) error {
			run, err := b.measureInsertRate(ctx, store, "after ingest")
			if err == nil {
				dl.add(run)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	b.report.Ingest = &benchIngest{MessagesPerSec: benchRound(in.rate()), P50MS: benchMS(in.percentile(0.50)), P99MS: benchMS(in.percentile(0.99)),
		MaxMS: benchMS(in.percentile(1)), Messages: in.ok, NewConversations: newConversations, Errors: in.failed,
		CPUPerMessageUS: cpuPerMessage(cpuBefore, cpuAfter, in.ok), DatabaseCheckpoints: checkpointsBetween(cpuBefore, cpuAfter)}
	b.report.Ingest.HalfRate = &benchPaced{TargetPerSec: benchRound(in.rate() / 2), AchievedPerSec: benchRound(half.rate()),
		P50MS: benchMS(half.percentile(0.50)), P99MS: benchMS(half.percentile(0.99)), MaxMS: benchMS(half.percentile(1)), Errors: half.failed,
		DatabaseCheckpoints: checkpointsBetween(halfBefore, halfAfter)}
	for _, l := range []*benchLoad{in, half} {
		if l.failed > 0 {
			b.report.Notes = append(b.report.Notes, fmt.Sprintf("ingest: %d requests failed, first: %s", l.failed, l.firstErr))
		}
	}
	ratios := &benchRatios{IngestHTTP: benchRound(in.rate() / h.rate())}
	if b.report.DBLimit != nil && b.report.DBLimit.TxPerSec > 0 {
		ratios.IngestDB = benchRound(in.rate() / b.report.DBLimit.TxPerSec)
	}
	b.report.Ratios = ratios
	return nil
}

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
	events := make([]sqlstore.SeedEvent, n)
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
		events[i] = sqlstore.SeedEvent{Type: convo.EventMessageCreated, StreamID: stream, ConversationID: stream, Payload: payload}
	}
	b.recv.reset()
	err = b.withStore(ctx, "webhook", func(store *sqlstore.DB) error {
		b.progress.set(func() string { return fmt.Sprintf("webhook: queueing %d events", n) })
		if err := store.SeedEvents(ctx, b.customerID, events); err != nil {
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

// runList seeds the database and measures list queries on it.
func (b *bench) runList(ctx context.Context) error {
	if len(b.agents) == 0 {
		for i := range 5 {
			var agent struct {
				ID string `json:"id"`
			}
			name := fmt.Sprintf("bench-agent-%d-%s", i, benchHex(4))
			if err := b.api(ctx, http.MethodPost, "/v1.0/agents", map[string]any{
				"username": name, "password": benchHex(12), "name": name, "permission": convo.PermissionCustomerAgent}, &agent); err != nil {
				return fmt.Errorf("bench: create an agent: %w", err)
			}
			b.agents = append(b.agents, agent.ID)
		}
	}
	n, m := b.cfg.seedConversations, b.cfg.seedMessages
	span := 365 * 24 * time.Hour
	spec := sqlstore.SeedSpec{CustomerID: b.customerID, AccountID: b.accountID, Conversations: n, MessagesPerConversation: m,
		Agents: b.agents, Interval: span / time.Duration(n)}
	spec.First = time.Now().Add(-time.Hour - time.Duration(n)*spec.Interval)
	var done atomic.Int64
	total := n * (1 + m)
	var res *sqlstore.SeedResult
	var seedTime time.Duration
	err := b.withStore(ctx, "list", func(store *sqlstore.DB) (err error) {
		start := time.Now()
		b.progress.set(func() string {
			d, el := done.Load(), time.Since(start)
			eta := "?"
			if d > 0 {
				eta = (time.Duration(float64(el) * float64(int64(total)-d) / float64(d))).Round(time.Second).String()
			}
			return fmt.Sprintf("list: seeding %d conversations, %d messages  %d/%d rows (%.0f%%)  %.0f rows/s  %s left",
				n, n*m, d, total, 100*float64(d)/float64(total), float64(d)/el.Seconds(), eta)
		})
		spec.Progress = func(d, _ int) { done.Store(int64(d)) }
		res, err = store.SeedBulk(ctx, spec)
		seedTime = time.Since(start)
		return err
	})
	if err != nil {
		return err
	}
	b.report.Seed = &benchSeed{Conversations: n, Messages: n * m, Seconds: benchRound(seedTime.Seconds()), RowsPerSec: benchRound(float64(total) / seedTime.Seconds())}
	b.report.FirstAnswerMS, b.report.FirstAnswerOn = b.srv.firstAnswerMS(), "seeded"

	rng := mathrand.New(mathrand.NewPCG(uint64(time.Now().UnixNano()), 1))
	deep := n * 9 / 10
	deepToken := func() string {
		// Conversation i was created at First + i*Interval; a token just
		// after conversation n-1-d starts the page d rows into the seed.
		d := deep + rng.IntN(max(n/20, 1)) - n/40
		d = min(max(d, 0), n-1)
		return convo.NewTime(spec.First.Add(time.Duration(n-d) * spec.Interval)).String()
	}
	queries := []struct {
		name string
		path func() string
	}{
		{"first_page", func() string { return "/v1.0/conversations?page_size=100" }},
		{"deep_page", func() string {
			return "/v1.0/conversations?page_size=100&page_token=" + url.QueryEscape(deepToken())
		}},
		{"owner_filter", func() string {
			return "/v1.0/conversations?page_size=100&owner_id=" + b.agents[rng.IntN(len(b.agents))]
		}},
		{"messages", func() string {
			return "/v1.0/conversations/" + res.Sample[rng.IntN(len(res.Sample))] + "/messages?page_size=100"
		}},
	}
	measure := func(when string) (benchListRound, error) {
		r := benchListRound{Queries: map[string]benchLatency{}}
		before := b.sampleCPU()
		for _, q := range queries {
			lat, err := b.sequential(ctx, "list "+when+": "+q.name, b.cfg.listRequests, 1, q.path)
			if err != nil {
				return r, err
			}
			r.Queries[q.name] = latencyOf(lat)
		}
		r.DatabaseCheckpoints = checkpointsBetween(before, b.sampleCPU())
		r.FirstPageP99MS, r.DeepPageP99MS = r.Queries["first_page"].P99MS, r.Queries["deep_page"].P99MS
		r.OwnerFilterP99MS, r.MessagesP99MS = r.Queries["owner_filter"].P99MS, r.Queries["messages"].P99MS
		return r, nil
	}
	lr := &benchList{DeepPageRows: deep}
	if lr.benchListRound, err = measure("(never analyzed)"); err != nil {
		return err
	}
	err = b.withStore(ctx, "list", func(store *sqlstore.DB) error {
		b.progress.set(func() string { return "list: ANALYZE" })
		return store.Analyze(ctx)
	})
	if err != nil {
		return err
	}
	if lr.Analyzed, err = measure("(analyzed)"); err != nil {
		return err
	}
	b.report.List = lr
	b.recordRSS("list")
	return nil
}

// latencyOf summarises sorted latencies.
func latencyOf(lat []time.Duration) benchLatency {
	return benchLatency{Requests: len(lat), P50MS: benchMS(benchPercentile(lat, 0.5)), P99MS: benchMS(benchPercentile(lat, 0.99)), MaxMS: benchMS(benchPercentile(lat, 1))}
}

// sequential runs n requests of GET path() one after another, after a few
// unmeasured ones, and returns their sorted latencies. Every answer must be
// 200 with at least minRows results.
func (b *bench) sequential(ctx context.Context, label string, n, minRows int, path func() string) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	warm := min(20, n)
	var mu sync.Mutex
	b.progress.set(func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("%s  %d/%d", label, len(lat), n)
	})
	for i := range warm + n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := path()
		start := time.Now()
		var page struct {
			Result []json.RawMessage `json:"result"`
		}
		if err := b.api(ctx, http.MethodGet, p, nil, &page); err != nil {
			return nil, fmt.Errorf("bench: %s: %w", label, err)
		}
		d := time.Since(start)
		if len(page.Result) < minRows {
			return nil, fmt.Errorf("bench: %s: GET %s returned %d rows, want at least %d", label, p, len(page.Result), minRows)
		}
		if i >= warm {
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}
	}
	slices.Sort(lat)
	return lat, nil
}

// recordRSS notes the server's peak resident memory so far.
func (b *bench) recordRSS(phase string) {
	if b.srv == nil {
		return
	}
	if mb := b.srv.peakRSSMB(); mb > 0 {
		b.report.RSSMBByPhase[phase] = max(b.report.RSSMBByPhase[phase], mb)
	}
}

// ---- the server process ----

// benchChild is a running `convo serve`.
type benchChild struct {
	cmd       *exec.Cmd
	url       string
	debugURL  string
	started   time.Time
	firstSeen time.Duration
	exited    chan struct{}
	err       error
}

func (c *benchChild) firstAnswerMS() float64 { return benchMS(c.firstSeen) }

// peakRSSMB reads VmHWM, the peak resident set size, of the process.
func (c *benchChild) peakRSSMB() float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err == nil {
				return benchRound(kb / 1024)
			}
		}
	}
	return 0
}

var benchAccessKey = regexp.MustCompile(`access key:\s+(\S+)`)

// startServer starts `convo serve` on a free loopback port and waits for
// its first answer to GET /v1.0/me.
func (b *bench) startServer(ctx context.Context) error {
	label := "starting the server"
	b.progress.set(func() string { return label })
	addr, err := benchFreeAddr()
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(b.exe, "serve", "--listen", addr)
	debugAddr := ""
	if b.cfg.cpuProfile != "" {
		if debugAddr, err = benchFreeAddr(); err != nil {
			return err
		}
	}
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "CONVO_") }),
		"CONVO_DATABASE="+b.dsn, // in the environment, so that a password does not show in ps
		"CONVO_PUBLIC_URL=http://"+addr,
		"CONVO_WEBHOOK_ALLOW_PRIVATE=true",
		"CONVO_LINE_API_URL="+b.lineAPI.URL,
		"CONVO_BENCH_SECRET="+b.benchSecret,
		"CONVO_SQLITE_SYNCHRONOUS="+b.cfg.sqliteSynchronous,
		"CONVO_DEBUG_LISTEN="+debugAddr,
	)
	keys := make(chan string, 1)
	out := &benchLineWriter{fn: func(line string) {
		if m := benchAccessKey.FindStringSubmatch(line); m != nil {
			select {
			case keys <- m[1]:
			default:
			}
		}
	}}
	cmd.Stdout, cmd.Stderr = out, logFile
	c := &benchChild{cmd: cmd, url: "http://" + addr, debugURL: "http://" + debugAddr, exited: make(chan struct{})}
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("bench: start the server: %w", err)
	}
	go func() { c.err = cmd.Wait(); close(c.exited) }()
	b.srv = c
	fail := func(err error) error {
		b.stopServer("")
		return fmt.Errorf("%w\n%s", err, b.logTail())
	}
	if b.key == "" {
		select {
		case b.key = <-keys:
		case <-c.exited:
			return fail(fmt.Errorf("bench: the server exited at its first start: %v", c.err))
		case <-time.After(2 * time.Minute):
			return fail(errors.New("bench: the server printed no access key at its first start"))
		case <-ctx.Done():
			return fail(ctx.Err())
		}
	}
	poll := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	deadline := c.started.Add(5 * time.Minute)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/v1.0/me", nil)
		req.Header.Set("Authorization", "Bearer "+b.key)
		res, err := poll.Do(req)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				c.firstSeen = time.Since(c.started)
				b.report.StartsMS = append(b.report.StartsMS, benchMS(c.firstSeen))
				return nil
			}
			return fail(fmt.Errorf("bench: GET /v1.0/me answered %d", res.StatusCode))
		}
		select {
		case <-c.exited:
			return fail(fmt.Errorf("bench: the server exited: %v", c.err))
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fail(errors.New("bench: the server did not answer within 5 minutes"))
		}
	}
}

// stopServer records the server's peak memory under phase (when set) and
// stops it with SIGTERM, as an operator would.
func (b *bench) stopServer(phase string) {
	c := b.srv
	if c == nil {
		return
	}
	b.srv = nil
	if phase != "" {
		if mb := c.peakRSSMB(); mb > 0 {
			b.report.RSSMBByPhase[phase] = max(b.report.RSSMBByPhase[phase], mb)
		}
	}
	b.progress.set(func() string { return "stopping the server" })
	b.client.CloseIdleConnections()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(time.Minute):
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// logTail returns the end of the server log, for error messages.
func (b *bench) logTail() string {
	data, _ := os.ReadFile(b.logPath)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return "server log (end):\n" + string(data)
}

// benchLineWriter calls fn with each complete line written to it.
type benchLineWriter struct {
	mu  sync.Mutex
	buf []byte
	fn  func(string)
}

func (w *benchLineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.fn(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// api calls the server with the access key and decodes a 200 answer into out.
func (b *bench) api(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.srv.url+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s answered %d: %s", method, strings.SplitN(path, "?", 2)[0], res.StatusCode, bytes.TrimSpace(data))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// ---- load ----

// benchRequestMaker builds one request for a worker; onOK runs after a 200.
type benchRequestMaker func(rng *mathrand.Rand) (req *http.Request, onOK func(), err error)

// send makes one request; an error means no 200, answered tells whether
// the server answered at all.
func (b *bench) send(ctx context.Context, req *http.Request) (answered bool, err error) {
	resp, err := b.client.Do(req.WithContext(ctx))
	if err != nil {
		return false, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return true, fmt.Errorf("answered %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return true, nil
}

// drivePaced sends requests at rate per second for d, each at its
// scheduled time however long earlier ones take (open loop).
func (b *bench) drivePaced(ctx context.Context, label string, d time.Duration, rate float64, mk benchRequestMaker) *benchLoad {
	res := &benchLoad{}
	var mu sync.Mutex
	var ok, failed atomic.Int64
	start := time.Now()
	b.progress.set(func() string {
		el := time.Since(start)
		return fmt.Sprintf("%s: %.0f/s for %s  %s  %d ok  %d failed", label, rate, d, el.Round(100*time.Millisecond), ok.Load(), failed.Load())
	})
	interval := time.Duration(float64(time.Second) / max(rate, 1))
	rng := mathrand.New(mathrand.NewPCG(uint64(time.Now().UnixNano()), 99))
	var wg sync.WaitGroup
	for i := 0; ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= d {
			break
		}
		if wait := time.Until(due); wait > 0 {
			benchSleep(ctx, wait)
		}
		req, onOK, err := mk(rng)
		if err != nil {
			res.firstErr = err.Error()
			failed.Add(1)
			break
		}
		wg.Go(func() {
			_, err := b.send(ctx, req)
			lat := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if ctx.Err() == nil {
					res.firstErr = cmp.Or(res.firstErr, err.Error())
					failed.Add(1)
				}
				return
			}
			res.lat = append(res.lat, lat)
			ok.Add(1)
			if onOK != nil {
				onOK()
			}
		})
	}
	wg.Wait()
	return res.finish(start, &ok, &failed)
}

// hookRequest builds signed LINE webhooks with messages text messages each
// to the bench account, each message 10% from a new peer and 90% from a
// known one, or all from new peers when allNew is set.
func (b *bench) hookRequest(allNew bool, messages int) benchRequestMaker {
	return func(rng *mathrand.Rand) (*http.Request, func(), error) {
		peers := make([]string, messages)
		var added []string
		for i := range peers {
			var isNew bool
			if peers[i], isNew = b.peers.pick(rng, allNew); isNew {
				added = append(added, peers[i])
			}
		}
		req, err := b.signedRequest(b.srv.url+"/v1.0/conversation/accounts/"+b.accountID, b.channelSecret, b.lineBody(peers...))
		var onOK func()
		if len(added) > 0 {
			onOK = func() {
				for _, p := range added {
					b.peers.add(p)
				}
			}
		}
		return req, onOK, err
	}
}

// benchRequest builds the same requests for the bench-only route, which
// only reads them and checks their signature.
func (b *bench) benchRequest() benchRequestMaker {
	return func(rng *mathrand.Rand) (*http.Request, func(), error) {
		peer, _ := b.peers.pick(rng, false)
		req, err := b.signedRequest(b.srv.url+"/v1.0/bench/signature", b.benchSecret, b.lineBody(peer))
		return req, nil, err
	}
}

func (b *bench) signedRequest(target, secret string, body []byte) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Line-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	req.Header.Set("User-Agent", "LineBotWebhook/2.0")
	return req, nil
}

// lineBody is a LINE webhook body with one text message from each of peers.
func (b *bench) lineBody(peers ...string) []byte {
	buf := make([]byte, 0, 60+360*len(peers))
	buf = append(buf, `{"destination":"`...)
	buf = append(buf, b.botID...)
	buf = append(buf, `","events":[`...)
	for i, peer := range peers {
		if i > 0 {
			buf = append(buf, ',')
		}
		n := b.seq.Add(1)
		id := strconv.FormatUint(b.idBase+n, 10)
		buf = append(buf, `{"type":"message","webhookEventId":"01BENCH`...)
		buf = append(buf, id...)
		buf = append(buf, `","deliveryContext":{"isRedelivery":false},"timestamp":`...)
		buf = strconv.AppendInt(buf, time.Now().UnixMilli(), 10)
		buf = append(buf, `,"source":{"type":"user","userId":"`...)
		buf = append(buf, peer...)
		buf = append(buf, `"},"mode":"active","replyToken":"`...)
		buf = append(buf, id...)
		buf = append(buf, `","message":{"id":"`...)
		buf = append(buf, id...)
		buf = append(buf, `","type":"text","quoteToken":"q`...)
		buf = append(buf, id...)
		buf = append(buf, `","text":"Hello, I have a question about my order number `...)
		buf = strconv.AppendUint(buf, n, 10)
		buf = append(buf, `."}}`...)
	}
	buf = append(buf, `]}`...)
	return buf
}

// benchLoad is the outcome of a timed load.
type benchLoad struct {
	ok, failed int
	elapsed    time.Duration
	lat        []time.Duration // of the 200 answers, sorted
	firstErr   string
}

// finish records a load's totals once its requests are done.
func (l *benchLoad) finish(start time.Time, ok, failed *atomic.Int64) *benchLoad {
	l.elapsed = time.Since(start)
	l.ok, l.failed = int(ok.Load()), int(failed.Load())
	slices.Sort(l.lat)
	return l
}

func (l *benchLoad) rate() float64 {
	if l.elapsed <= 0 {
		return 0
	}
	return float64(l.ok) / l.elapsed.Seconds()
}

func (l *benchLoad) percentile(q float64) time.Duration { return benchPercentile(l.lat, q) }

// drive runs requests from concurrency clients for d, or until limit
// requests (when limit > 0), and collects the latencies of the 200 answers.
func (b *bench) drive(ctx context.Context, label string, d time.Duration, limit, concurrency int, mk benchRequestMaker) *benchLoad {
	var ok, failed, issued atomic.Int64
	var errOnce sync.Once
	res := &benchLoad{}
	lats := make([][]time.Duration, concurrency)
	start := time.Now()
	deadline := start.Add(d)
	b.progress.set(func() string {
		el := time.Since(start)
		s := fmt.Sprintf("%s: %d clients  %s/%s  %d ok  %.0f/s", label, concurrency, el.Round(100*time.Millisecond), d, ok.Load(), float64(ok.Load())/el.Seconds())
		if limit > 0 {
			s += fmt.Sprintf("  (at most %d)", limit)
		}
		if f := failed.Load(); f > 0 {
			s += fmt.Sprintf("  %d failed", f)
		}
		return s
	})
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Go(func() {
			rng := mathrand.New(mathrand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
			lat := make([]time.Duration, 0, 4096)
			defer func() { lats[w] = lat }()
			// The loop checks ctx between requests; one in flight ends by
			// itself, the server answers quickly.
			var conn benchConn
			defer conn.close()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if limit > 0 && issued.Add(1) > int64(limit) {
					return
				}
				req, onOK, err := mk(rng)
				if err != nil {
					errOnce.Do(func() { res.firstErr = err.Error() })
					failed.Add(1)
					return
				}
				t0 := time.Now()
				if answered, err := conn.send(req); err != nil {
					if ctx.Err() == nil {
						errOnce.Do(func() { res.firstErr = err.Error() })
						failed.Add(1)
						if !answered {
							time.Sleep(10 * time.Millisecond)
						}
					}
					continue
				}
				lat = append(lat, time.Since(t0))
				ok.Add(1)
				if onOK != nil {
					onOK()
				}
			}
		})
	}
	wg.Wait()
	res.lat = slices.Concat(lats...)
	return res.finish(start, &ok, &failed)
}

// benchPeers holds the LINE user ids that already have a conversation.
type benchPeers struct {
	mu  sync.Mutex
	ids []string
}

// pick returns a peer: a new one 10% of the time (always when allNew or
// when none is known), else a known one.
func (p *benchPeers) pick(rng *mathrand.Rand, allNew bool) (string, bool) {
	if !allNew && rng.IntN(10) != 0 {
		p.mu.Lock()
		n := len(p.ids)
		var id string
		if n > 0 {
			id = p.ids[rng.IntN(n)]
		}
		p.mu.Unlock()
		if n > 0 {
			return id, false
		}
	}
	var b [16]byte
	benchRandomBytes(rng, b[:])
	return "U" + hex.EncodeToString(b[:]), true
}

func benchRandomBytes(rng *mathrand.Rand, b []byte) {
	for i := 0; i < len(b); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

func (p *benchPeers) add(id string) {
	p.mu.Lock()
	p.ids = append(p.ids, id)
	p.mu.Unlock()
}

func (p *benchPeers) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ids)
}

// benchLineAPI answers the LINE calls the server makes in the background
// (profile lookups of new peers), so nothing leaves the machine.
func benchLineAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if id, ok := strings.CutPrefix(r.URL.Path, "/v2/bot/profile/"); ok && r.Method == http.MethodGet {
		name := "Peer " + id[max(len(id)-6, 0):]
		fmt.Fprintf(w, `{"userId":%q,"displayName":%q,"language":"en"}`, id, name)
		return
	}
	io.WriteString(w, `{}`)
}

// ---- webhook receiver ----

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

// ---- output ----

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

// ---- helpers ----

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
