// Package fakeprovider holds fake LINE, WhatsApp Cloud API and Twilio
// servers for tests. Each checks what convo sends the way the real API does
// (credentials, paths, body fields), answers in the real API's shape,
// records what it accepted, and can be switched to refuse, break or answer
// slowly. A request that breaks the real API's rules is recorded as a
// violation and fails the test when it ends.
package fakeprovider

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Mode is how a fake answers send requests.
type Mode int

const (
	// Accept accepts as the provider does.
	Accept Mode = iota
	// Refuse answers 400 with the provider's error body (a refusal).
	Refuse
	// Broken answers 500 (an outage).
	Broken
	// LoseAnswer accepts the message, then answers 500 as if the
	// answer were lost on the way back.
	LoseAnswer
)

// core is what the three fakes share.
type core struct {
	name string
	srv  *httptest.Server

	mu    sync.Mutex
	mode  Mode
	delay time.Duration
	// modes overrides mode per account (LINE token, phone_number_id, AccountSid).
	modes      map[string]Mode
	sendCalls  map[string]int
	violations []string
	// breakAt is a send call of an account answered 500 once (BreakCall).
	breakAt map[string]int
	media   mediaFiles
}

// start serves mux; when t ends the fake closes and every violation it
// recorded fails t (cleanups run on the test goroutine).
func (f *core) start(t testing.TB, name string, mux *http.ServeMux) {
	f.name = name
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.violate("unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.Close()
		f.Report(t)
	})
}

// Report fails t with every violation recorded so far.
func (f *core) Report(t testing.TB) {
	t.Helper()
	f.mu.Lock()
	v := f.violations
	f.violations = nil
	f.mu.Unlock()
	for _, s := range v {
		t.Errorf("fake %s: convo sent a request the real API refuses: %s", f.name, s)
	}
}

func (f *core) violate(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.violations = append(f.violations, fmt.Sprintf(format, args...))
}

// URL is the base URL to configure in convo.
func (f *core) URL() string { return f.srv.URL }

// SetMode switches how later sends are answered.
func (f *core) SetMode(m Mode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = m
}

// SetModeFor switches how later sends of one account are answered (key:
// the LINE channel token, the WhatsApp phone_number_id, the Twilio AccountSid).
func (f *core) SetModeFor(key string, m Mode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.modes == nil {
		f.modes = map[string]Mode{}
	}
	f.modes[key] = m
}

// BreakCall makes the n-th send request of an account from now on (key as
// for SetModeFor) answer 500, once, as an outage of a moment would.
func (f *core) BreakCall(key string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.breakAt == nil {
		f.breakAt = map[string]int{}
	}
	f.breakAt[key] = f.sendCalls[key] + n
}

// SetDelay makes later sends wait d before answering.
func (f *core) SetDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// Close takes the fake off the network: connections are refused.
func (f *core) Close() { f.srv.Close() }

// Calls is the number of send requests received for an account (key as
// for setModeFor), whatever the answer.
func (f *core) Calls(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sendCalls[key]
}

// beginSend counts a well-formed send request of an account, waits the
// configured delay and returns the mode to answer in.
func (f *core) beginSend(r *http.Request, key string) Mode {
	f.mu.Lock()
	if f.sendCalls == nil {
		f.sendCalls = map[string]int{}
	}
	f.sendCalls[key]++
	mode, delay := f.mode, f.delay
	if m, ok := f.modes[key]; ok {
		mode = m
	}
	if at, ok := f.breakAt[key]; ok && at == f.sendCalls[key] {
		mode = Broken
		delete(f.breakAt, key)
	}
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
	}
	return mode
}

func writeJSON(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprint(w, body)
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	return strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func hasMediaType(r *http.Request, want string) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == want
}

func isHTTPSURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var ids atomic.Int64
