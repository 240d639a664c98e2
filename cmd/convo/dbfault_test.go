package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
)

// This file stops and starts a PostgreSQL of the test's own under load:
// convo answers 503 with Retry-After while it is away, never 500, loses
// nothing it acknowledged, and resumes by itself once it is back.

func TestDatabaseRestartUnderLoad(t *testing.T) {
	t.Parallel()
	pg := newOwnPostgres(t)
	rcv := newLoadReceiver(t, 0)
	// Sends are answered after a while, so that some are in flight when
	// the database goes.
	tw := fakeprovider.NewTwilio(t)
	tw.SetDelay(100 * time.Millisecond)
	// Each send is done once Twilio answers; no status callback follows.
	tw.SetSendStatus("sent")
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
