package main

// End-to-end tests of GET /metrics: what an operator's Prometheus reads
// after API requests, hooks, sends, webhook deliveries and streams.

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
)

// scrape is one read of /metrics, parsed.
type scrape struct {
	raw      string
	families map[string]*dto.MetricFamily
}

// scrapeMetrics reads base's /metrics, failing t unless it answers 200 in
// Prometheus's text format.
func scrapeMetrics(t testing.TB, base string) *scrape {
	t.Helper()
	r := call(t, "GET", base+"/metrics", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /metrics: status %d\n%s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want Prometheus's text format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("GET /metrics: not Prometheus's text format: %v\n%s", err, r.Body)
	}
	return &scrape{raw: string(r.Body), families: families}
}

// value sums the series of name whose labels include every pair of labels
// (name, value, ...): a counter's or gauge's value, a histogram's count of
// observations. found is false when no series matched.
func (s *scrape) value(name string, labels ...string) (sum float64, found bool) {
	f := s.families[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, found
}

// want checks the value of a series that must exist.
func (s *scrape) want(t testing.TB, test func(float64) bool, what, name string, labels ...string) error {
	v, found := s.value(name, labels...)
	if !found {
		return fmt.Errorf("no series %s%v in /metrics", name, labels)
	}
	if !test(v) {
		return fmt.Errorf("%s%v is %v, want %s", name, labels, v, what)
	}
	return nil
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		ok := false
		for _, p := range m.GetLabel() {
			if p.GetName() == labels[i] && p.GetValue() == labels[i+1] {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func is(want float64) func(float64) bool   { return func(v float64) bool { return v == want } }
func atLeast(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }

// waitMetric waits until a series of base's /metrics passes test and
// returns that scrape.
func waitMetric(t testing.TB, base string, test func(float64) bool, what, name string, labels ...string) *scrape {
	t.Helper()
	var s *scrape
	eventually(t, 10*time.Second, func() error {
		s = scrapeMetrics(t, base)
		return s.want(t, test, what, name, labels...)
	})
	return s
}

var anyUUID = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// checkAggregatesOnly fails t when any label value of s holds a UUID, or
// when the output holds anything of secrets (ids, credentials, customer
// text the test created) anywhere.
func checkAggregatesOnly(t testing.TB, s *scrape, secrets ...string) {
	t.Helper()
	for name, f := range s.families {
		for _, m := range f.GetMetric() {
			for _, p := range m.GetLabel() {
				if anyUUID.MatchString(p.GetValue()) {
					t.Errorf("%s has label %s=%q, an id", name, p.GetName(), p.GetValue())
				}
			}
		}
	}
	if loc := anyUUID.FindStringIndex(s.raw); loc != nil {
		t.Errorf("/metrics holds a UUID: %q", s.raw[max(loc[0]-80, 0):loc[1]])
	}
	for _, v := range secrets {
		if v == "" {
			t.Fatal("checkAggregatesOnly: an empty value to look for")
		}
		if i := strings.Index(s.raw, v); i >= 0 {
			t.Errorf("/metrics holds %q: %q", v, s.raw[max(i-80, 0):min(i+len(v)+20, len(s.raw))])
		}
	}
}

// Requests are counted by route pattern, method and status, never by
// path: a conversation read by its id appears under the pattern, and no
// id, credential or text the customer sent appears anywhere.
func TestMetricsCountRequestsByRoute(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		base := e.ts.URL()
		sms := e.newAccount(a, convo.AccountSMS)
		conv := a.newConversation(sms.ID)
		convID := str(t, conv, "id")
		for range 3 {
			a.ok("GET", "/v1.0/conversations/"+convID, nil)
		}
		missing := convo.NewID()
		a.fails("GET", "/v1.0/conversations/"+missing, nil, http.StatusNotFound, "")
		a.fails("GET", "/v1.0/no/such/"+missing, nil, http.StatusNotFound, convo.ReasonRouteNotFound)
		a.fails("PATCH", "/v1.0/me", nil, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
		peer, text := uniquePhone(), "metrics-secret-text-"+randomHexString(6)
		wantStatus(t, e.postTwilio(t, sms, sms.Hook, smsForm(sms, peer, text)), http.StatusOK)

		s := scrapeMetrics(t, base)
		for _, c := range []struct {
			value                 float64
			route, method, status string
		}{
			{3, "/v1.0/conversations/{id}", "GET", "200"},
			{1, "/v1.0/conversations/{id}", "GET", "404"},
			{1, "/v1.0/conversations", "POST", "200"},
			{1, "/v1.0/conversation/accounts/{id}", "POST", "200"},
			{2, "unmatched", "", ""}, // the unknown path (404) and the unknown method (405)
		} {
			labels := []string{"route", c.route}
			if c.method != "" {
				labels = append(labels, "method", c.method, "status", c.status)
			}
			if err := s.want(t, is(c.value), fmt.Sprint(c.value), "convo_http_requests_total", labels...); err != nil {
				t.Error(err)
			}
		}
		if err := s.want(t, is(4), "4 (every read of a conversation)", "convo_http_request_duration_seconds",
			"route", "/v1.0/conversations/{id}", "method", "GET"); err != nil {
			t.Error(err)
		}
		for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "convo_db_pool_max_connections"} {
			if _, ok := s.value(name); !ok {
				t.Errorf("no %s in /metrics", name)
			}
		}
		if err := s.want(t, atLeast(1), "at least 1", "convo_db_pool_max_connections", "pool", "writer"); err != nil {
			t.Error(err)
		}
		checkAggregatesOnly(t, s, e.ts.CustomerID, e.ts.AdminKey, sms.ID, sms.SID, sms.Token, sms.Number, convID, missing,
			peer, text, str(t, obj(t, conv, "peer"), "target"))
	})
}

// The WebSocket gauge counts open streams: 1 while one is open, 0 after.
func TestMetricsCountOpenStreams(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b)
		base := ts.URL()
		if err := scrapeMetrics(t, base).want(t, is(0), "0", "convo_websocket_connections"); err != nil {
			t.Fatal(err)
		}
		c := dialStream(t, base, "accesskey="+ts.AdminKey, nil)
		waitMetric(t, base, is(1), "1 while a stream is open", "convo_websocket_connections")
		c.close()
		s := waitMetric(t, base, is(0), "0 once the stream closed", "convo_websocket_connections")
		if err := s.want(t, is(1), "1", "convo_http_requests_total", "route", "/v1.0/ws", "status", "101"); err != nil {
			t.Error(err)
		}
		checkAggregatesOnly(t, s, ts.AdminKey, ts.CustomerID)
	})
}

// Provider API calls are counted by channel, call and outcome, and the
// durable jobs waiting show by kind.
func TestMetricsCountProviderCallsAndJobs(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		// A send that fails for a while is retried an hour later: it waits as a job.
		e := newChannelEnv(t, b, withSending(100*time.Millisecond, time.Hour))
		a := e.admin(t)
		base := e.ts.URL()
		sms, line, wa := e.newAccount(a, convo.AccountSMS), e.newAccount(a, convo.AccountLine), e.newAccount(a, convo.AccountWhatsApp)
		e.line.SetModeFor(line.fakeKey(), fakeprovider.Broken)
		e.wa.SetModeFor(wa.fakeKey(), fakeprovider.Refuse)
		var secrets []string
		for _, acc := range []*testAccount{sms, line, wa} {
			conv := startThread(a, acc)
			text := "metrics-secret-" + randomHexString(6)
			msg := send(a, conv, map[string]any{"text": text})
			secrets = append(secrets, acc.ID, acc.Token, conv, str(t, msg, "id"), text)
		}

		s := waitMetric(t, base, is(1), "1 (the message to send again)", "convo_jobs_pending", "kind", convo.JobSendMessage)
		for _, c := range []struct{ channel, outcome string }{{"sms", "ok"}, {"line", "server_error"}, {"whatsapp", "refused"}} {
			if err := s.want(t, is(1), "1", "convo_provider_calls_total", "channel", c.channel, "call", "send", "outcome", c.outcome); err != nil {
				t.Error(err)
			}
		}
		if err := s.want(t, is(3), "3 (one send per channel)", "convo_provider_calls_total", "call", "send"); err != nil {
			t.Error(err)
		}

		// A LINE peer's name is looked up after the hook is answered, as a job.
		user := lineID('U')
		e.line.AddProfile(user, "Metrics Peer")
		release := e.line.HoldProfiles()
		t.Cleanup(release)
		wantStatus(t, e.postLine(t, line, lineWebhook(lineMessage(lineUser(user), lineText("hello")))), http.StatusOK)
		waitMetric(t, base, is(1), "1 while the lookup is held", "convo_jobs_pending", "kind", convo.JobPeerName)
		release()
		waitMetric(t, base, is(0), "0 once the lookup is done", "convo_jobs_pending", "kind", convo.JobPeerName)
		s = waitMetric(t, base, is(1), "1", "convo_provider_calls_total", "channel", "line", "call", "display_name", "outcome", "ok")
		checkAggregatesOnly(t, s, append(secrets, user, "Metrics Peer", sms.SID, wa.PhoneNumberID, e.ts.CustomerID)...)
	})
}

// While the customer's endpoint fails, events pile up in the outbox and
// age; given up on, they count as dead; once the endpoint answers, what
// waits is delivered. Attempts are counted by outcome.
func TestMetricsShowTheOutbox(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		clock := &offsetClock{}
		ts := startServer(t, b, withWebhooks(), withClock(clock))
		a := ts.as(ts.AdminKey)
		base := ts.URL()
		rcv := webhooktest.New(t)
		rcv.SetAnswer(func(webhooktest.Request, int) (int, http.Header) { return http.StatusInternalServerError, nil })
		setWebhook(a, "POST", rcv.URL(), "")
		acc := a.newSMSAccount()
		convs := []string{str(t, a.newConversation(acc), "id"), str(t, a.newConversation(acc), "id")}

		// Each conversation's first event fails and holds the later ones back.
		s := waitMetric(t, base, atLeast(3), "at least 3 (account and conversations)", "convo_outbox_pending_events")
		waitMetric(t, base, atLeast(2), "at least 2", "convo_webhook_attempts_total", "outcome", "failed")
		if err := s.want(t, is(0), "0", "convo_outbox_dead_events"); err != nil {
			t.Error(err)
		}
		// An hour on, an event written now waits behind none: the oldest is an hour old.
		clock.advance(time.Hour)
		convs = append(convs, str(t, a.newConversation(acc), "id"))
		waitMetric(t, base, atLeast(4), "at least 4", "convo_outbox_pending_events")
		waitMetric(t, base, atLeast(3600), "an hour or more", "convo_outbox_oldest_pending_age_seconds")

		// Past the 25 hours of retries every waiting event dies.
		clock.advance(25 * time.Hour)
		waitMetric(t, base, is(0), "0 once every event died", "convo_outbox_pending_events")
		s = waitMetric(t, base, atLeast(4), "at least 4", "convo_outbox_dead_events")
		if err := s.want(t, atLeast(4), "at least 4", "convo_webhook_attempts_total", "outcome", "dead"); err != nil {
			t.Error(err)
		}
		if err := s.want(t, is(0), "0 with nothing waiting", "convo_outbox_oldest_pending_age_seconds"); err != nil {
			t.Error(err)
		}

		rcv.SetAnswer(nil)
		last := str(t, a.newConversation(acc), "id")
		rcv.WaitFor(t, "conversation_created", last)
		s = waitMetric(t, base, atLeast(1), "at least 1", "convo_webhook_attempts_total", "outcome", "delivered")
		var eventIDs []string
		for _, r := range rcv.Requests() {
			eventIDs = append(eventIDs, r.ID)
		}
		checkAggregatesOnly(t, s, append(append(eventIDs, convs...), last, acc, ts.CustomerID, rcv.URL())...)
	})
}

// With --metrics-listen the operations routes answer on that address only.
func TestMetricsListenApart(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, func(m *Main) { m.Config.MetricsListen = "127.0.0.1:0" })
		if ts.OpsURL() == ts.URL() {
			t.Fatalf("the metrics listener is the API's (%s)", ts.URL())
		}
		a := ts.as(ts.AdminKey)
		a.fails("GET", "/metrics", nil, http.StatusNotFound, convo.ReasonRouteNotFound)
		a.ok("GET", "/v1.0/me", nil)
		// The API is not served on the metrics listener.
		r := call(t, "GET", ts.OpsURL()+"/v1.0/me", ts.AdminKey, nil)
		wantStatus(t, r, http.StatusNotFound)
		if e, _ := r.JSON(t)["error"].(map[string]any); e == nil || e["reason"] != convo.ReasonRouteNotFound {
			t.Errorf("GET /v1.0/me on the metrics listener: %s", r.Body)
		}
		wantStatus(t, call(t, "POST", ts.OpsURL()+"/metrics", "", nil), http.StatusMethodNotAllowed)
		// The health probes move with it.
		for _, probe := range []string{"/healthz", "/readyz"} {
			wantStatus(t, call(t, "GET", ts.OpsURL()+probe, "", nil), http.StatusOK)
			a.fails("GET", probe, nil, http.StatusNotFound, convo.ReasonRouteNotFound)
		}

		s := scrapeMetrics(t, ts.OpsURL())
		for _, c := range []struct{ route, status string }{{"/v1.0/me", "200"}, {"unmatched", "404"}} {
			if err := s.want(t, atLeast(1), "at least 1", "convo_http_requests_total", "route", c.route, "method", "GET", "status", c.status); err != nil {
				t.Error(err)
			}
		}
		checkAggregatesOnly(t, s, ts.AdminKey, ts.CustomerID)
	})
}
