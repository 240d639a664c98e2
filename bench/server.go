package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// benchChild is a child process: a running `convo serve`, or the signature baseline.
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
	return b.apiAs(ctx, b.key, method, path, body, out)
}

// apiAs is api with another bearer token: an agent's login token.
func (b *bench) apiAs(ctx context.Context, token, method, path string, body, out any) error {
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
	req.Header.Set("Authorization", "Bearer "+token)
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
