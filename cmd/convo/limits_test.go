package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// dialRaw opens a plain TCP connection to the server.
func dialRaw(t *testing.T, ts *testServer) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(ts.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads from c until the server closes it, failing t when it
// stays open for longer than within (what it answered is returned).
func closedWithin(t *testing.T, c net.Conn, within time.Duration, what string) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	got, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: the connection was still open after %v", what, within)
	}
	return string(got)
}

// trickle writes one byte of s to c every interval until s ends or a write fails.
func trickle(c net.Conn, s string, interval time.Duration) {
	for i := range len(s) {
		if _, err := c.Write([]byte{s[i]}); err != nil {
			return
		}
		time.Sleep(interval)
	}
}

func TestSlowClientsAreCut(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withConfig(func(c *Config) {
			c.ReadTimeout, c.IdleTimeout = 500*time.Millisecond, 500*time.Millisecond
		}))
		key := ts.as(ts.AdminKey)
		account := key.newSMSAccount()

		t.Run("a trickled body", func(t *testing.T) {
			c := dialRaw(t, ts)
			// A hook announcing 1 MB, then a byte every 100 ms: 28 hours' worth.
			io.WriteString(c, "POST /v1.0/conversation/accounts/"+account+" HTTP/1.1\r\nHost: convo\r\n"+
				"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1048576\r\n\r\n")
			go trickle(c, strings.Repeat("x", 1<<20), 100*time.Millisecond)
			closedWithin(t, c, 5*time.Second, "a body trickled a byte each 100 ms")
		})

		t.Run("trickled headers", func(t *testing.T) {
			c := dialRaw(t, ts)
			go trickle(c, "GET /v1.0/me HTTP/1.1\r\nHost: convo\r\nX-Slow: "+strings.Repeat("y", 10000), 100*time.Millisecond)
			closedWithin(t, c, 5*time.Second, "headers trickled a byte each 100 ms")
		})

		t.Run("an idle kept-alive connection", func(t *testing.T) {
			c := dialRaw(t, ts)
			io.WriteString(c, "GET /v1.0/me HTTP/1.1\r\nHost: convo\r\n\r\n")
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			if res.StatusCode != http.StatusUnauthorized || res.Close {
				t.Fatalf("status %d, close %t; want 401 on a kept connection", res.StatusCode, res.Close)
			}
			closedWithin(t, c, 5*time.Second, "an idle connection")
		})

		t.Run("a stream outlives the read timeout", func(t *testing.T) {
			s := dialStream(t, ts.URL(), "accesskey="+ts.AdminKey, nil)
			time.Sleep(1500 * time.Millisecond)
			conv := str(t, key.newConversation(account), "id")
			s.until(t, func(e streamEvent) bool { return e.Type == convo.EventConversationCreated && e.Data["id"] == conv })
		})
	})
}

func TestConnectionLimit(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withConfig(func(c *Config) { c.MaxConnections = 3 }))
		var held []net.Conn
		for range 3 {
			held = append(held, dialRaw(t, ts))
		}
		// The server has taken the three; the fourth is answered at once.
		time.Sleep(100 * time.Millisecond)
		c := dialRaw(t, ts)
		answer := closedWithin(t, c, 5*time.Second, "a connection beyond the limit")
		res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(answer)), nil)
		if err != nil {
			t.Fatalf("the refused connection's answer %q: %v", answer, err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" ||
			!strings.Contains(string(body), `"reason":"TOO_MANY_CONNECTIONS"`) || res.Header.Get("X-Request-Id") == "" {
			t.Fatalf("beyond the limit: %d %v %s; want 503 TOO_MANY_CONNECTIONS with Retry-After", res.StatusCode, res.Header, body)
		}
		// A closed connection gives its place back.
		held[0].Close()
		eventually(t, 5*time.Second, func() error {
			c, err := net.Dial("tcp", strings.TrimPrefix(ts.URL(), "http://"))
			if err != nil {
				return err
			}
			defer c.Close()
			io.WriteString(c, "GET /v1.0/me HTTP/1.1\r\nHost: convo\r\n\r\n")
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return err
			}
			if res.StatusCode != http.StatusUnauthorized {
				return errors.New("a new connection is answered " + res.Status)
			}
			return nil
		})
	})
}

func TestStreamsPerCustomerAreBounded(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withConfig(func(c *Config) { c.MaxStreamsPerCustomer = 3 }))
		key := ts.as(ts.AdminKey)
		_, agentToken := key.newAgent(convo.PermissionCustomerAgent)
		_, otherKey := ts.superAdmin(t).newCustomer()
		// Keys and logins of one customer share its places.
		first := dialStream(t, ts.URL(), "accesskey="+ts.AdminKey, nil)
		dialStream(t, ts.URL(), "token="+agentToken, nil)
		dialStream(t, ts.URL(), "accesskey="+ts.AdminKey, nil)
		for _, q := range []string{"accesskey=" + ts.AdminKey, "token=" + agentToken} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, res, err := websocket.Dial(ctx, wsURL(ts.URL(), q), nil)
			cancel()
			if err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
				t.Fatalf("a fourth stream: %v %v, want 429 with Retry-After", res, err)
			}
		}
		// Another customer is not held up by it.
		dialStream(t, ts.URL(), "accesskey="+otherKey, nil)
		// A closed stream gives its place back.
		first.close()
		eventually(t, 5*time.Second, func() error {
			if status := dialStreamStatus(t, ts.URL(), "accesskey="+ts.AdminKey, nil); status != 0 {
				return fmt.Errorf("a stream after one closed: status %d", status)
			}
			return nil
		})
	})
}
