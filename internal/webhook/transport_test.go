package webhook

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
)

// BenchmarkWebhookTransport posts small webhooks from 64 goroutines to a
// local receiver, through net/http's Transport and through the
// deliveries' own: the CPU a delivery costs beside the receiver's.
func BenchmarkWebhookTransport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	std := http.DefaultTransport.(*http.Transport).Clone()
	std.DialContext, std.Proxy = dialer.DialContext, nil
	std.MaxIdleConns, std.MaxIdleConnsPerHost = maxActive, maxActive
	payload := bytes.Repeat([]byte("x"), 700)
	for _, tc := range []struct {
		name      string
		transport http.RoundTripper
	}{
		{"net_http", std},
		{"kept", newTransport(dialer.DialContext, nil, maxActive)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			client := &http.Client{Transport: tc.transport}
			b.SetParallelism(32)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/webhook", bytes.NewReader(payload))
					req.Header.Set("Content-Type", "application/json")
					res, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
					res.Body.Close()
					cancel()
				}
			})
		})
	}
}

// countConns makes srv count the connections it accepts.
func countConns(srv *httptest.Server) *atomic.Int32 {
	var n atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}

// postWebhook posts body to url through client and returns the answer's status
// and body, read in full.
func postWebhook(t *testing.T, client *http.Client, url, body string) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	return res.StatusCode, string(got), err
}

// maxActive is the connections the outbox keeps.
const maxActive = 256

func testTransport() *transport {
	return newTransport((&net.Dialer{Timeout: 5 * time.Second}).DialContext, nil, maxActive)
}

func TestWebhookTransportKeepsConnection(t *testing.T) {
	var got []string
	var mu sync.Mutex
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
		mu.Unlock()
		w.Write([]byte("thanks"))
	}))
	conns := countConns(srv)
	srv.Start()
	defer srv.Close()
	client := &http.Client{Transport: testTransport()}
	for i := range 20 {
		status, body, err := postWebhook(t, client, srv.URL+"/webhook", fmt.Sprint("event ", i))
		if err != nil || status != 200 || body != "thanks" {
			t.Fatalf("delivery %d: %d %q %v", i, status, body, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 deliveries one after another opened %d connections, want 1", n)
	}
	if len(got) != 20 || got[0] != "POST /webhook event 0" || got[19] != "POST /webhook event 19" {
		t.Errorf("the receiver got %q", got)
	}
}

// rawReceiver serves each connection with answer, called once per request
// read; it returns whether to keep the connection open for another.
func rawReceiver(t *testing.T, answer func(n int, conn net.Conn) bool) (url string, requests *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	requests = new(atomic.Int32)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					if !answer(int(requests.Add(1)), conn) {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/webhook", requests
}

func TestWebhookTransportRepostsOnConnectionClosedWhileIdle(t *testing.T) {
	// Answers as if keeping the connection, then closes it.
	url, requests := rawReceiver(t, func(_ int, conn net.Conn) bool {
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return false
	})
	client := &http.Client{Transport: testTransport()}
	for i := range 5 {
		if status, _, err := postWebhook(t, client, url, "event"); err != nil || status != 200 {
			t.Fatalf("delivery %d: %d %v", i, status, err)
		}
		time.Sleep(10 * time.Millisecond) // let the close arrive
	}
	if n := requests.Load(); n != 5 {
		t.Errorf("the receiver read %d requests for 5 deliveries", n)
	}
}

func TestWebhookTransportRepostsOnANewConnection(t *testing.T) {
	// Two deliveries at once leave two kept connections, both of which the
	// receiver closes (as when it restarts).
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(2)
	url, requests := rawReceiver(t, func(n int, conn net.Conn) bool {
		if n <= 2 {
			arrived.Done()
			<-release
		}
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return false
	})
	transport := testTransport()
	client := &http.Client{Transport: transport}
	var both sync.WaitGroup
	for range 2 {
		both.Add(1)
		go func() {
			defer both.Done()
			if status, _, err := postWebhook(t, client, url, "event"); err != nil || status != 200 {
				t.Errorf("concurrent delivery: %d %v", status, err)
			}
		}()
	}
	arrived.Wait()
	close(release)
	both.Wait()
	time.Sleep(10 * time.Millisecond) // let the closes arrive
	if status, _, err := postWebhook(t, client, url, "event"); err != nil || status != 200 {
		t.Fatalf("delivery after both kept connections were closed: %d %v", status, err)
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("the receiver read %d requests for 3 deliveries", n)
	}
}

func TestWebhookTransportDoesNotRepostAfterAnAnswerBegan(t *testing.T) {
	url, requests := rawReceiver(t, func(n int, conn net.Conn) bool {
		if n == 1 {
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return true
		}
		io.WriteString(conn, "HTTP/1.1 200 O") // cut short
		return false
	})
	client := &http.Client{Transport: testTransport()}
	if status, _, err := postWebhook(t, client, url, "first"); err != nil || status != 200 {
		t.Fatalf("first delivery: %d %v", status, err)
	}
	if _, _, err := postWebhook(t, client, url, "second"); err == nil {
		t.Error("a cut answer was taken as delivered")
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("the receiver read %d requests for 2 deliveries, want 2: an answer that began is not posted again", n)
	}
}

func TestWebhookTransportAnswersThatEndTheConnection(t *testing.T) {
	url, requests := rawReceiver(t, func(n int, conn net.Conn) bool {
		switch n {
		case 1: // told
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
		case 2: // a body that lasts until the connection ends
			io.WriteString(conn, "HTTP/1.1 202 Accepted\r\n\r\nuntil the end")
		default: // an interim answer first
			io.WriteString(conn, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
			return true
		}
		return false
	})
	client := &http.Client{Transport: testTransport()}
	for i, want := range []struct {
		status int
		body   string
	}{{200, "ok"}, {202, "until the end"}, {204, ""}, {204, ""}} {
		status, body, err := postWebhook(t, client, url, "event")
		if err != nil || status != want.status || body != want.body {
			t.Errorf("delivery %d: %d %q %v, want %d %q", i, status, body, err, want.status, want.body)
		}
	}
	if n := requests.Load(); n != 4 {
		t.Errorf("the receiver read %d requests for 4 deliveries", n)
	}
}

func TestWebhookTransportChunkedAndLargeAnswers(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/large" {
			w.Write(bytes.Repeat([]byte("x"), 1<<20))
			return
		}
		w.Write([]byte("chunk one "))
		w.(http.Flusher).Flush() // no length: the answer is chunked
		w.Write([]byte("chunk two"))
	}))
	conns := countConns(srv)
	srv.Start()
	defer srv.Close()
	transport := testTransport()
	client := &http.Client{Transport: transport}
	for range 2 {
		if status, body, err := postWebhook(t, client, srv.URL+"/chunked", "event"); err != nil || status != 200 || body != "chunk one chunk two" {
			t.Fatalf("chunked answer: %d %q %v", status, body, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("two chunked answers took %d connections, want 1", n)
	}
	// Delivering reads at most 64 KiB of an answer; the rest ends the connection.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/large", strings.NewReader("event"))
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if status, body, err := postWebhook(t, client, srv.URL+"/chunked", "event"); err != nil || status != 200 || body != "chunk one chunk two" {
		t.Fatalf("after a large answer: %d %q %v", status, body, err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("after an answer left unread the next delivery used %d connections in all, want 2", n)
	}
	// A connection idle for longer than idleTimeout is not used again.
	transport.idleTimeout = 0
	postWebhook(t, client, srv.URL+"/chunked", "event")
	if n := conns.Load(); n != 3 {
		t.Errorf("after the idle timeout the next delivery used %d connections in all, want 3", n)
	}
}

func TestWebhookTransportTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(r.Proto))
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	dial := (&net.Dialer{}).DialContext
	trusting := &http.Client{Transport: newTransport(dial, &tls.Config{RootCAs: roots}, 4)}
	for range 2 {
		if status, body, err := postWebhook(t, trusting, srv.URL+"/webhook", "event"); err != nil || status != 200 || body != "HTTP/1.1" {
			t.Fatalf("over TLS: %d %q %v", status, body, err)
		}
	}
	// The system's roots do not know the test server's certificate.
	system := &http.Client{Transport: newTransport(dial, nil, 4)}
	var unknown x509.UnknownAuthorityError
	if _, _, err := postWebhook(t, system, srv.URL+"/webhook", "event"); !errors.As(err, &unknown) {
		t.Errorf("a certificate signed by an unknown authority gave %v", err)
	}
}

func TestWebhookTransportDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	client := &http.Client{Transport: testTransport()}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("event"))
	if _, err := client.Do(req); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a receiver that does not answer gave %v, want the deadline exceeded", err)
	}
}

func TestWebhookTransportRefusesWhatItCannotDeliver(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a refused target got a request")
	}))
	defer srv.Close()
	// Loopback targets are refused unless allowed, on the address dialled.
	if _, _, err := postWebhook(t, NewClient(false, maxActive, convo.SystemClock{}).http, srv.URL+"/webhook", "event"); !errors.Is(err, ErrPrivateTarget) {
		t.Errorf("a loopback target gave %v, want it refused", err)
	}
	if _, _, err := postWebhook(t, NewClient(false, maxActive, convo.SystemClock{}).http, "ftp://example.com/webhook", "event"); err == nil || !strings.Contains(err.Error(), "unsupported URL scheme") {
		t.Errorf("an ftp target gave %v", err)
	}
}

func TestWebhookTransportClosesWhatItNeedNotKeep(t *testing.T) {
	receiver := func() (*httptest.Server, chan struct{}) {
		closed := make(chan struct{}, 8)
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
		srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
			if state == http.StateClosed {
				closed <- struct{}{}
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		return srv, closed
	}
	closedSoon := func(closed chan struct{}) bool {
		select {
		case <-closed:
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}
	a, aClosed := receiver()
	b, bClosed := receiver()
	c, _ := receiver()

	// Kept up to maxIdle: the second receiver's connection is closed at once.
	transport := newTransport((&net.Dialer{}).DialContext, nil, 1)
	client := &http.Client{Transport: transport}
	postWebhook(t, client, a.URL, "event")
	postWebhook(t, client, b.URL, "event")
	if !closedSoon(bClosed) {
		t.Error("a connection beyond maxIdle was kept")
	}
	select {
	case <-aClosed:
		t.Error("the one connection within maxIdle was closed")
	default:
	}
	// One left idle past idleTimeout is closed by a later delivery elsewhere.
	transport.idleTimeout = 50 * time.Millisecond
	time.Sleep(60 * time.Millisecond)
	postWebhook(t, client, c.URL, "event")
	if !closedSoon(aClosed) {
		t.Error("a connection idle past idleTimeout was kept while deliveries went elsewhere")
	}
}
