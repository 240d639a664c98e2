package bench

import (
	"bufio"
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
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/line"
)

// The http_limit baseline is what the server's HTTP stack costs a webhook
// when nothing is stored: the same binary, as a process of its own beside
// the server, serving with the server's net/http settings, request id and
// one JSON log line a request, reading the body with the hooks' 1 MiB limit
// and checking its X-Line-Signature. Only the service and the database are
// left out, so ingest/http_limit is what storing a message costs.

// baselineCommand is the hidden first argument of `convo bench` that serves
// the baseline instead: `convo bench signature-baseline --listen ADDR`, with
// the signing secret on standard input so that it shows in no process list.
const baselineCommand = "signature-baseline"

// baselinePath is the baseline's one route.
const baselinePath = "/v1.0/bench/signature"

// Limits of the server's own HTTP stack (see cmd/convo), which the
// baseline serves with.
const (
	baselineMaxBody     = 1 << 20
	baselineReadTimeout = 30 * time.Second
	baselineIdleTimeout = 2 * time.Minute
)

// serveBaseline serves the baseline until ctx ends (SIGTERM).
func serveBaseline(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(baselineCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if secret = strings.TrimSpace(secret); secret == "" {
		return fmt.Errorf("bench: %s: no secret on standard input: %v", baselineCommand, err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	out := &delayedOutput{out: stderr}
	defer out.flush()
	logger := slog.New(slog.NewJSONHandler(out, nil))
	srv := &http.Server{
		Handler:           baselineHandler(secret, logger),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       baselineReadTimeout,
		IdleTimeout:       baselineIdleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// baselineHandler answers POST baselinePath 200 when its body is signed
// with secret, as the server's request handling does up to the service.
func baselineHandler(secret string, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+baselinePath, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, baselineMaxBody))
		if err != nil {
			writeBaselineError(w, r, http.StatusRequestEntityTooLarge, convo.Invalid("INVALID_BODY", "the request body could not be read"))
			return
		}
		if !line.ValidSignature(secret, body, r.Header.Get("X-Line-Signature")) {
			writeBaselineError(w, r, http.StatusUnauthorized, convo.ErrBadSignature)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := benchHex(12)
		w.Header().Set("X-Request-Id", id)
		rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		mux.ServeHTTP(rw, r)
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", rw.status),
			slog.Int("bytes", rw.bytes), slog.Duration("duration", time.Since(start)), slog.String("request_id", id))
	})
}

func writeBaselineError(w http.ResponseWriter, r *http.Request, code int, err error) {
	var e *convo.Error
	errors.As(err, &e)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]map[string]string{"error": {
		"status": e.Status, "reason": e.Reason, "message": e.Message, "request_id": w.Header().Get("X-Request-Id")}})
}

type statusWriter struct {
	http.ResponseWriter
	status, bytes int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// delayedOutput writes log lines together, at most 100 ms after the first,
// as the server's log does.
type delayedOutput struct {
	out       io.Writer
	mu        sync.Mutex
	buf       []byte
	scheduled bool
}

func (o *delayedOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = append(o.buf, p...)
	if len(o.buf) >= 64<<10 {
		return len(p), o.flushLocked()
	}
	if !o.scheduled {
		o.scheduled = true
		time.AfterFunc(100*time.Millisecond, o.flush)
	}
	return len(p), nil
}

func (o *delayedOutput) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.scheduled = false
	o.flushLocked()
}

func (o *delayedOutput) flushLocked() error {
	if len(o.buf) == 0 {
		return nil
	}
	_, err := o.out.Write(o.buf)
	o.buf = o.buf[:0]
	return err
}

// startBaseline starts the baseline as a child process on a free loopback
// port and waits until it answers.
func (b *bench) startBaseline(ctx context.Context) error {
	b.progress.set(func() string { return "starting the signature baseline" })
	addr, err := benchFreeAddr()
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(b.dir, "baseline.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(b.exe, "bench", baselineCommand, "--listen", addr)
	cmd.Stdin = strings.NewReader(b.baselineSecret + "\n")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	c := &benchChild{cmd: cmd, url: "http://" + addr, exited: make(chan struct{}), started: time.Now()}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("bench: start the signature baseline: %w", err)
	}
	go func() { c.err = cmd.Wait(); close(c.exited) }()
	b.baseline = c
	poll := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for deadline := c.started.Add(time.Minute); ; {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/", nil)
		if res, err := poll.Do(req); err == nil {
			res.Body.Close()
			return nil
		}
		select {
		case <-c.exited:
			b.baseline = nil
			return fmt.Errorf("bench: the signature baseline exited: %v", c.err)
		case <-ctx.Done():
			b.stopBaseline()
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.stopBaseline()
			return errors.New("bench: the signature baseline did not answer within a minute")
		}
	}
}

// stopBaseline stops the baseline with SIGTERM.
func (b *bench) stopBaseline() {
	c := b.baseline
	if c == nil {
		return
	}
	b.baseline = nil
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(time.Minute):
		c.cmd.Process.Kill()
		<-c.exited
	}
}
