package webhook

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"
)

// transport carries webhook deliveries over HTTP/1.1 connections it
// keeps per receiver, writing each request and reading its answer on the
// delivering goroutine. net/http's Transport hands every request to two
// goroutines of its connection and back; on two cores those hand-offs cost
// about as much CPU as the rest of a delivery. Requests are written and
// answers parsed by net/http itself (Request.Write, ReadResponse); only the
// connections are managed here. A request's context bounds it through its
// deadline.
type transport struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// tlsConfig is cloned for each TLS connection (nil: system roots).
	tlsConfig *tls.Config
	// maxIdle bounds the idle connections kept, idleTimeout how long one
	// is kept unused.
	maxIdle     int
	idleTimeout time.Duration

	mu        sync.Mutex
	idle      map[string][]*keptConn // by receiver, newest last
	idleCount int
	lastSweep time.Time
}

// keptConn is one connection to a receiver.
type keptConn struct {
	net.Conn
	key       string
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	deadline  time.Time // the connection's deadline
}

func newTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error), tlsConfig *tls.Config, maxIdle int) *transport {
	return &transport{dial: dial, tlsConfig: tlsConfig, maxIdle: maxIdle, idleTimeout: 90 * time.Second, idle: map[string][]*keptConn{}}
}

// RoundTrip writes req on a kept connection to its receiver, or a new one.
// A kept connection the receiver closed while it was idle fails before any
// answer arrives; the request is then written once more on a new connection
// (see unwritten).
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	key, addr, serverName, err := receiverAddress(req)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	ctx := req.Context()
	for retried := false; ; retried = true {
		var c *keptConn
		if !retried { // the other kept ones may have been closed as well
			c = t.take(key)
		}
		reused := c != nil
		if !reused {
			if c, err = t.connect(ctx, key, addr, serverName); err != nil {
				closeBody(req)
				return nil, err
			}
		}
		res, err := c.exchange(ctx, req)
		if err == nil {
			res.Body = &answerBody{ReadCloser: res.Body, conn: c, transport: t, reuse: !res.Close}
			return res, nil
		}
		c.Close()
		var u unwritten
		if !reused || retried || !errors.As(err, &u) || ctx.Err() != nil {
			closeBody(req)
			return nil, err
		}
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, err
			}
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, err
			}
			req = req.Clone(ctx)
			req.Body = body
		}
	}
}

// receiverAddress returns the pool key, dial address and TLS server name
// (empty for plain HTTP) of req's receiver.
func receiverAddress(req *http.Request) (key, addr, serverName string, err error) {
	u := req.URL
	if u == nil || u.Host == "" {
		return "", "", "", errors.New("webhook: the target URL has no host")
	}
	port := u.Port()
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
		serverName = u.Hostname()
	default:
		return "", "", "", fmt.Errorf("webhook: unsupported URL scheme %q", u.Scheme)
	}
	addr = net.JoinHostPort(u.Hostname(), port)
	return u.Scheme + "://" + addr, addr, serverName, nil
}

// take returns the newest idle connection to key that is not too old, or nil.
func (t *transport) take(key string) *keptConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	conns := t.idle[key]
	for len(conns) > 0 {
		c := conns[len(conns)-1]
		conns = conns[:len(conns)-1]
		t.idleCount--
		if time.Since(c.idleSince) < t.idleTimeout {
			t.idle[key] = conns
			return c
		}
		c.Close()
	}
	delete(t.idle, key)
	return nil
}

// put keeps c for the next request to its receiver, or closes it when
// maxIdle are kept already; now and then it closes those idle for longer
// than idleTimeout, which a receiver no longer posted to would keep open.
func (t *transport) put(c *keptConn) {
	now := time.Now()
	c.idleSince = now
	var closing []*keptConn
	t.mu.Lock()
	if t.idleCount < t.maxIdle {
		t.idle[c.key] = append(t.idle[c.key], c)
		t.idleCount++
	} else {
		closing = append(closing, c)
	}
	if now.Sub(t.lastSweep) >= t.idleTimeout {
		t.lastSweep = now
		for key, conns := range t.idle {
			stale := 0 // oldest first
			for stale < len(conns) && now.Sub(conns[stale].idleSince) >= t.idleTimeout {
				stale++
			}
			closing = append(closing, conns[:stale]...)
			t.idleCount -= stale
			if stale == len(conns) {
				delete(t.idle, key)
			} else {
				t.idle[key] = conns[stale:]
			}
		}
	}
	t.mu.Unlock()
	for _, c := range closing {
		c.Close()
	}
}

// CloseIdleConnections closes every kept connection.
func (t *transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle, t.idleCount = map[string][]*keptConn{}, 0
	t.mu.Unlock()
	for _, conns := range idle {
		for _, c := range conns {
			c.Close()
		}
	}
}

// connect dials addr, with a TLS handshake when serverName is set.
func (t *transport) connect(ctx context.Context, key, addr, serverName string) (*keptConn, error) {
	conn, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if serverName != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if t.tlsConfig != nil {
			cfg = t.tlsConfig.Clone()
		}
		cfg.ServerName = serverName
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
	}
	return &keptConn{Conn: conn, key: key, br: bufio.NewReaderSize(conn, 4<<10), bw: bufio.NewWriterSize(conn, 4<<10)}, nil
}

// exchange writes req and reads the head of its answer, within the
// context's deadline.
func (c *keptConn) exchange(ctx context.Context, req *http.Request) (*http.Response, error) {
	if err := c.setDeadline(ctx); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	err := req.Write(c.bw)
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, err
		}
		return nil, unwritten{err}
	}
	// The connection ending before the first byte of an answer is told
	// apart here, as ReadResponse reports it like a cut answer.
	if _, err := c.br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, unwritten{err}
		}
		return nil, err
	}
	for {
		res, err := http.ReadResponse(c.br, req)
		if err != nil {
			return nil, err
		}
		// An interim answer (100 Continue, 103 Early Hints) precedes the real one.
		if res.StatusCode >= 100 && res.StatusCode < 200 && res.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return res, nil
	}
}

// unwritten is the error of an exchange whose request could not be written,
// or whose connection ended before any answer: what a kept connection
// gives when the receiver closed it while it was idle. (A receiver that
// read the request and closed without answering gets it again; deliveries
// are at least once, and webhook-id lets it drop the repeat.)
type unwritten struct{ err error }

func (u unwritten) Error() string { return u.err.Error() }
func (u unwritten) Unwrap() error { return u.err }

// setDeadline bounds the connection by the context's deadline. A deadline
// up to deadlineSlack earlier is kept as it is: moving it updates a runtime
// timer, a quarter of an exchange's CPU when done on every request.
func (c *keptConn) setDeadline(ctx context.Context) error {
	deadline, _ := ctx.Deadline()
	if gap := deadline.Sub(c.deadline); c.deadline.Equal(deadline) || !deadline.IsZero() && !c.deadline.IsZero() && gap >= 0 && gap < deadlineSlack {
		return nil
	}
	c.deadline = deadline
	return c.SetDeadline(deadline)
}

// deadlineSlack is how much earlier than asked a kept deadline may end.
const deadlineSlack = time.Second

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// answerBody returns its connection to the pool once read to the end, and
// closes it when closed before that.
type answerBody struct {
	io.ReadCloser
	conn      *keptConn
	transport *transport
	reuse     bool
	done      bool
	eof       bool
}

func (b *answerBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *answerBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	if !b.reuse || !b.eof {
		// Closing a body not read to its end would read the rest.
		b.conn.Close()
		b.ReadCloser.Close()
		return nil
	}
	if err := b.ReadCloser.Close(); err != nil {
		b.conn.Close()
		return err
	}
	b.transport.put(b.conn)
	return nil
}
