// Package bench is `convo bench`: it measures convo on the machine it runs
// on. It starts a real `convo serve` as a child process on a loopback port
// and drives it over HTTP like a provider and a client would. Each figure is
// measured in the same run as its baseline, so the ratios hold on a noisy
// machine.
package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

const benchUsage = `usage: convo bench [flags]

Measures convo on this machine against a real server started as a child
process, and prints a table (or, with --json, one JSON object).

scenarios:
  ingest   signed LINE webhooks, one text message each (10% new peers), with
           two baselines: raw single-row insert transactions on the same
           database (db_limit) and a handler that only checks the signature,
           served like the server with the same HTTP stack (http_limit)
  media    ingest as above with 10% of the messages carrying a 200 KB image
           that the server downloads from a local fake LINE, and at half
           that rate the delay from each message to its image stored
  list     conversation and message lists on a seeded database, before
           and after ANALYZE
  webhook  customer webhook deliveries to a local receiver answering 200
  inbox    a plain agent's inbox (open, unread, unassigned), a label filter
           and search on the database seeded as for list (seeded once
           when both run), after ANALYZE
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

// Run runs `convo bench` with the command line args (those after "bench").
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == baselineCommand {
		return serveBaseline(ctx, args[1:], stderr)
	}
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
	fs.StringVar(&cfg.scenario, "scenario", "all", "ingest, list, webhook, inbox or all (comma-separated for several)")
	fs.IntVar(&cfg.seedConversations, "seed-conversations", 1_000_000, "conversations seeded for the list and inbox scenarios")
	fs.IntVar(&cfg.seedMessages, "seed-messages-per-conversation", 5, "messages per seeded conversation")
	fs.IntVar(&cfg.listRequests, "list-requests", 300, "requests per list query")
	fs.IntVar(&cfg.webhookMessages, "webhook-messages", 20_000, "at most this many messages are ingested (for at most --duration) to make webhook events")
	fs.IntVar(&cfg.webhookBacklog, "webhook-backlog", 20_000, "at most this many queued events are drained to measure delivery capacity (fewer for short durations)")
	fs.Float64Var(&cfg.webhookRate, "webhook-rate", 5000, "events per second made, from webhooks of several messages sent at fixed times, to measure deliveries at that rate (0: skip)")
	fs.StringVar(&cfg.sqliteSynchronous, "sqlite-synchronous", cmp.Or(os.Getenv("CONVO_SQLITE_SYNCHRONOUS"), "FULL"), "SQLite synchronous mode of the server and of the baseline")
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

var benchScenarios = []string{"ingest", "media", "webhook", "list", "inbox"}

func parseBenchScenarios(s string) (map[string]bool, error) {
	set := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		switch name = strings.TrimSpace(name); name {
		case "all":
			for _, n := range benchScenarios {
				set[n] = true
			}
		case "ingest", "media", "list", "webhook", "inbox":
			set[name] = true
		default:
			return nil, fmt.Errorf("bench: unknown scenario %q (ingest, media, list, webhook, inbox, all)", name)
		}
	}
	return set, nil
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
	checkpoints *checkpointCounter

	baselineSecret string
	channelSecret  string
	botID          string

	srv *benchChild
	// baseline is the signature baseline of http_limit, while it runs.
	baseline   *benchChild
	key        string
	customerID string
	accountID  string
	agents     []string
	// agentLogins are the username and password of each of agents.
	agentLogins [][2]string
	seeded      *benchSeeded
	analyzed    bool
	peers       benchPeers
	seq         atomic.Uint64
	idBase      uint64
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
	b.baselineSecret, b.channelSecret = benchHex(16), benchHex(16)
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
		dsn, drop, err := newScratchSchema(ctx, db, "convo_bench_")
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
		if b.checkpoints, err = openCheckpointCounter(ctx, dsn); err != nil {
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
	if b.scenarios["ingest"] || b.scenarios["media"] {
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
	if b.scenarios["media"] {
		if err := b.runMedia(ctx); err != nil {
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
	if b.scenarios["inbox"] {
		if err := b.runInbox(ctx); err != nil {
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

// recordRSS notes the server's peak resident memory so far.
func (b *bench) recordRSS(phase string) {
	if b.srv == nil {
		return
	}
	if mb := b.srv.peakRSSMB(); mb > 0 {
		b.report.RSSMBByPhase[phase] = max(b.report.RSSMBByPhase[phase], mb)
	}
}
