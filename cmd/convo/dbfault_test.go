package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
)

// This file stops and starts a PostgreSQL of the test's own under load:
// convo answers 503 with Retry-After while it is away, never 500, loses
// nothing it acknowledged, and resumes by itself once it is back.

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

func TestDatabaseRestartUnderLoad(t *testing.T) {
	t.Parallel()
	pg := newOwnPostgres(t)
	rcv := newLoadReceiver(t, 0)
	// Sends are answered after a while, so that some are in flight when
	// the database goes.
	tw := fakeprovider.NewTwilio(t)
	tw.SetDelay(100 * time.Millisecond)
	ts := startServer(t, testdb.Backend{Name: "postgres", DSN: pg.DSN()}, withWebhooks(), withTwilioAt(tw.URL()), withSending(500*time.Millisecond))
	admin := ts.as(ts.AdminKey)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("convo's log, requests left out:\n%s", tail(grepLines(ts.Log.String(), `"level":"`, 1<<20, `"msg":"request"`), 5000))
		}
	})
	stream := dialStream(t, ts.URL(), "accesskey="+url.QueryEscape(ts.AdminKey), nil)
	streamed := &streamLog{seen: map[string]int{}, order: map[string][]string{}}
	go streamed.follow(stream)
	setWebhook(admin, "POST", rcv.URL(), "restart-secret")
	apiAcc, apiNumber := admin.newSMSAccountNumber()
	tw.AddNumber("AC"+strings.Repeat("1", 32), "auth-token", apiNumber)

	l := &restartLoad{
		t: t, base: ts.URL(), key: ts.AdminKey, hookAcc: newSMSHookAccount(admin), apiAcc: apiAcc,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
		stop:   make(chan struct{}), acked: map[string][]string{}, sends: map[string][]string{},
	}
	defer l.client.CloseIdleConnections()
	var load sync.WaitGroup
	for w := range 4 {
		peers := phones(3)
		load.Go(func() { l.hooks(w, peers) })
	}
	for w := range 2 {
		load.Go(func() { l.api(w) })
	}
	pr := &probes{health: map[int]int{}, ready: map[int]int{}}
	stopProbes := make(chan struct{})
	var probing sync.WaitGroup
	probing.Go(func() { pr.run(ts.URL(), stopProbes) })
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(l.stop)
			load.Wait()
			close(stopProbes)
			probing.Wait()
		}
	}
	defer stopLoad()

	// awaitAcks waits until the load has had n more hooks acknowledged.
	awaitAcks := func(n int64) {
		t.Helper()
		target := l.hookAcks.Load() + n
		eventually(t, 30*time.Second, func() error {
			if got := l.hookAcks.Load(); got < target {
				return fmt.Errorf("%d hooks acknowledged, waiting for %d", got, target)
			}
			return nil
		})
	}
	awaitAcks(100)
	resumed := 0
	for _, mode := range []string{"fast", "immediate"} {
		before := l.answers.snapshot()
		if err := pg.stop(mode); err != nil {
			t.Fatal(err)
		}
		res := call(t, "GET", ts.URL()+"/readyz", "", nil)
		if res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" ||
			!jsonEqual(res.JSON(t), map[string]any{"status": "unavailable", "reason": convo.ReasonDatabaseUnavailable}) {
			t.Errorf("stopped (%s): /readyz answered %d, Retry-After %q: %s", mode, res.Status, res.Header.Get("Retry-After"), res.Body)
		}
		// The load goes on against the stopped database.
		time.Sleep(1500 * time.Millisecond)
		if err := pg.start(); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		resumed++
		eventually(t, 5*time.Second, func() error {
			if n := strings.Count(ts.Log.String(), "the database answers again"); n < resumed {
				return fmt.Errorf("%s restart: background work has not found the database back 5 s after it answered again", mode)
			}
			if r := call(t, "POST", ts.URL()+"/v1.0/conversations", ts.AdminKey, map[string]any{"account_id": apiAcc, "peer": map[string]any{"type": "tel", "target": uniquePhone()}}); r.Status != http.StatusOK {
				return fmt.Errorf("%s restart: an API write still answers %d %s 5 s after the database answered again", mode, r.Status, r.Body)
			}
			if r := call(t, "GET", ts.URL()+"/readyz", "", nil); r.Status != http.StatusOK || !jsonEqual(r.JSON(t), map[string]any{"status": "ready"}) {
				return fmt.Errorf("%s restart: /readyz still answers %d %s 5 s after the database answered again", mode, r.Status, r.Body)
			}
			return nil
		})
		t.Logf("%s stop: %d answers 503 while away; API, /readyz and background work back %v after the database", mode, l.answers.snapshot()-before, time.Since(back).Round(time.Millisecond))
		awaitAcks(100)
	}
	stopLoad()

	if len(l.answers.faults) > 0 {
		t.Errorf("%d answers were neither 200 nor 503 with Retry-After, e.g.:\n%s", len(l.answers.faults), strings.Join(l.answers.faults[:min(10, len(l.answers.faults))], "\n"))
	}
	if l.answers.retried == 0 {
		t.Error("no request of the load met the stopped database")
	}
	if len(pr.faults) > 0 || pr.ready[http.StatusServiceUnavailable] == 0 {
		t.Errorf("probes: /healthz %v, /readyz %v; faults: %v", pr.health, pr.ready, pr.faults[:min(10, len(pr.faults))])
	}
	t.Logf("load: %d answered 200, %d answered 503; %d hooks acknowledged, %d conversations created, %d sends",
		l.answers.ok, l.answers.retried, l.hookAcks.Load(), len(l.convs), len(l.sends))

	// Every hook acknowledged is stored once, in sending order.
	for peer, texts := range l.acked {
		conv := convWith(admin, l.hookAcc.ID, peer)
		var stored []string
		for _, m := range oldestFirst(allRows(admin, "/v1.0/conversations/"+sget(conv, "id")+"/messages")) {
			stored = append(stored, sget(m, "text"))
		}
		if !slices.Equal(stored, texts) {
			t.Errorf("peer %s: stored %d messages, want the %d acknowledged once each in order\nstored %v\n acked %v", peer, len(stored), len(texts), stored, texts)
		}
	}
	// Every conversation created is there; every send's job ran. The waits
	// here are well within the leases of claims (a minute for jobs, 30 s
	// for events): what waited resumes at once, not when a lease ends.
	for _, id := range l.convs {
		admin.ok("GET", "/v1.0/conversations/"+id, nil)
	}
	eventually(t, 10*time.Second, func() error {
		for conv, texts := range l.sends {
			for _, m := range allRows(admin, "/v1.0/conversations/"+conv+"/messages") {
				if slices.Contains(texts, sget(m, "text")) && sget(m, "status") != convo.MessageDone {
					return fmt.Errorf("message %q is still %s", sget(m, "text"), sget(m, "status"))
				}
			}
			for _, text := range texts {
				if sentCount(tw, text) == 0 {
					return fmt.Errorf("message %q never reached the provider", text)
				}
			}
		}
		return nil
	})

	// Every event committed reaches the receiver, each conversation's in
	// order, and the stream that stayed open through both restarts.
	awaitDeliveriesSettled(t, admin, 10*time.Second)
	received, _, order := rcv.snapshot()
	all := checkAllReceived(t, admin, received)
	checkEventOrder(t, admin, "the receiver", all, order)
	eventually(t, 10*time.Second, func() error {
		streamed.mu.Lock()
		defer streamed.mu.Unlock()
		if n := len(streamed.seen); n < len(all) {
			return fmt.Errorf("the stream has %d of the %d events (closed: %v)", n, len(all), streamed.closed)
		}
		return nil
	})
	streamed.mu.Lock()
	defer streamed.mu.Unlock()
	if streamed.closed {
		t.Error("the realtime stream closed")
	}
	for _, d := range all {
		if n := streamed.seen[d.ID]; n != 1 {
			t.Errorf("event %s (%s) came %d times on the stream", d.ID, d.Type, n)
		}
	}
	checkEventOrder(t, admin, "the stream", all, streamed.order)

	// The outage is logged once, not at every attempt (hundreds failed).
	errors := strings.Split(grepLines(ts.Log.String(), `"level":"ERROR"`, 1<<20), "\n")
	outages := 0
	for _, line := range errors {
		if strings.Contains(line, "the database is unavailable") {
			outages++
		}
	}
	if outages < 2 || outages > 4 || len(errors) != outages {
		t.Errorf("convo logged %d errors, %d of them that the database is away, in 2 outages; want about one per outage:\n%s",
			len(errors), outages, strings.Join(errors[:min(10, len(errors))], "\n"))
	}
}

func (l *answerLog) snapshot() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.retried
}

// allRows reads every page of a list, newest first.
func allRows(a *api, path string) []map[string]any {
	a.t.Helper()
	var all []map[string]any
	token := ""
	for {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		var page struct {
			Result        []map[string]any `json:"result"`
			NextPageToken string           `json:"next_page_token"`
		}
		r := a.do("GET", path+sep+"page_size=100&page_token="+url.QueryEscape(token), nil)
		if r.Status != http.StatusOK {
			a.t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		r.Decode(a.t, &page)
		all = append(all, page.Result...)
		if len(page.Result) == 0 || page.NextPageToken == "" {
			return all
		}
		token = page.NextPageToken
	}
}

// checkEventOrder checks that who (the webhook receiver, a stream) first
// got each conversation's message events in the order the messages are stored.
func checkEventOrder(t *testing.T, a *api, who string, all []hookDelivery, order map[string][]string) {
	t.Helper()
	convs := map[string]bool{}
	for _, d := range all {
		if d.Type == convo.EventMessageCreated {
			convs[d.ConversationID] = true
		}
	}
	for conv := range convs {
		var stored []string
		for _, m := range oldestFirst(allRows(a, "/v1.0/conversations/"+conv+"/messages")) {
			stored = append(stored, sget(m, "id"))
		}
		if got := order[conv]; !slices.Equal(got, stored) {
			t.Errorf("conversation %s: %s first got its messages in another order than stored:\n got %v\nwant %v", conv, who, got, stored)
		}
	}
}

// grepLines returns up to n lines of s containing sub, and none of not.
func grepLines(s, sub string, n int, not ...string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) && len(out) < n && !slices.ContainsFunc(not, func(x string) bool { return strings.Contains(line, x) }) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
