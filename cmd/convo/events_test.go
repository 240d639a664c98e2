package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
)

// This file tests events and customer webhooks (PRODUCT.md §8) through the
// HTTP API of started servers.

// withWebhooks lets webhooks reach the test's loopback receivers and makes
// retries and polling fast.
func withWebhooks() serverOption {
	return func(m *Main) {
		m.Config.WebhookAllowPrivate = true
		withFastEvents()(m)
	}
}

// withFastEvents makes webhook retries and polling fast, leaving the
// private-network guard on.
func withFastEvents() serverOption {
	return func(m *Main) {
		m.Config.WebhookRetryBase = 10 * time.Millisecond
		m.Config.EventPoll = 20 * time.Millisecond
	}
}

// withTwilioAt points the SMS channel at a fake Twilio.
func withTwilioAt(base string) serverOption {
	return func(m *Main) { m.Config.TwilioAPIURL = base }
}

// offsetClock is the wall clock moved forward by a settable offset.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *offsetClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// setWebhook configures the customer webhook of a customer.
func setWebhook(a *api, method, uri, secret string) {
	a.t.Helper()
	a.ok("PUT", "/v1.0/customer", map[string]any{"webhook_method": method, "webhook_uri": uri, "webhook_secret": secret})
}

// hookAttempt is one delivery attempt as /webhook_deliveries shows it.
type hookAttempt struct {
	TMAttempt  string `json:"tm_attempt"`
	HTTPStatus int    `json:"http_status"`
	Error      string `json:"error"`
	LatencyMS  *int64 `json:"latency_ms"`
}

// hookDelivery is one event as /webhook_deliveries shows it.
type hookDelivery struct {
	ID             string          `json:"id"`
	CustomerID     string          `json:"customer_id"`
	Type           string          `json:"type"`
	ConversationID string          `json:"conversation_id"`
	Payload        json.RawMessage `json:"payload"`
	TargetURI      string          `json:"target_uri"`
	Status         string          `json:"status"`
	AttemptCount   int             `json:"attempt_count"`
	LastError      string          `json:"last_error"`
	TMCreate       string          `json:"tm_create"`
	Attempts       []hookAttempt   `json:"attempts"`
}

// data returns the payload's data object.
func (d hookDelivery) data(t testing.TB) map[string]any {
	t.Helper()
	var env struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(d.Payload, &env); err != nil {
		t.Fatalf("delivery %s: payload %s: %v", d.ID, d.Payload, err)
	}
	return env.Data
}

// listDeliveries reads every page of GET /webhook_deliveries with the
// query's filters, newest first.
func listDeliveries(a *api, query url.Values) []hookDelivery {
	a.t.Helper()
	var all []hookDelivery
	q := url.Values{}
	maps.Copy(q, query)
	for range 1000 {
		var page struct {
			Result        []hookDelivery `json:"result"`
			NextPageToken string         `json:"next_page_token"`
		}
		r := a.do("GET", "/v1.0/webhook_deliveries?"+q.Encode(), nil)
		if r.Status != http.StatusOK {
			a.t.Fatalf("GET /v1.0/webhook_deliveries?%s: status %d\n%s", q.Encode(), r.Status, r.Body)
		}
		r.Decode(a.t, &page)
		all = append(all, page.Result...)
		if len(page.Result) == 0 || page.NextPageToken == "" {
			return all
		}
		q.Set("page_token", page.NextPageToken)
	}
	a.t.Fatal("webhook_deliveries never ends")
	return nil
}

// deliveryByID finds one event in the customer's deliveries.
func deliveryByID(a *api, id string) hookDelivery {
	a.t.Helper()
	for _, d := range listDeliveries(a, nil) {
		if d.ID == id {
			return d
		}
	}
	a.t.Fatalf("event %s is not in /webhook_deliveries", id)
	return hookDelivery{}
}

// oldestFirst reverses a newest-first list.
func oldestFirst[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// sget reads a string field of a JSON object ("" when absent).
func sget(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// sameJSON reports whether two values have the same JSON form.
func sameJSON(a, b any) bool {
	norm := func(v any) any {
		raw, ok := v.([]byte)
		if !ok {
			if r, isRaw := v.(json.RawMessage); isRaw {
				raw, ok = r, true
			}
		}
		if !ok {
			var err error
			if raw, err = json.Marshal(v); err != nil {
				return err.Error()
			}
		}
		var out any
		if err := json.Unmarshal(raw, &out); err != nil {
			return "invalid JSON: " + string(raw)
		}
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// webhookForm is a conversation as a webhook shows it: owner_id "" when unassigned.
func webhookForm(conv map[string]any) map[string]any {
	w := maps.Clone(conv)
	if w["owner_id"] == convo.NilID {
		w["owner_id"] = ""
	}
	return w
}

// smsAccount is an SMS account with what a provider needs to call its hook.
type smsAccount struct {
	ID, Number, Token, HookURL string
}

// smsHookAccountSID is the Twilio AccountSid of newSMSHookAccount's accounts.
var smsHookAccountSID = "AC" + strings.Repeat("1", 32)

// newSMSHookAccount creates an SMS account with its own auth token.
func newSMSHookAccount(a *api) smsAccount {
	a.t.Helper()
	token := "tw-" + randomKey(8)
	acc := a.ok("POST", "/v1.0/conversation_accounts", map[string]any{
		"type": "sms", "name": unique("sms"), "detail": "events", "token": token,
		"provider_data": map[string]any{"account_sid": smsHookAccountSID, "number": uniquePhone()},
	})
	pd, _ := acc["provider_data"].(map[string]any)
	return smsAccount{ID: sget(acc, "id"), Number: sget(pd, "number"), Token: token, HookURL: sget(acc, "hook_url")}
}

// randomKey returns n random bytes in hex.
func randomKey(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// twilioSign is X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL +
// every form field name and value, sorted by name)).
func twilioSign(token, fullURL string, form url.Values) string {
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range slices.Sorted(maps.Keys(form)) {
		for _, v := range form[k] {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// postSigned posts a form signed like Twilio to fullURL with client and
// returns the status.
func postSigned(client *http.Client, fullURL, token string, form url.Values) (int, error) {
	return postSignedVia(client, fullURL, fullURL, token, form)
}

// postSignedVia posts a form to postURL signed for signedURL, the public URL
// a load balancer in front of several servers would answer on.
func postSignedVia(client *http.Client, postURL, signedURL, token string, form url.Values) (int, error) {
	req, err := http.NewRequest("POST", postURL, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilioSign(token, signedURL, form))
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// inboundSMS delivers an inbound SMS to an account's hook like Twilio does.
func inboundSMS(t testing.TB, acc smsAccount, sid, from, text string) {
	t.Helper()
	form := url.Values{"MessageSid": {sid}, "AccountSid": {"AC" + strings.Repeat("1", 32)}, "From": {from}, "To": {acc.Number}, "Body": {text}, "NumMedia": {"0"}}
	code, err := postSigned(http.DefaultClient, acc.HookURL, acc.Token, form)
	if err != nil || code != http.StatusOK {
		t.Fatalf("inbound SMS %s: status %d, error %v", sid, code, err)
	}
}

// freshBackend returns another empty database of b's kind.
func freshBackend(t *testing.T, b testdb.Backend) testdb.Backend {
	if b.Name == "postgres" {
		return testdb.Postgres(t)
	}
	return testdb.SQLite(t)
}

// loginAdmin logs in as the first-start agent "admin", a project super-admin.
func loginAdmin(t testing.TB, ts *testServer) *api {
	t.Helper()
	login := call(t, "POST", ts.URL()+"/v1.0/auth/login", "", map[string]any{"username": "admin", "password": ts.AdminPassword}).JSON(t)
	token := sget(login, "token")
	if token == "" {
		t.Fatalf("login as admin: %v", login)
	}
	return &api{t: t, base: ts.URL(), cred: token}
}

// TestEventsWakeOnCommit: a commit wakes delivery and the realtime stream
// at once, not at the next poll; with an hour between polls, events would
// otherwise wait an hour.
func TestEventsWakeOnCommit(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withWebhooks(), func(m *Main) { m.Config.EventPoll = time.Hour })
		rcv := webhooktest.New(t)
		admin := ts.as(ts.AdminKey)
		setWebhook(admin, "POST", rcv.URL(), "wake")
		acc := newSMSHookAccount(admin)
		rcv.WaitFor(t, convo.EventAccountCreated, acc.ID)
		key := "accesskey=" + url.QueryEscape(ts.AdminKey)
		stream := dialLive(t, admin, key, nil)
		peer := uniquePhone()
		inboundSMS(t, acc, "SMwake"+randomKey(6), peer, "wake up")
		conv := sget(firstPage(admin, "/v1.0/conversations?dialog_id="+url.QueryEscape(peer))[0], "id")
		rcv.WaitFor(t, convo.EventMessageCreated, conv)
		if ev := stream.next(t); ev.Type != convo.EventConversationCreated || ev.subject() != conv {
			t.Errorf("stream: %v, want the conversation's creation", ev)
		}
		if ev := stream.next(t); ev.Type != convo.EventMessageCreated || ev.subject() != conv {
			t.Errorf("stream: %v, want the message", ev)
		}
	})
}
