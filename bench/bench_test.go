package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/convohq/convo/internal/testbin"
	"github.com/convohq/convo/internal/testdb"
)

// TestBenchReportsEveryFigure runs a short `convo bench` on SQLite and checks
// that it measures and reports every figure of its JSON object. It asserts
// no speed: only that the tool works end to end.
func TestBenchReportsEveryFigure(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole benchmark for a few seconds")
	}
	profile := filepath.Join(t.TempDir(), "ingest.prof")
	stdout, stderr, err := runBenchCommand(t, "--duration", "1s", "--concurrency", "4", "--scenario", "all",
		"--seed-conversations", "2000", "--seed-messages-per-conversation", "2", "--cpuprofile", profile)
	if err != nil {
		t.Fatalf("convo bench: %v\nstderr:\n%s", err, stderr)
	}
	dec := json.NewDecoder(stdout)
	var report map[string]any
	if err := dec.Decode(&report); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON object")
	}
	for _, path := range []string{
		"ingest.messages_per_sec", "ingest.p50_ms", "ingest.p99_ms", "ingest.max_ms",
		"ingest.cpu_us_per_message.server", "ingest.cpu_us_per_message.load_generator",
		"ingest.half_rate.target_per_sec", "ingest.half_rate.achieved_per_sec", "ingest.half_rate.p99_ms",
		"db_limit.tx_per_sec", "db_limit.cpu_us_per_tx.client", "http_limit.requests_per_sec",
		"ratios.ingest_db", "ratios.ingest_http",
		"list.first_page_p99_ms", "list.deep_page_p99_ms", "list.owner_filter_p99_ms", "list.messages_p99_ms",
		"list.analyzed.first_page_p99_ms", "list.analyzed.deep_page_p99_ms", "list.analyzed.owner_filter_p99_ms", "list.analyzed.messages_p99_ms",
		"inbox.queries.open_first.p99_ms", "inbox.queries.unread.p99_ms", "inbox.queries.search3_agent.p99_ms",
		"webhook.events_per_sec", "webhook.p99_delay_ms", "webhook.paced.events_per_sec", "webhook.paced.p99_delay_ms", "webhook.paced.ingest_p99_ms",
		"webhook.cpu_us_per_event.server", "webhook.paced.cpu_us_per_event.server",
		"webhook.backlog_events_per_sec", "webhook.pending_list.p99_ms", "webhook.dead_list.p99_ms", "webhook.outbox_events",
		"peak_rss_mb", "first_answer_ms", "concurrency",
	} {
		v, ok := lookup(report, path)
		if !ok {
			t.Errorf("the report has no %s", path)
			continue
		}
		if n, ok := v.(float64); !ok || !(n > 0) {
			t.Errorf("%s = %v, want a positive number", path, v)
		}
	}
	if c, _ := report["concurrency"].(float64); c != 4 {
		t.Errorf("concurrency = %v, want 4", report["concurrency"])
	}
	if db, _ := report["database"].(string); db != "sqlite" {
		t.Errorf("database = %q, want sqlite", report["database"])
	}
	if cmdline, _ := report["command"].(string); !strings.Contains(cmdline, "--seed-conversations 2000") {
		t.Errorf("command = %q, want the command line used", report["command"])
	}
	if raw := readProfile(t, profile); !bytes.Contains(raw, []byte("net/http.(*conn).serve")) {
		t.Errorf("the CPU profile (%d bytes) names none of the server's functions", len(raw))
	}
	if t.Failed() {
		t.Logf("report:\n%s", stdout.String())
	}
}

// TestBenchInbox runs the inbox scenario on a tiny seed: every query is
// measured, and the seeded inbox state shows through the API (the agent's
// open, unread and unassigned lists, both labels, search as admin and agent).
func TestBenchInbox(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds a small database")
	}
	stdout, stderr, err := runBenchCommand(t, "--scenario", "inbox", "--seed-conversations", "3000",
		"--seed-messages-per-conversation", "3", "--list-requests", "5")
	if err != nil {
		t.Fatalf("convo bench: %v\nstderr:\n%s", err, stderr)
	}
	var report struct {
		Scenarios []string `json:"scenarios"`
		Inbox     *struct {
			Queries   map[string]struct{ Requests int } `json:"queries"`
			Results   map[string]float64                `json:"results_per_answer"`
			AgentOpen int                               `json:"agent_open_conversations"`
		} `json:"inbox"`
		List *json.RawMessage `json:"list"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout)
	}
	if report.Inbox == nil || report.List != nil || !slices.Equal(report.Scenarios, []string{"inbox"}) {
		t.Fatalf("scenarios %v, inbox %v, list %v: want the inbox alone", report.Scenarios, report.Inbox != nil, report.List != nil)
	}
	// 3000 conversations, 9 in 10 owned by 10 agents, 15% open: ~40 for the agent.
	if n := report.Inbox.AgentOpen; n < 10 || n > 100 {
		t.Errorf("the agent owns %d open conversations, want about 40", n)
	}
	for _, name := range []string{"open_first", "open_deep", "unread", "unassigned", "label", "label_rare",
		"search3_admin", "search3_agent", "search10_admin", "search10_agent"} {
		if q, ok := report.Inbox.Queries[name]; !ok || q.Requests != 5 {
			t.Errorf("inbox query %s: %+v, want 5 requests measured", name, q)
		}
	}
	// Lists asked for pages of 100, search for 50: the seed fills them.
	for name, want := range map[string]float64{"open_first": 10, "unread": 10, "unassigned": 10, "label": 50, "search3_admin": 50, "search3_agent": 50} {
		if got := report.Inbox.Results[name]; got < want {
			t.Errorf("inbox query %s found %v results an answer, want at least %v", name, got, want)
		}
	}
}

// TestBenchProfilesAWebhookMeasurement asks for the profile of the paced
// webhook measurement in a run without the ingest scenario, whose
// measurement is the default: a profile of the server taking webhooks must
// still be written. (The live and paced webhook measurements run the same
// functions, so which of the two was recorded is not told apart here.)
func TestBenchProfilesAWebhookMeasurement(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the webhook benchmark for a few seconds")
	}
	profile := filepath.Join(t.TempDir(), "paced.prof")
	_, stderr, err := runBenchCommand(t, "--duration", "2s", "--concurrency", "4", "--scenario", "webhook",
		"--webhook-messages", "200", "--webhook-backlog", "200", "--cpuprofile", profile, "--cpuprofile-phase", "webhook.paced")
	if err != nil {
		t.Fatalf("convo bench: %v\nstderr:\n%s", err, stderr)
	}
	// Deliveries may lag behind the window on a loaded machine (under the
	// race detector they did), the webhooks coming in may not.
	if raw := readProfile(t, profile); !bytes.Contains(raw, []byte("service.(*Service).ReceiveHook")) {
		t.Errorf("the CPU profile (%d bytes) caught no webhook coming in", len(raw))
	}
}

func TestBenchRefusesAProfileOfNoMeasurement(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cpuprofile-phase", "list"}, `unknown --cpuprofile-phase "list"`},
		{[]string{"--cpuprofile-phase", "webhook.paced", "--scenario", "ingest"}, "needs the webhook scenario"},
		{[]string{"--cpuprofile-phase", "ingest", "--scenario", "webhook,list"}, "needs the ingest scenario"},
		{[]string{"--cpuprofile-phase", "webhook.paced", "--scenario", "webhook", "--webhook-rate", "0"}, "needs a --webhook-rate"},
	} {
		args := append([]string{"--cpuprofile", filepath.Join(t.TempDir(), "x.prof")}, c.args...)
		if err := Run(t.Context(), args, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("convo bench %v: %v; want a failure saying %q", args, err, c.want)
		}
	}
	if err := Run(t.Context(), []string{"--cpuprofile-phase", "webhook"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "needs --cpuprofile") {
		t.Errorf("a phase without a profile to write: %v", err)
	}
}

// runBenchCommand runs `convo bench --json` with args, for two minutes at
// most, and returns what it printed.
func runBenchCommand(t *testing.T, args ...string) (stdout, stderr *bytes.Buffer, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, convoBinary(t), append([]string{"bench", "--json"}, args...)...)
	cmd.Env = commandEnv()
	stdout, stderr = new(bytes.Buffer), new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return stdout, stderr, cmd.Run()
}

// readProfile returns the decompressed bytes of a CPU profile (gzipped
// protocol buffers, which name the sampled functions).
func readProfile(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no CPU profile written: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("the CPU profile is not gzipped: %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("read the CPU profile: %v", err)
	}
	return raw
}

// lookup finds a dotted path in a decoded JSON object.
func lookup(v map[string]any, path string) (any, bool) {
	parts := strings.Split(path, ".")
	for i, p := range parts {
		x, ok := v[p]
		if !ok {
			return nil, false
		}
		if i == len(parts)-1 {
			return x, true
		}
		if v, ok = x.(map[string]any); !ok {
			return nil, false
		}
	}
	return nil, false
}

// TestBenchRouteIsHidden checks that the signature baseline is served by
// bench's own child process only, never by a convo server, and that it
// checks the signature.
func TestBenchRouteIsHidden(t *testing.T) {
	body := []byte(`{"destination":"U0","events":[]}`)
	mac := hmac.New(sha256.New, []byte("bench-secret"))
	mac.Write(body)
	good := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	post := func(base, signature string) int {
		req, err := http.NewRequest(http.MethodPost, base+baselinePath, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Line-Signature", signature)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}

	plain := startServe(t)
	if got := post(plain, good); got != http.StatusNotFound {
		t.Errorf("a convo server: POST %s = %d, want 404", baselinePath, got)
	}
	b := &bench{exe: convoBinary(t), dir: t.TempDir(), baselineSecret: "bench-secret", progress: newBenchProgress(io.Discard)}
	defer b.progress.stop()
	if err := b.startBaseline(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer b.stopBaseline()
	if got := post(b.baseline.url, good); got != http.StatusOK {
		t.Errorf("good signature: %d, want 200", got)
	}
	if got := post(b.baseline.url, base64.StdEncoding.EncodeToString([]byte("wrong"))); got != http.StatusUnauthorized {
		t.Errorf("bad signature: %d, want 401", got)
	}
}

// TestBenchCountsPostgresCheckpoints runs the webhook scenario on PostgreSQL
// while checkpoints are forced every 100 ms, and checks that each timed
// measurement reports the checkpoints that began during it.
func TestBenchCountsPostgresCheckpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the webhook benchmark for a few seconds")
	}
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		if b.Name != "postgres" {
			return
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		admin, err := sql.Open("pgx", b.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		forcing, stop := context.WithCancel(ctx)
		forced := make(chan error, 1)
		go func() {
			defer close(forced)
			for forcing.Err() == nil {
				if _, err := admin.ExecContext(forcing, "CHECKPOINT"); err != nil && forcing.Err() == nil {
					forced <- err
					return
				}
				select {
				case <-forcing.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
		stdout, stderr, runErr := runBenchCommand(t, "--duration", "1s", "--concurrency", "4", "--scenario", "webhook", "--database", b.DSN)
		stop()
		if err := <-forced; err != nil {
			t.Fatalf("CHECKPOINT: %v", err)
		}
		if runErr != nil {
			t.Fatalf("convo bench: %v\nstderr:\n%s", runErr, stderr)
		}
		var report map[string]any
		if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
			t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
		}
		for _, path := range []string{"webhook.database_checkpoints", "webhook.paced.database_checkpoints"} {
			if v, _ := lookup(report, path); v == nil || v.(float64) < 1 {
				t.Errorf("%s = %v, want at least 1 with a checkpoint forced every 100 ms", path, v)
			}
		}
	})
}

// TestCheckpointCounterPostgres: the counter sampled around a
// measurement sees a checkpoint that began in between.
func TestCheckpointCounterPostgres(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		if b.Name != "postgres" {
			return
		}
		ctx := t.Context()
		counter, err := openCheckpointCounter(ctx, b.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer counter.Close()
		before, err := counter.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		admin, err := sql.Open("pgx", b.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "CHECKPOINT"); err != nil {
			t.Fatal(err)
		}
		// The server publishes its statistics shortly after the checkpoint.
		deadline := time.Now().Add(10 * time.Second)
		for {
			after, err := counter.Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if after > before {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("checkpoints begun: %d before a CHECKPOINT, %d after", before, after)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// convoBinary is the convo command: bench starts the binary it runs in, as
// its server and its baseline.
func convoBinary(t testing.TB) string { return testbin.ConvoWithoutRace(t) }

// commandEnv is the environment of a child process.
func commandEnv() []string { return testbin.Env() }

// startServe starts `convo serve` on a fresh SQLite file and returns its
// base URL once it answers.
func startServe(t *testing.T) string {
	t.Helper()
	addr, err := benchFreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(convoBinary(t), "serve", "--listen", addr, "--database", "sqlite:"+filepath.Join(t.TempDir(), "convo.db"))
	cmd.Env = commandEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	base := "http://" + addr
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if res, err := http.Get(base + "/v1.0/openapi.yaml"); err == nil {
			res.Body.Close()
			return base
		}
	}
	t.Fatal("convo serve did not answer within a minute")
	return ""
}
