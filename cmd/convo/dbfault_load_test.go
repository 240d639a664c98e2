package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
)

// answerLog checks every answer the load gets: success, or 503
// UNAVAILABLE with Retry-After; anything else is a fault.
type answerLog struct {
	mu          sync.Mutex
	ok, retried int
	faults      []string
}

// note reads an answer (res and err of one request) and reports whether it
// was a success, whose body the caller reads.
func (l *answerLog) note(what string, res *http.Response, err error) bool {
	var fault string
	switch {
	case err != nil:
		fault = fmt.Sprintf("%s: no answer: %v", what, err)
	case res.StatusCode == http.StatusOK:
	case res.StatusCode == http.StatusServiceUnavailable:
		var body struct {
			Error struct{ Status, Reason string }
		}
		json.Unmarshal(readAll(res), &body)
		if res.Header.Get("Retry-After") == "" || body.Error.Status != convo.EUnavailable || body.Error.Reason != convo.ReasonDatabaseUnavailable {
			fault = fmt.Sprintf("%s: 503 with Retry-After %q and error %+v", what, res.Header.Get("Retry-After"), body.Error)
		}
	default:
		fault = fmt.Sprintf("%s: %d %s", what, res.StatusCode, bytes.TrimSpace(readAll(res)))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case fault != "":
		l.faults = append(l.faults, fault)
	case res.StatusCode == http.StatusOK:
		l.ok++
	default:
		l.retried++
	}
	return fault == "" && res.StatusCode == http.StatusOK
}

func readAll(res *http.Response) []byte {
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return b
}

// sentCount is how many times the fake Twilio accepted text.
func sentCount(tw *fakeprovider.Twilio, text string) int {
	n := 0
	for _, s := range tw.Sent() {
		if s.Body == text {
			n++
		}
	}
	return n
}

// restartLoad drives convo from several goroutines until stopped: signed
// SMS hooks (each peer's messages one after the other, each retried until
// acknowledged, as providers do), and API writes: new conversations and
// sends in them.
type restartLoad struct {
	t       *testing.T
	base    string
	key     string
	hookAcc smsAccount
	apiAcc  string
	client  *http.Client
	answers answerLog
	stop    chan struct{}

	hookAcks atomic.Int64
	mu       sync.Mutex
	// acked holds each peer's acknowledged texts, in sending order.
	acked map[string][]string
	// convs are the conversations created with 200; sends the texts sent
	// with 200, by conversation.
	convs []string
	sends map[string][]string
}

// hooks sends messages from peers one after the other until the load
// stops; the message under way when it stops is still retried until
// acknowledged.
func (l *restartLoad) hooks(worker int, peers []string) {
	path, _ := url.Parse(l.hookAcc.HookURL)
	for n := 0; ; n++ {
		for i, peer := range peers {
			text := fmt.Sprintf("SMdb%02d%02d%06d", worker, i, n)
			form := url.Values{"MessageSid": {text}, "From": {peer}, "To": {l.hookAcc.Number}, "Body": {text}, "NumMedia": {"0"}}
			for try := 0; ; try++ {
				req, _ := http.NewRequest("POST", l.base+path.Path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Twilio-Signature", twilioSign(l.hookAcc.Token, l.hookAcc.HookURL, form))
				res, err := l.client.Do(req)
				if l.answers.note("hook "+text, res, err) {
					readAll(res)
					break
				}
				if try > 2000 {
					return // about a minute: the test fails on the missing acknowledgement
				}
				time.Sleep(25 * time.Millisecond)
			}
			l.hookAcks.Add(1)
			l.mu.Lock()
			l.acked[peer] = append(l.acked[peer], text)
			l.mu.Unlock()
		}
		select {
		case <-l.stop:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// api creates conversations and sends a message in each until the load
// stops. A request answered 503 is not repeated: it may have been
// committed all the same, and the check is on what was answered 200.
func (l *restartLoad) api(worker int) {
	for n := 0; ; n++ {
		select {
		case <-l.stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		res, err := l.request("POST", "/v1.0/conversations", map[string]any{"account_id": l.apiAcc, "peer": map[string]any{"type": "tel", "target": uniquePhone()}})
		var conv struct{ ID string }
		if !l.answers.note("create a conversation", res, err) {
			continue
		}
		json.Unmarshal(readAll(res), &conv)
		l.mu.Lock()
		l.convs = append(l.convs, conv.ID)
		l.mu.Unlock()
		text := fmt.Sprintf("send %d %d", worker, n)
		res, err = l.request("POST", "/v1.0/conversations/"+conv.ID+"/messages", map[string]any{"text": text})
		if l.answers.note("send in "+conv.ID, res, err) {
			readAll(res)
			l.mu.Lock()
			l.sends[conv.ID] = append(l.sends[conv.ID], text)
			l.mu.Unlock()
		}
	}
}

func (l *restartLoad) request(method, path string, body any) (*http.Response, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, l.base+path, strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+l.key)
	req.Header.Set("Content-Type", "application/json")
	return l.client.Do(req)
}

// probes asks /healthz and /readyz over and over until stopped; /healthz
// must answer 200 throughout.
type probes struct {
	mu            sync.Mutex
	health, ready map[int]int
	faults        []string
}

func (p *probes) run(base string, stop <-chan struct{}) {
	for {
		for _, path := range []string{"/healthz", "/readyz"} {
			res, err := http.Get(base + path)
			p.mu.Lock()
			switch {
			case err != nil:
				p.faults = append(p.faults, fmt.Sprintf("%s: no answer: %v", path, err))
			case path == "/healthz":
				p.health[res.StatusCode]++
				if body := readAll(res); res.StatusCode != http.StatusOK || !jsonEqual(jsonOf(body), map[string]any{"status": "ok"}) {
					p.faults = append(p.faults, fmt.Sprintf("%s: %d %s", path, res.StatusCode, body))
				}
			default:
				p.ready[res.StatusCode]++
				readAll(res)
			}
			p.mu.Unlock()
		}
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func jsonOf(b []byte) any {
	var v any
	json.Unmarshal(b, &v)
	return v
}

// streamLog keeps what an open realtime stream receives, and whether it closed.
type streamLog struct {
	mu sync.Mutex
	// seen counts the receipts of each event.
	seen map[string]int
	// order holds each conversation's message ids, by first receipt.
	order  map[string][]string
	closed bool
}

func (s *streamLog) follow(c *streamClient) {
	for ev := range c.events {
		s.mu.Lock()
		if s.seen[ev.ID]++; s.seen[ev.ID] == 1 && ev.Type == convo.EventMessageCreated {
			conv := sget(ev.Data, "conversation_id")
			s.order[conv] = append(s.order[conv], sget(ev.Data, "id"))
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}
