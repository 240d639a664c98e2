// Command convo runs the convo conversation hub: `convo serve`,
// `convo bootstrap`, `convo bench` and `convo version`.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/bench"
	"github.com/convohq/convo/httpapi"
	"github.com/convohq/convo/metrics"
	"github.com/convohq/convo/service"
	"github.com/convohq/convo/sqlstore"
	"github.com/convohq/convo/whatsapp"
)

// defaultGCPercent is the collector's target when GOGC is not set. The live
// heap is small (tens of MB) and every request churns it, so at Go's default
// of 100 the collector took about a sixth of the server's CPU during ingest;
// at 400 the server spends a fifth less CPU per message for about 25 MB more
// memory (see docs/performance.md).
const defaultGCPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "convo:", err)
		os.Exit(1)
	}
}

const usage = `usage: convo <command> [flags]

commands:
  serve       run the server
  bootstrap   create a customer, its admin agent and an access key
  bench       measure convo on this machine (ingest, list, webhook)
  version     print the version`

// run dispatches a command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "bootstrap":
		return runBootstrap(ctx, args[1:], stdout, stderr)
	case "bench":
		return bench.Run(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "convo", convo.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	fs.StringVar(&cfg.Listen, "listen", env("CONVO_LISTEN", "127.0.0.1:8080"), "address to listen on (CONVO_LISTEN)")
	fs.StringVar(&cfg.Database, "database", env("CONVO_DATABASE", "sqlite:convo.db"), "sqlite:PATH or postgres://... (CONVO_DATABASE)")
	fs.StringVar(&cfg.PublicURL, "public-url", env("CONVO_PUBLIC_URL", ""), "public base URL shown in hook URLs (CONVO_PUBLIC_URL; default http://LISTEN)")
	fs.DurationVar(&cfg.EventRetention, "event-retention", envDuration("CONVO_EVENT_RETENTION", 7*24*time.Hour), "how long delivered events are kept (CONVO_EVENT_RETENTION)")
	fs.DurationVar(&cfg.AuditRetention, "audit-retention", envDuration("CONVO_AUDIT_RETENTION", 90*24*time.Hour), "how long audit entries are kept (CONVO_AUDIT_RETENTION)")
	fs.StringVar(&cfg.TrustedProxies, "trusted-proxies", env("CONVO_TRUSTED_PROXIES", ""), "addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For is believed, comma-separated (CONVO_TRUSTED_PROXIES)")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", envDuration("CONVO_READ_TIMEOUT", defaultReadTimeout), "longest time to read one request, body included (CONVO_READ_TIMEOUT)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", envDuration("CONVO_IDLE_TIMEOUT", defaultIdleTimeout), "how long a kept-alive connection may stay idle (CONVO_IDLE_TIMEOUT)")
	fs.IntVar(&cfg.MaxConnections, "max-connections", envInt("CONVO_MAX_CONNECTIONS", defaultMaxConnections), "connections open at once, WebSocket streams included; more are answered 503 (CONVO_MAX_CONNECTIONS)")
	fs.IntVar(&cfg.MaxStreamsPerCustomer, "max-streams-per-customer", envInt("CONVO_MAX_STREAMS_PER_CUSTOMER", service.DefaultMaxStreamsPerCustomer), "realtime streams a customer may have open in this process; more are refused 429 (CONVO_MAX_STREAMS_PER_CUSTOMER)")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", env("CONVO_METRICS_LISTEN", ""), "serve /metrics and the health routes on this address instead of --listen (CONVO_METRICS_LISTEN)")
	fs.StringVar(&cfg.TimeFormat, "time-format", env("CONVO_TIME_FORMAT", string(convo.TimeSeed)), "timestamps in answers, webhooks, stream events and page tokens: seed (2022-06-23 05:05:40.950834) or rfc3339 (2022-06-23T05:05:40.950834Z, null for not yet); both are read (CONVO_TIME_FORMAT)")
	fs.StringVar(&cfg.SQLiteSynchronous, "sqlite-synchronous", env("CONVO_SQLITE_SYNCHRONOUS", "FULL"), "SQLite synchronous mode: FULL survives power loss, NORMAL only process crashes (CONVO_SQLITE_SYNCHRONOUS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.WebhookAllowPrivate = env("CONVO_WEBHOOK_ALLOW_PRIVATE", "") == "true"
	cfg.LineAPIURL = env("CONVO_LINE_API_URL", "")
	cfg.LineVideoPreviewURL = env("CONVO_LINE_VIDEO_PREVIEW_URL", "")
	cfg.WhatsAppAPIURL = env("CONVO_WHATSAPP_API_URL", "")
	cfg.WhatsAppAPIVersion = env("CONVO_WHATSAPP_API_VERSION", "")
	cfg.TwilioAPIURL = env("CONVO_TWILIO_API_URL", "")
	cfg.DebugListen = env("CONVO_DEBUG_LISTEN", "")
	if err := cfg.readMediaEnv(); err != nil {
		return err
	}
	logger, logs := newLogger(stderr)
	defer logs.Flush()
	m := NewMain(cfg, stdout, logger)
	if err := m.Open(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	m.logger.Info("shutting down")
	return m.Close()
}

func runBootstrap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	database := fs.String("database", env("CONVO_DATABASE", "sqlite:convo.db"), "sqlite:PATH or postgres://... (CONVO_DATABASE)")
	in := service.BootstrapInput{}
	fs.StringVar(&in.CustomerName, "customer", "", "name of the new customer (required)")
	fs.StringVar(&in.Username, "username", "", "username of its admin agent (required)")
	fs.StringVar(&in.Password, "password", "", "password of its admin agent (required, 8 to 72 bytes)")
	fs.BoolVar(&in.SuperAdmin, "super-admin", false, "also make the agent a project super-admin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if in.CustomerName == "" || in.Username == "" || in.Password == "" {
		return errors.New("bootstrap needs --customer, --username and --password")
	}
	store, err := sqlstore.Open(ctx, *database, sqlstore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	svc := service.New(store, convo.SystemClock{}, service.Config{})
	if err := svc.Init(ctx); err != nil {
		return err
	}
	res, err := svc.Bootstrap(ctx, in)
	if convo.ErrorReason(err) == convo.ReasonUsernameTaken {
		return fmt.Errorf("username %q is already taken", in.Username)
	} else if err != nil {
		if msg := convo.ErrorMessage(err); convo.ErrorStatus(err) != convo.EInternal {
			return errors.New(msg)
		}
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

// Main is a running convo server; end-to-end tests start it on port 0.
type Main struct {
	Config Config
	// Clock is the time source; tests may replace it before Open.
	Clock convo.Clock

	stdout   io.Writer
	logger   *slog.Logger
	store    *sqlstore.DB
	svc      *service.Service
	listener net.Listener
	server   *http.Server
	debug    *http.Server
	served   chan error
	stopWork context.CancelFunc
	workers  sync.WaitGroup

	metrics *metrics.Metrics
	// ops serves the operations routes when they have a listener of their own.
	ops       *http.Server
	opsLn     net.Listener
	opsServed chan error
}

// NewMain returns an unopened server.
func NewMain(cfg Config, stdout io.Writer, logger *slog.Logger) *Main {
	return &Main{Config: cfg, Clock: convo.SystemClock{}, stdout: stdout, logger: logger}
}

// Open migrates the database, creates the first customer on an empty
// database, and starts serving.
func (m *Main) Open(ctx context.Context) error {
	proxies, err := httpapi.ParseTrustedProxies(m.Config.TrustedProxies)
	if err != nil {
		return fmt.Errorf("trusted proxies: %w", err)
	}
	times, err := convo.ParseTimeFormat(m.Config.TimeFormat)
	if err != nil {
		return fmt.Errorf("--time-format (CONVO_TIME_FORMAT): %w", err)
	}
	if v := m.Config.WhatsAppAPIVersion; v != "" && !whatsapp.ValidAPIVersion(v) {
		return fmt.Errorf("CONVO_WHATSAPP_API_VERSION: %q is not a Graph API version such as %s", v, whatsapp.DefaultAPIVersion)
	}
	store, err := sqlstore.Open(ctx, m.Config.Database, sqlstore.Options{SQLiteSynchronous: m.Config.SQLiteSynchronous})
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	m.store = store
	if m.listener, err = net.Listen("tcp", m.Config.Listen); err != nil {
		store.Close()
		return err
	}
	if m.Config.PublicURL == "" {
		m.Config.PublicURL = "http://" + m.listener.Addr().String()
	}
	m.metrics = metrics.New(metrics.Sources{Backlog: store.Backlog, Pools: store.Pools, Clock: m.Clock})
	channels := m.Config.channels()
	templates := map[string]convo.TemplateLister{}
	for name, ch := range channels {
		if tl, ok := ch.(convo.TemplateLister); ok {
			templates[name] = tl
		}
	}
	for name, ch := range channels {
		channels[name] = m.metrics.Channel(name, ch)
	}
	blobs, err := m.Config.Media.blobs(ctx, store)
	if err != nil {
		store.Close()
		return err
	}
	svc := service.New(store, m.Clock, service.Config{
		PublicURL: m.Config.PublicURL, PasswordCost: m.Config.PasswordCost, Logger: m.logger,
		Channels: channels, Templates: templates, SendWait: m.Config.SendWait, RetryDelays: m.Config.RetryDelays,
		WebhookAllowPrivate: m.Config.WebhookAllowPrivate, EventRetention: m.Config.EventRetention, AuditRetention: m.Config.AuditRetention,
		WebhookRetryBase: m.Config.WebhookRetryBase, EventPoll: m.Config.EventPoll,
		WebhookAttempted: m.metrics.WebhookAttempt, MaxStreamsPerCustomer: m.Config.MaxStreamsPerCustomer,
		TimeFormat: times,
		MediaBlobs: blobs, MediaMaxBytes: m.Config.Media.MaxBytes, MediaRetention: m.Config.Media.Retention, MediaURLTTL: m.Config.Media.URLTTL,
	})
	m.svc = svc
	if err := svc.Init(ctx); err != nil {
		m.closeQuietly()
		return err
	}
	password, first, err := svc.FirstStart(ctx)
	if err != nil {
		m.closeQuietly()
		return err
	}
	if first != nil {
		// Shown once, on standard output and never in the log.
		fmt.Fprintf(m.stdout, "convo: first start: created customer \"default\" (%s)\n"+
			"  admin agent:  username admin, password %s\n"+
			"  access key:   %s\n"+
			"  try: curl '%s/v1.0/me?accesskey=%s'\n",
			first.CustomerID, password, first.AccessKey, m.Config.PublicURL, first.AccessKey)
	}
	handler := httpapi.New(svc, m.logger)
	handler.TrustProxies(proxies)
	handler.WriteTimes(times)
	handler.Observe(m.metrics)
	ops := handler.EnableOps(httpapi.Ops{Metrics: m.metrics.Handler(), Apart: m.Config.MetricsListen != ""})
	m.server = m.httpServer(handler)
	m.server.RegisterOnShutdown(handler.CloseStreams)
	m.listener = httpapi.LimitConnections(m.listener, cmp.Or(m.Config.MaxConnections, defaultMaxConnections))
	if m.Config.DebugListen != "" {
		if err := m.serveDebug(); err != nil {
			m.closeQuietly()
			return fmt.Errorf("debug listener: %w", err)
		}
	}
	if m.Config.MetricsListen != "" {
		if err := m.serveOps(ops); err != nil {
			m.closeQuietly()
			return fmt.Errorf("metrics listener: %w", err)
		}
	}
	m.served = make(chan error, 1)
	go func() { m.served <- m.server.Serve(m.listener) }()
	workCtx, stopWork := context.WithCancel(context.Background())
	m.stopWork = stopWork
	m.workers.Add(2)
	go func() { defer m.workers.Done(); svc.RunJobs(workCtx) }()
	go func() { defer m.workers.Done(); svc.RunEvents(workCtx) }()
	m.logger.Info("convo serving", "version", convo.Version, "listen", m.listener.Addr().String(),
		"public_url", m.Config.PublicURL, "database", redactDSN(m.Config.Database), "time_format", string(times))
	return nil
}

// URL is the base URL the server answers on.
func (m *Main) URL() string { return "http://" + m.listener.Addr().String() }

// Close stops accepting requests, lets in-flight ones finish, then closes
// the database.
func (m *Main) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if m.debug != nil {
		m.debug.Close()
	}
	if m.server != nil {
		err = m.server.Shutdown(ctx)
		if serveErr := <-m.served; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
			err = errors.Join(err, serveErr)
		}
	}
	err = errors.Join(err, m.closeOps(ctx))
	if m.stopWork != nil {
		// Work in flight finishes; the rest stays in the database for the next start.
		m.stopWork()
		m.workers.Wait()
	}
	if m.store != nil {
		err = errors.Join(err, m.store.Close())
	}
	return err
}

func (m *Main) closeQuietly() {
	if m.listener != nil {
		m.listener.Close()
	}
	m.store.Close()
}

// Defaults of the connection limits: a request (a 1 MiB body at about
// 35 KB/s) has 30 s to arrive, an idle kept-alive connection 2 minutes,
// and 10,000 connections may be open at once.
const (
	defaultReadTimeout    = 30 * time.Second
	defaultIdleTimeout    = 2 * time.Minute
	defaultMaxConnections = 10000
)

// httpServer serves h with the configured limits: a client that trickles
// its headers or body, or idles, is cut off rather than holding a
// connection forever. (A WebSocket, once upgraded, is no longer bound by them.)
func (m *Main) httpServer(h http.Handler) *http.Server {
	read := cmp.Or(m.Config.ReadTimeout, defaultReadTimeout)
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(10*time.Second, read),
		ReadTimeout:       read,
		IdleTimeout:       cmp.Or(m.Config.IdleTimeout, defaultIdleTimeout),
		ErrorLog:          slog.NewLogLogger(m.logger.Handler(), slog.LevelWarn),
	}
}

// redactDSN hides a password in a database URL before it is logged.
func redactDSN(dsn string) string {
	if i, j := strings.Index(dsn, "://"), strings.LastIndex(dsn, "@"); i >= 0 && j > i {
		creds := dsn[i+3 : j]
		if user, _, ok := strings.Cut(creds, ":"); ok {
			return dsn[:i+3] + user + ":***" + dsn[j:]
		}
	}
	return dsn
}
