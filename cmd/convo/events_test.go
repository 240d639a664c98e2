package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
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

// checkSignedRequest checks the envelope and both signatures of a webhook.
func checkSignedRequest(t testing.TB, r webhooktest.Request, method, secret string, verifier *standardwebhooks.Webhook) {
	t.Helper()
	if r.Method != method {
		t.Errorf("%s: method %s, want %s", r.Type, r.Method, method)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", r.Type, r.Header.Get("Content-Type"))
	}
	if ua := r.Header.Get("User-Agent"); !strings.Contains(strings.ToLower(ua), "convo") || !strings.Contains(ua, convo.Version) {
		t.Errorf("%s: User-Agent %q does not name convo and its version %s", r.Type, ua, convo.Version)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &env); err != nil {
		t.Fatalf("%s: body is not a JSON object: %v\n%s", r.Type, err, r.Body)
	}
	if keys := slices.Sorted(maps.Keys(env)); !slices.Equal(keys, []string{"data", "type"}) {
		t.Errorf("%s: body keys %v, want exactly type and data", r.Type, keys)
	}
	if err := webhooktest.CheckVoIPbinSignature(r, secret); err != nil {
		t.Errorf("%s: %v", r.Type, err)
	}
	if r.ID == "" || r.Header.Get("webhook-timestamp") == "" || r.Header.Get("webhook-signature") == "" {
		t.Errorf("%s: Standard Webhooks headers missing: %v", r.Type, r.Header)
	}
	if err := verifier.Verify(r.Body, r.Header); err != nil {
		t.Errorf("%s: Standard Webhooks verification failed: %v (headers %v)", r.Type, err, r.Header)
	}
	wrong, _ := standardwebhooks.NewWebhookRaw([]byte("not-" + secret))
	if wrong.Verify(r.Body, r.Header) == nil {
		t.Errorf("%s: the signature also verifies with a wrong key", r.Type)
	}
	tampered := bytes.Replace(r.Body, []byte(`"type"`), []byte(`"type" `), 1)
	if verifier.Verify(tampered, r.Header) == nil {
		t.Errorf("%s: the signature also verifies a changed body", r.Type)
	}
}

func TestWebhookSignatures(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withWebhooks())
		rcv := webhooktest.New(t)
		admin := ts.as(ts.AdminKey)

		key := make([]byte, 32)
		rand.Read(key)
		whsec := "whsec_" + base64.StdEncoding.EncodeToString(key)
		raw := "plain-secret-" + randomKey(12)
		rawVerifier, _ := standardwebhooks.NewWebhookRaw([]byte(raw))
		whsecVerifier, err := standardwebhooks.NewWebhook(whsec)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name, method, secret string
			verifier             *standardwebhooks.Webhook
		}{
			{"raw secret, POST", "POST", raw, rawVerifier},
			{"whsec secret, PUT", "PUT", whsec, whsecVerifier},
		} {
			t.Run(c.name, func(t *testing.T) {
				setWebhook(admin, c.method, rcv.URL(), c.secret)
				acc := newSMSHookAccount(admin)
				conv := admin.newConversation(acc.ID)
				convID := sget(conv, "id")

				accReq := rcv.WaitFor(t, convo.EventAccountCreated, acc.ID)
				convReq := rcv.WaitFor(t, convo.EventConversationCreated, convID)
				checkSignedRequest(t, accReq, c.method, c.secret, c.verifier)
				checkSignedRequest(t, convReq, c.method, c.secret, c.verifier)

				if got := admin.ok("GET", "/v1.0/conversation_accounts/"+acc.ID, nil); !sameJSON(accReq.Data, got) {
					t.Errorf("account_created data differs from GET:\n got %v\nwant %v", accReq.Data, got)
				}
				got := admin.ok("GET", "/v1.0/conversations/"+convID, nil)
				if got["owner_id"] != convo.NilID {
					t.Fatalf("a new conversation has owner_id %v", got["owner_id"])
				}
				if !sameJSON(convReq.Data, webhookForm(got)) || convReq.Data["owner_id"] != "" {
					t.Errorf("conversation_created data differs from GET (with owner_id \"\"):\n got %v\nwant %v", convReq.Data, webhookForm(got))
				}
				// The webhook-id names the event in /webhook_deliveries.
				if d := deliveryByID(admin, convReq.ID); d.Type != convo.EventConversationCreated || !sameJSON(d.Payload, convReq.Body) {
					t.Errorf("delivery %s: type %s payload %s, want the webhook's %s", d.ID, d.Type, d.Payload, convReq.Body)
				}
				if c.secret == whsec {
					// The whsec_ form keys with the decoded bytes, not the text.
					literal, _ := standardwebhooks.NewWebhookRaw([]byte(whsec))
					if literal.Verify(convReq.Body, convReq.Header) == nil {
						t.Error("a whsec_ secret was used as literal text, not as its base64-decoded key")
					}
				}
			})
		}

		t.Run("no secret, no signatures", func(t *testing.T) {
			setWebhook(admin, "POST", rcv.URL(), "")
			acc := newSMSHookAccount(admin)
			r := rcv.WaitFor(t, convo.EventAccountCreated, acc.ID)
			if r.Header.Get("X-VoIPBIN-Signature") != "" || r.Header.Get("webhook-signature") != "" {
				t.Errorf("a customer without a secret got signature headers: %v", r.Header)
			}
			if got := admin.ok("GET", "/v1.0/conversation_accounts/"+acc.ID, nil); !sameJSON(r.Data, got) {
				t.Errorf("account_created data differs from GET:\n got %v\nwant %v", r.Data, got)
			}
			if sec := admin.ok("GET", "/v1.0/customer", nil); sec["webhook_secret"] != nil {
				t.Errorf("GET /customer shows webhook_secret: %v", sec)
			}
		})
	})
}

// wantEvent is an event a change must write.
type wantEvent struct {
	Type string
	Data map[string]any
	// IgnoreUpdateTime skips tm_update in the comparison (see its use).
	IgnoreUpdateTime bool
}

func TestEventsForEveryChange(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		tw := fakeprovider.NewTwilio(t)
		ts := startServer(t, b, withWebhooks(), withTwilioAt(tw.URL()))
		rcv := webhooktest.New(t)
		admin := ts.as(ts.AdminKey)
		setWebhook(admin, "POST", rcv.URL(), "every-change")
		agentID, _ := admin.newAgent(convo.PermissionCustomerAgent)

		var want []wantEvent
		// expect checks, right after a change answered, that exactly the
		// events wanted so far are stored: each change writes its events in
		// its own transaction, and no-ops write none.
		expect := func(what string, events ...wantEvent) {
			t.Helper()
			want = append(want, events...)
			got := oldestFirst(listDeliveries(admin, nil))
			if len(got) != len(want) {
				var types []string
				for _, d := range got {
					types = append(types, d.Type)
				}
				t.Fatalf("after %s: %d events %v, want %d", what, len(got), types, len(want))
			}
			for i, w := range want {
				d := got[i]
				data := d.data(t)
				if w.IgnoreUpdateTime {
					data, w.Data = maps.Clone(data), maps.Clone(w.Data)
					delete(data, "tm_update")
					delete(w.Data, "tm_update")
				}
				if d.Type != w.Type || !sameJSON(data, w.Data) {
					t.Fatalf("after %s: event %d is %s %s\nwant %s %v", what, i, d.Type, d.Payload, w.Type, w.Data)
				}
			}
		}

		acc := newSMSHookAccount(admin)
		tw.AddNumber(smsHookAccountSID, acc.Token, acc.Number)
		expect("creating an account", wantEvent{convo.EventAccountCreated, admin.ok("GET", "/v1.0/conversation_accounts/"+acc.ID, nil), false})
		expect("updating an account", wantEvent{convo.EventAccountUpdated,
			admin.ok("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"name": "renamed"}), false})

		conv := admin.newConversation(acc.ID)
		convID := sget(conv, "id")
		expect("creating a conversation", wantEvent{convo.EventConversationCreated, webhookForm(conv), false})
		renamed := admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"name": "first thread"})
		expect("renaming a conversation", wantEvent{convo.EventConversationUpdated, webhookForm(renamed), false})
		if same := admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{}); !sameJSON(same, renamed) {
			t.Errorf("an empty PUT changed the conversation:\n%v\n%v", same, renamed)
		}
		expect("an empty PUT")
		admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"name": "first thread"})
		expect("a PUT that sets the same name")
		assigned := admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"owner_id": agentID})
		if assigned["owner_id"] != agentID || assigned["owner_type"] != "agent" {
			t.Fatalf("assigning answered %v", assigned)
		}
		expect("assigning", wantEvent{convo.EventConversationUpdated, webhookForm(assigned), false})
		unassigned := admin.ok("POST", "/v1.0/conversations/"+convID+"/unassign", nil)
		expect("unassigning", wantEvent{convo.EventConversationUpdated, webhookForm(unassigned), false})
		if w := want[len(want)-1].Data; w["owner_id"] != "" || w["owner_type"] != "" {
			t.Fatalf("unassigned conversation in webhook form: %v", w)
		}
		admin.ok("POST", "/v1.0/conversations/"+convID+"/unassign", nil)
		expect("unassigning an unassigned conversation")

		// Outgoing SMS: created progressing, then the status callback marks it done.
		sent := admin.ok("POST", "/v1.0/conversations/"+convID+"/messages", map[string]any{"text": "hello from the business"})
		if sent["status"] != "progressing" {
			t.Fatalf("sent SMS: status %v, want progressing until the provider reports", sent["status"])
		}
		progressing := maps.Clone(sent)
		// Recording the provider's message id moves tm_update after the
		// event was written; every other field is as created.
		expect("sending a message", wantEvent{convo.EventMessageCreated, progressing, true})
		sends := tw.Sent()
		if len(sends) == 0 {
			t.Fatal("nothing was sent to the fake Twilio")
		}
		sid, callback := sends[len(sends)-1].SID, sends[len(sends)-1].StatusCallback
		if callback == "" {
			t.Fatal("the send had no StatusCallback")
		}
		code, err := postSigned(http.DefaultClient, callback, acc.Token, url.Values{"MessageSid": {sid}, "MessageStatus": {"delivered"}})
		if err != nil || code != http.StatusOK {
			t.Fatalf("status callback: %d %v", code, err)
		}
		msgs := ids(t, admin.ok("GET", "/v1.0/conversations/"+convID+"/messages", nil))
		done := admin.ok("GET", "/v1.0/conversations/"+convID+"/messages?page_size=1", nil)["result"].([]any)[0].(map[string]any)
		if len(msgs) != 1 || done["status"] != "done" {
			t.Fatalf("after the delivered callback: messages %v, last %v", msgs, done)
		}
		expect("the delivered status callback", wantEvent{convo.EventMessageUpdated, done, false})
		postSigned(http.DefaultClient, callback, acc.Token, url.Values{"MessageSid": {sid}, "MessageStatus": {"sent"}})
		expect("a status callback that would move the message backwards")

		// Inbound SMS from a new peer: a conversation and its first message.
		peer := uniquePhone()
		inboundSMS(t, acc, "SMin"+randomKey(8), peer, "hi from a customer")
		list := admin.ok("GET", "/v1.0/conversations?dialog_id="+url.QueryEscape(peer), nil)["result"].([]any)
		if len(list) != 1 {
			t.Fatalf("inbound SMS: %d conversations with the peer", len(list))
		}
		inConv := list[0].(map[string]any)
		inMsgs := admin.ok("GET", "/v1.0/conversations/"+sget(inConv, "id")+"/messages", nil)["result"].([]any)
		if len(inMsgs) != 1 {
			t.Fatalf("inbound SMS: %d messages", len(inMsgs))
		}
		expect("an inbound SMS from a new peer",
			wantEvent{convo.EventConversationCreated, webhookForm(inConv), false},
			wantEvent{convo.EventMessageCreated, inMsgs[0].(map[string]any), false})
		inboundSMS(t, acc, "SMin"+randomKey(8), peer, "and another")
		second := admin.ok("GET", "/v1.0/conversations/"+sget(inConv, "id")+"/messages?page_size=1", nil)["result"].([]any)[0].(map[string]any)
		expect("an inbound SMS in an existing conversation", wantEvent{convo.EventMessageCreated, second, false})

		deleted := admin.ok("DELETE", "/v1.0/conversations/"+convID, nil)
		expect("deleting a conversation", wantEvent{convo.EventConversationDeleted, webhookForm(deleted), false})
		accDeleted := admin.ok("DELETE", "/v1.0/conversation_accounts/"+acc.ID, nil)
		expect("deleting an account", wantEvent{convo.EventAccountDeleted, accDeleted, false})

		// Every stored event reaches the receiver with the stored body.
		stored := oldestFirst(listDeliveries(admin, nil))
		eventually(t, 10*time.Second, func() error {
			for _, d := range stored {
				if len(rcv.ByID(d.ID)) == 0 {
					return fmt.Errorf("event %s (%s) not received; got %s", d.ID, d.Type, rcv.Summary())
				}
			}
			return nil
		})
		for _, d := range stored {
			r := rcv.ByID(d.ID)[0]
			if r.Type != d.Type || !sameJSON(r.Body, d.Payload) {
				t.Errorf("event %s: received %s, stored %s", d.ID, r.Body, d.Payload)
			}
		}
	})
}

func TestWebhookRetries(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withWebhooks())
		rcv := webhooktest.New(t)
		admin := ts.as(ts.AdminKey)
		setWebhook(admin, "POST", rcv.URL(), "retry-secret")
		acc := newSMSHookAccount(admin)

		t.Run("failures are retried with one webhook-id", func(t *testing.T) {
			peer := uniquePhone()
			rcv.SetAnswer(func(r webhooktest.Request, earlier int) (int, http.Header) {
				if r.Type == convo.EventConversationCreated && r.Peer() == peer && earlier < 3 {
					return webhooktest.AnswerWith(http.StatusInternalServerError)
				}
				return webhooktest.AnswerWith(http.StatusOK)
			})
			defer rcv.SetAnswer(nil)
			conv := admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": peer}})
			convID := sget(conv, "id")
			// Later events of the conversation are answered 200 at once.
			var updated []map[string]any
			for i := range 5 {
				updated = append(updated, webhookForm(admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"name": fmt.Sprintf("name %d", i)})))
			}
			updated = append(updated, webhookForm(admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"detail": "last"})))
			eventually(t, 10*time.Second, func() error {
				for _, r := range rcv.Find(convo.EventConversationUpdated, convID) {
					if r.Data["detail"] == "last" {
						return nil
					}
				}
				return fmt.Errorf("the last update has not arrived; got %s", rcv.Summary())
			})
			created := rcv.Find(convo.EventConversationCreated, convID)
			if len(created) != 4 {
				t.Fatalf("conversation_created arrived %d times, want 4 (3 failures, then success)", len(created))
			}
			for _, r := range created[1:] {
				if r.ID != created[0].ID || !bytes.Equal(r.Body, created[0].Body) {
					t.Errorf("a retry changed the webhook: id %s body %s, first id %s body %s", r.ID, r.Body, created[0].ID, created[0].Body)
				}
			}
			d := deliveryByID(admin, created[0].ID)
			var codes []int
			for _, a := range d.Attempts {
				codes = append(codes, a.HTTPStatus)
			}
			if d.Status != convo.DeliveryDelivered || d.AttemptCount != 4 || !slices.Equal(codes, []int{500, 500, 500, 200}) {
				t.Errorf("delivery after 3 failures: status %s, %d attempts %v, want delivered after 500,500,500,200", d.Status, d.AttemptCount, codes)
			}
			// A receiver answering 200 gets each event once: count over a
			// quiet period after the last expected event.
			time.Sleep(300 * time.Millisecond)
			updates := rcv.Find(convo.EventConversationUpdated, convID)
			if len(updates) != len(updated) {
				t.Fatalf("%d updates answered 200 arrived %d times", len(updated), len(updates))
			}
			for i, r := range updates {
				// In commit order, each after the created event succeeded.
				if !sameJSON(r.Data, updated[i]) {
					t.Errorf("update %d arrived as %v, want %v", i, r.Data, updated[i])
				}
				if !r.At.After(created[3].At) {
					t.Errorf("update %d arrived before its conversation_created succeeded", i)
				}
			}
			if got := len(rcv.Find(convo.EventConversationCreated, convID)); got != 4 {
				t.Errorf("conversation_created arrived %d times after success, want 4", got)
			}
			if got := len(rcv.Find(convo.EventAccountCreated, acc.ID)); got != 1 {
				t.Errorf("account_created answered 200 arrived %d times", got)
			}
		})

		t.Run("Retry-After is honoured", func(t *testing.T) {
			conv := admin.newConversation(acc.ID)
			convID := sget(conv, "id")
			rcv.SetAnswer(func(r webhooktest.Request, earlier int) (int, http.Header) {
				if r.Type == convo.EventConversationUpdated && r.Subject() == convID && earlier == 0 {
					return webhooktest.AnswerWith(http.StatusServiceUnavailable, "Retry-After", "1")
				}
				return webhooktest.AnswerWith(http.StatusOK)
			})
			defer rcv.SetAnswer(nil)
			admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"name": "busy receiver"})
			var got []webhooktest.Request
			eventually(t, 10*time.Second, func() error {
				if got = rcv.Find(convo.EventConversationUpdated, convID); len(got) < 2 {
					return fmt.Errorf("the update arrived %d times, want a retry", len(got))
				}
				return nil
			})
			if gap := got[1].At.Sub(got[0].At); gap < 900*time.Millisecond {
				t.Errorf("the retry came %v after a 503 with Retry-After: 1", gap)
			}
			var d hookDelivery
			eventually(t, 5*time.Second, func() error {
				if d = deliveryByID(admin, got[0].ID); d.Status != convo.DeliveryDelivered || len(d.Attempts) != 2 {
					return fmt.Errorf("delivery %s: status %s with %d attempts", d.ID, d.Status, len(d.Attempts))
				}
				return nil
			})
			first, err1 := convo.ParseTime(d.Attempts[0].TMAttempt)
			second, err2 := convo.ParseTime(d.Attempts[1].TMAttempt)
			if err1 != nil || err2 != nil {
				t.Fatalf("attempt times %q %q: %v %v", d.Attempts[0].TMAttempt, d.Attempts[1].TMAttempt, err1, err2)
			}
			if gap := second.Sub(first.Time); gap < time.Second {
				t.Errorf("attempts %s and %s are %v apart after Retry-After: 1", d.Attempts[0].TMAttempt, d.Attempts[1].TMAttempt, gap)
			}
			if d.Attempts[0].HTTPStatus != 503 || d.Attempts[1].HTTPStatus != 200 {
				t.Errorf("attempt statuses %d, %d, want 503, 200", d.Attempts[0].HTTPStatus, d.Attempts[1].HTTPStatus)
			}
		})

		t.Run("one conversation waits, others do not", func(t *testing.T) {
			// The receiver refuses everything about X until released.
			xPeer := uniquePhone()
			var blocked atomic.Bool
			blocked.Store(true)
			rcv.SetAnswer(func(r webhooktest.Request, _ int) (int, http.Header) {
				if blocked.Load() && r.Peer() == xPeer {
					return webhooktest.AnswerWith(http.StatusInternalServerError)
				}
				return webhooktest.AnswerWith(http.StatusOK)
			})
			defer rcv.SetAnswer(nil)
			x := admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": xPeer}})
			xID := sget(x, "id")
			admin.ok("PUT", "/v1.0/conversations/"+xID, map[string]any{"name": "x second"})
			admin.ok("PUT", "/v1.0/conversations/"+xID, map[string]any{"name": "x third"})
			y := admin.newConversation(acc.ID)
			yID := sget(y, "id")
			admin.ok("PUT", "/v1.0/conversations/"+yID, map[string]any{"name": "y second"})

			rcv.WaitFor(t, convo.EventConversationUpdated, yID)
			eventually(t, 10*time.Second, func() error {
				if n := len(rcv.Find(convo.EventConversationCreated, xID)); n < 2 {
					return fmt.Errorf("X's first event was tried %d times", n)
				}
				return nil
			})
			if got := rcv.Find(convo.EventConversationUpdated, xID); len(got) != 0 {
				t.Fatalf("X's later events were sent while its first event was failing: %v", got[0].Data)
			}
			xDeliveries := oldestFirst(listDeliveries(admin, url.Values{"conversation_id": {xID}}))
			if len(xDeliveries) != 3 || xDeliveries[0].Status != convo.DeliveryFailed || xDeliveries[1].Status != convo.DeliveryPending || xDeliveries[2].Status != convo.DeliveryPending {
				t.Errorf("X's deliveries while blocked: %+v", xDeliveries)
			}
			blocked.Store(false)
			eventually(t, 10*time.Second, func() error {
				got := rcv.Find(convo.EventConversationUpdated, xID)
				if len(got) != 2 {
					return fmt.Errorf("X's updates arrived %d times, want 2", len(got))
				}
				if got[0].Data["name"] != "x second" || got[1].Data["name"] != "x third" {
					return fmt.Errorf("X's updates arrived as %v then %v", got[0].Data["name"], got[1].Data["name"])
				}
				return nil
			})
			created := rcv.Find(convo.EventConversationCreated, xID)
			firstUpdate := rcv.Find(convo.EventConversationUpdated, xID)[0]
			if last := created[len(created)-1]; !firstUpdate.At.After(last.At) {
				t.Errorf("X's update arrived before its created event was delivered")
			}
		})
	})
}

func TestWebhookTargetsRefused(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		t.Run("private networks", func(t *testing.T) {
			ts := startServer(t, b, withFastEvents())
			rcv := webhooktest.New(t)
			admin := ts.as(ts.AdminKey)
			_, port, _ := strings.Cut(strings.TrimPrefix(rcv.URL(), "http://"), ":")
			for _, target := range []string{rcv.URL(), "http://localhost:" + port + "/hook"} {
				setWebhook(admin, "POST", target, "secret")
				acc := newSMSHookAccount(admin)
				var d hookDelivery
				eventually(t, 10*time.Second, func() error {
					list := listDeliveries(admin, url.Values{"type": {convo.EventAccountCreated}})
					for _, x := range list {
						if sget(x.data(t), "id") == acc.ID {
							d = x
						}
					}
					if len(d.Attempts) < 2 {
						return fmt.Errorf("the event to %s has %d attempts", target, len(d.Attempts))
					}
					return nil
				})
				if d.Status != convo.DeliveryFailed {
					t.Errorf("event to %s: status %s, want failed", target, d.Status)
				}
				for _, a := range d.Attempts {
					msg := strings.ToLower(a.Error)
					if a.HTTPStatus != 0 || !(strings.Contains(msg, "private") || strings.Contains(msg, "loopback")) {
						t.Errorf("attempt to %s: status %d error %q, want a refusal naming private/loopback networks", target, a.HTTPStatus, a.Error)
					}
				}
				if n := len(rcv.Requests()); n != 0 {
					t.Errorf("the private receiver at %s was called %d times", target, n)
				}
			}
		})

		t.Run("redirects are not followed", func(t *testing.T) {
			ts := startServer(t, freshBackend(t, b), withWebhooks())
			other := webhooktest.New(t)
			rcv := webhooktest.New(t)
			rcv.SetAnswer(func(webhooktest.Request, int) (int, http.Header) {
				return webhooktest.AnswerWith(http.StatusFound, "Location", other.URL()+"/elsewhere")
			})
			admin := ts.as(ts.AdminKey)
			setWebhook(admin, "POST", rcv.URL(), "secret")
			acc := newSMSHookAccount(admin)
			var d hookDelivery
			eventually(t, 10*time.Second, func() error {
				if reqs := rcv.Find(convo.EventAccountCreated, acc.ID); len(reqs) < 2 {
					return fmt.Errorf("the redirecting receiver got %d requests", len(reqs))
				}
				d = deliveryByID(admin, rcv.Find(convo.EventAccountCreated, acc.ID)[0].ID)
				if len(d.Attempts) < 2 {
					return fmt.Errorf("%d attempts recorded", len(d.Attempts))
				}
				return nil
			})
			if d.Status != convo.DeliveryFailed {
				t.Errorf("a 302 answer left the event %s, want failed", d.Status)
			}
			for _, a := range d.Attempts {
				if a.HTTPStatus != http.StatusFound {
					t.Errorf("attempt recorded with status %d, want 302", a.HTTPStatus)
				}
			}
			if n := len(other.Requests()); n != 0 {
				t.Errorf("the redirect target was called %d times", n)
			}
		})
	})
}

func TestWebhookDeliveries(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		clock := &offsetClock{}
		ts := startServer(t, b, withWebhooks(), withClock(clock))
		rcv := webhooktest.New(t)
		admin := ts.as(ts.AdminKey)
		setWebhook(admin, "POST", rcv.URL(), "deliveries")

		// Everything about a conversation with the refused peer fails with
		// a long Retry-After.
		var refused atomic.Value
		refused.Store("")
		rcv.SetAnswer(func(r webhooktest.Request, _ int) (int, http.Header) {
			if p := refused.Load().(string); p != "" && r.Peer() == p {
				return webhooktest.AnswerWith(http.StatusServiceUnavailable, "Retry-After", "3600")
			}
			return webhooktest.AnswerWith(http.StatusOK)
		})
		acc := newSMSHookAccount(admin)
		conv1 := sget(admin.newConversation(acc.ID), "id")
		admin.ok("PUT", "/v1.0/conversations/"+conv1, map[string]any{"name": "one"})
		peer2 := uniquePhone()
		refused.Store(peer2)
		conv2 := sget(admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": peer2}}), "id")
		admin.ok("PUT", "/v1.0/conversations/"+conv2, map[string]any{"name": "two"})

		var failedEvent hookDelivery
		eventually(t, 10*time.Second, func() error {
			for _, d := range listDeliveries(admin, url.Values{"conversation_id": {conv1}}) {
				if d.Status != convo.DeliveryDelivered {
					return fmt.Errorf("conv1's %s is %s", d.Type, d.Status)
				}
			}
			// The account's event travels on a stream of its own.
			for _, d := range listDeliveries(admin, url.Values{"type": {convo.EventAccountCreated}}) {
				if d.Status != convo.DeliveryDelivered {
					return fmt.Errorf("the account's %s is %s", d.Type, d.Status)
				}
			}
			conv2Events := oldestFirst(listDeliveries(admin, url.Values{"conversation_id": {conv2}}))
			if len(conv2Events) != 2 || conv2Events[0].Status != convo.DeliveryFailed {
				return fmt.Errorf("conv2's events: %+v", conv2Events)
			}
			if conv2Events[1].Status != convo.DeliveryPending {
				t.Errorf("conv2's update is %s while its first event is failing, want pending", conv2Events[1].Status)
			}
			failedEvent = conv2Events[0]
			return nil
		})

		t.Run("admin only", func(t *testing.T) {
			_, agentToken := admin.newAgent(convo.PermissionCustomerAgent)
			ts.as(agentToken).fails("GET", "/v1.0/webhook_deliveries", nil, http.StatusForbidden, "")
			ts.as(agentToken).fails("POST", "/v1.0/webhook_deliveries/"+failedEvent.ID+"/retry", nil, http.StatusForbidden, "")
			ts.as("").fails("GET", "/v1.0/webhook_deliveries", nil, http.StatusUnauthorized, "")
		})

		t.Run("filters", func(t *testing.T) {
			all := listDeliveries(admin, nil)
			if len(all) != 5 {
				t.Fatalf("%d events, want 5 (an account and two conversations, each created and updated)", len(all))
			}
			check := func(query url.Values, keep func(hookDelivery) bool) {
				t.Helper()
				var want []string
				for _, d := range all {
					if keep(d) {
						want = append(want, d.ID)
					}
				}
				var got []string
				for _, d := range listDeliveries(admin, query) {
					got = append(got, d.ID)
				}
				if len(want) == 0 || !slices.Equal(got, want) {
					t.Errorf("filter %v: got %v, want %v (non-empty)", query, got, want)
				}
			}
			check(url.Values{"status": {"failed"}}, func(d hookDelivery) bool { return d.ID == failedEvent.ID })
			check(url.Values{"status": {"pending"}}, func(d hookDelivery) bool {
				return d.ConversationID == conv2 && d.Type == convo.EventConversationUpdated
			})
			check(url.Values{"status": {"delivered"}}, func(d hookDelivery) bool { return d.Status == convo.DeliveryDelivered })
			check(url.Values{"type": {convo.EventConversationUpdated}}, func(d hookDelivery) bool { return d.Type == convo.EventConversationUpdated })
			check(url.Values{"conversation_id": {conv1}}, func(d hookDelivery) bool { return d.ConversationID == conv1 })
			check(url.Values{"conversation_id": {conv1}, "type": {convo.EventConversationCreated}}, func(d hookDelivery) bool {
				return d.ConversationID == conv1 && d.Type == convo.EventConversationCreated
			})
			check(url.Values{"type": {convo.EventAccountCreated}, "status": {"delivered"}}, func(d hookDelivery) bool { return d.Type == convo.EventAccountCreated })
			admin.fails("GET", "/v1.0/webhook_deliveries?status=bogus", nil, http.StatusBadRequest, "")
			admin.fails("GET", "/v1.0/webhook_deliveries?conversation_id=not-a-uuid", nil, http.StatusBadRequest, "")
			if got := listDeliveries(admin, url.Values{"page_size": {"2"}}); len(got) != len(all) {
				t.Errorf("paging by 2 lists %d events, want %d", len(got), len(all))
			}
		})

		t.Run("attempts", func(t *testing.T) {
			d := deliveryByID(admin, failedEvent.ID)
			if d.AttemptCount < 1 || len(d.Attempts) != d.AttemptCount || d.LastError == "" {
				t.Fatalf("failed delivery: %+v", d)
			}
			for _, a := range d.Attempts {
				if _, err := convo.ParseTime(a.TMAttempt); err != nil || a.TMAttempt == "9999-01-01 00:00:00.000000" {
					t.Errorf("tm_attempt %q: %v", a.TMAttempt, err)
				}
				if a.HTTPStatus != http.StatusServiceUnavailable || a.Error == "" || a.LatencyMS == nil || *a.LatencyMS < 0 {
					t.Errorf("attempt %+v, want http_status 503, an error and latency_ms", a)
				}
			}
			ok := deliveryByID(admin, rcv.Find(convo.EventConversationUpdated, conv1)[0].ID)
			if ok.Status != convo.DeliveryDelivered || len(ok.Attempts) != 1 || ok.Attempts[0].HTTPStatus != 200 || ok.Attempts[0].Error != "" || ok.Attempts[0].LatencyMS == nil {
				t.Errorf("delivered event: %+v", ok)
			}
		})

		t.Run("tenancy", func(t *testing.T) {
			super := loginAdmin(t, ts)
			_, otherKey := super.newCustomer()
			other := ts.as(otherKey)
			otherAcc := newSMSHookAccount(other)
			theirs := listDeliveries(other, nil)
			if len(theirs) != 1 || theirs[0].Type != convo.EventAccountCreated || sget(theirs[0].data(t), "id") != otherAcc.ID {
				t.Errorf("the other customer lists %+v, want only its own account_created", theirs)
			}
			if got := listDeliveries(other, url.Values{"conversation_id": {conv1}}); len(got) != 0 {
				t.Errorf("the other customer sees %d events of our conversation", len(got))
			}
			other.fails("POST", "/v1.0/webhook_deliveries/"+failedEvent.ID+"/retry", nil, http.StatusNotFound, "")
			for _, d := range listDeliveries(admin, nil) {
				if d.ID == theirs[0].ID {
					t.Error("our list shows the other customer's event")
				}
			}
		})

		t.Run("retry", func(t *testing.T) {
			admin.fails("POST", "/v1.0/webhook_deliveries/"+convo.NewID()+"/retry", nil, http.StatusNotFound, "")
			delivered := rcv.Find(convo.EventConversationUpdated, conv1)[0].ID
			admin.fails("POST", "/v1.0/webhook_deliveries/"+delivered+"/retry", nil, http.StatusConflict, "")

			before := len(rcv.ByID(failedEvent.ID))
			firstID := rcv.ByID(failedEvent.ID)[0].ID
			refused.Store("")
			// Without the retry the next attempt is an hour away.
			admin.ok("POST", "/v1.0/webhook_deliveries/"+failedEvent.ID+"/retry", nil)
			eventually(t, 10*time.Second, func() error {
				if d := deliveryByID(admin, failedEvent.ID); d.Status != convo.DeliveryDelivered {
					return fmt.Errorf("retried event is %s", d.Status)
				}
				return nil
			})
			got := rcv.ByID(failedEvent.ID)
			if len(got) != before+1 || got[len(got)-1].ID != firstID {
				t.Errorf("after retry the event arrived %d times (before %d)", len(got), before)
			}
			// conv2's later event was waiting behind it and follows.
			eventually(t, 10*time.Second, func() error {
				for _, d := range listDeliveries(admin, url.Values{"conversation_id": {conv2}}) {
					if d.Status != convo.DeliveryDelivered {
						return fmt.Errorf("conv2 event %s is %s", d.Type, d.Status)
					}
				}
				return nil
			})
		})

		t.Run("retry a dead event", func(t *testing.T) {
			peer3 := uniquePhone()
			refused.Store(peer3)
			rcv.SetAnswer(func(r webhooktest.Request, _ int) (int, http.Header) {
				if p := refused.Load().(string); p != "" && r.Peer() == p {
					return webhooktest.AnswerWith(http.StatusInternalServerError)
				}
				return webhooktest.AnswerWith(http.StatusOK)
			})
			conv3 := sget(admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": peer3}}), "id")
			var id string
			eventually(t, 10*time.Second, func() error {
				got := rcv.Find(convo.EventConversationCreated, conv3)
				if len(got) < 2 {
					return fmt.Errorf("conv3 tried %d times", len(got))
				}
				id = got[0].ID
				return nil
			})
			// A day later than its creation, the next failure gives up.
			clock.advance(26 * time.Hour)
			eventually(t, 10*time.Second, func() error {
				if d := deliveryByID(admin, id); d.Status != convo.DeliveryDead {
					return fmt.Errorf("event %s after 26 h of failures is %s", id, d.Status)
				}
				return nil
			})
			listedDead := func() bool {
				return slices.ContainsFunc(listDeliveries(admin, url.Values{"status": {convo.DeliveryDead}}), func(d hookDelivery) bool { return d.ID == id })
			}
			if !listedDead() {
				t.Errorf("the dead event %s is not listed by status=dead", id)
			}
			before := len(rcv.ByID(id))
			refused.Store("")
			retried := admin.ok("POST", "/v1.0/webhook_deliveries/"+id+"/retry", nil)
			if retried["id"] != id || (retried["status"] != convo.DeliveryFailed && retried["status"] != convo.DeliveryPending) {
				t.Errorf("retry answered %v", retried)
			}
			eventually(t, 10*time.Second, func() error {
				if d := deliveryByID(admin, id); d.Status != convo.DeliveryDelivered {
					return fmt.Errorf("retried dead event is %s", d.Status)
				}
				return nil
			})
			if got := rcv.ByID(id); len(got) != before+1 || got[len(got)-1].Type != convo.EventConversationCreated {
				t.Errorf("the retried dead event arrived %d times (before %d)", len(got), before)
			}
			if listedDead() {
				t.Errorf("the retried and delivered event %s is still listed by status=dead", id)
			}
			admin.fails("POST", "/v1.0/webhook_deliveries/"+id+"/retry", nil, http.StatusConflict, "")
		})
	})
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
