// Package webhooktest holds a customer's webhook endpoint for tests: it
// records every request convo sends, answers as the test decides, and
// checks the signatures the way a customer does.
package webhooktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is one request the receiver got.
type Request struct {
	At     time.Time
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// ID is the webhook-id header.
	ID string
	// Type and Data are read from the body of an event.
	Type string
	Data map[string]any
	// Status is what the receiver answered (0 while the answer is pending).
	Status int
}

// ContentType is the request's Content-Type header.
func (r Request) ContentType() string { return r.Header.Get("Content-Type") }

// Subject is what the event is about: the conversation of a message event,
// else the id of the resource.
func (r Request) Subject() string {
	if strings.HasPrefix(r.Type, "conversation_message_") {
		return str(r.Data, "conversation_id")
	}
	return str(r.Data, "id")
}

// Peer is the peer target of a conversation event ("" for other events).
func (r Request) Peer() string {
	p, _ := r.Data["peer"].(map[string]any)
	return str(p, "target")
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// Answer decides the reply to a request; earlier is how many requests with
// the same webhook-id came before it. It may block, as a slow customer does.
type Answer func(r Request, earlier int) (code int, header http.Header)

// Receiver is a customer webhook endpoint.
type Receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	got      []Request
	answer   Answer
	inFlight map[string]int
	overlaps []string
}

// New starts a receiver answering 200 to everything; it stops when t ends.
func New(t testing.TB) *Receiver {
	h := &Receiver{inFlight: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

// URL is the endpoint to configure as a webhook_uri.
func (h *Receiver) URL() string { return h.srv.URL }

func (h *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := Request{At: time.Now(), Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, ID: r.Header.Get("webhook-id")}
	var env struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	if json.Unmarshal(body, &env) == nil {
		req.Type, req.Data = env.Type, env.Data
	}
	h.mu.Lock()
	earlier := 0
	for _, g := range h.got {
		if req.ID != "" && g.ID == req.ID {
			earlier++
		}
	}
	i := len(h.got)
	h.got = append(h.got, req)
	if req.ID != "" {
		h.inFlight[req.ID]++
		if h.inFlight[req.ID] > 1 {
			h.overlaps = append(h.overlaps, req.ID)
		}
	}
	answer := h.answer
	h.mu.Unlock()

	code := http.StatusOK
	if answer != nil {
		var header http.Header
		code, header = answer(req, earlier)
		maps.Copy(w.Header(), header)
	}
	h.mu.Lock()
	h.got[i].Status = code
	if req.ID != "" {
		h.inFlight[req.ID]--
	}
	h.mu.Unlock()
	w.WriteHeader(code)
}

// SetAnswer makes later requests answered by fn (nil: 200).
func (h *Receiver) SetAnswer(fn Answer) {
	h.mu.Lock()
	h.answer = fn
	h.mu.Unlock()
}

// AnswerWith answers code with headers given as name, value pairs.
func AnswerWith(code int, kv ...string) (int, http.Header) {
	header := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		header.Set(kv[i], kv[i+1])
	}
	return code, header
}

// Requests returns what was received so far, in order of arrival.
func (h *Receiver) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// OnPath returns the requests to a path.
func (h *Receiver) OnPath(path string) []Request {
	return h.filter(func(r Request) bool { return r.Path == path })
}

// Find returns the requests of an event type about a subject.
func (h *Receiver) Find(eventType, subject string) []Request {
	return h.filter(func(r Request) bool { return r.Type == eventType && r.Subject() == subject })
}

// ByID returns the requests carrying a webhook-id.
func (h *Receiver) ByID(id string) []Request {
	return h.filter(func(r Request) bool { return r.ID == id })
}

func (h *Receiver) filter(keep func(Request) bool) []Request {
	var out []Request
	for _, r := range h.Requests() {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// WaitFor waits until an event of a type about a subject has arrived and
// returns its first request.
func (h *Receiver) WaitFor(t testing.TB, eventType, subject string) Request {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if found := h.Find(eventType, subject); len(found) > 0 {
			return found[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver got no %s about %s; it got %s", eventType, subject, h.Summary())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Summary lists what was received, for failure messages.
func (h *Receiver) Summary() string {
	var parts []string
	for _, r := range h.Requests() {
		parts = append(parts, r.Type+"("+r.Subject()+")")
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Accepted counts the requests answered 200 by webhook-id.
func (h *Receiver) Accepted() map[string]int {
	n := map[string]int{}
	for _, r := range h.Requests() {
		if r.Status == http.StatusOK {
			n[r.ID]++
		}
	}
	return n
}

// FirstAccepted lists, by conversation, the ids of the events of a type in
// the order their first accepted request arrived.
func (h *Receiver) FirstAccepted(eventType string) map[string][]string {
	order := map[string][]string{}
	seen := map[string]bool{}
	for _, r := range h.Requests() {
		if r.Status != http.StatusOK || seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		if r.Type == eventType {
			conv := str(r.Data, "conversation_id")
			order[conv] = append(order[conv], str(r.Data, "id"))
		}
	}
	return order
}

// Overlaps lists the webhook-ids of requests that arrived while another
// request with the same id was still unanswered.
func (h *Receiver) Overlaps() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.overlaps)
}

// VoIPbinSignature is the X-VoIPBIN-Signature a customer expects on body:
// the hex HMAC-SHA256 of the body under the webhook secret.
func VoIPbinSignature(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// CheckVoIPbinSignature verifies a request's X-VoIPBIN-Signature.
func CheckVoIPbinSignature(r Request, secret string) error {
	got, want := r.Header.Get("X-VoIPBIN-Signature"), VoIPbinSignature(r.Body, secret)
	if !hmac.Equal([]byte(got), []byte(want)) {
		return fmt.Errorf("X-VoIPBIN-Signature %q, want %q", got, want)
	}
	return nil
}
