package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// This file tests --time-format rfc3339: timestamps as today's VoIPbin
// writes them, in answers, webhooks, stream events and page tokens.

// withTimeFormat starts the server with --time-format f.
func withTimeFormat(f convo.TimeFormat) serverOption {
	return withConfig(func(c *Config) { c.TimeFormat = string(f) })
}

var (
	// seedTimeAnywhere finds a seed-format timestamp anywhere in a body.
	seedTimeAnywhere = regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}`)
	// rfc3339Token is a page token in RFC 3339, maybe with its tie-breaking id.
	rfc3339Token = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z(\|[0-9a-f-]{36})?$`)
)

// checkRFC3339 checks that every timestamp in the JSON body is RFC 3339
// with microseconds and Z or null, and that no seed-format timestamp is
// left anywhere; it returns how many timestamps and nulls it saw.
func checkRFC3339(t testing.TB, what string, body []byte) (times, nulls int) {
	t.Helper()
	if m := seedTimeAnywhere.Find(body); m != nil {
		t.Errorf("%s: a seed-format timestamp %q is left in %s", what, m, body)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, body)
	}
	var walk func(key string, v any, underTime bool)
	walk = func(key string, v any, underTime bool) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(k, x, underTime || strings.HasPrefix(k, "tm_") || k == "snoozed_until" || k == "whatsapp_window_expires")
			}
		case []any:
			for _, x := range v {
				walk(key, x, underTime)
			}
		case nil:
			if underTime {
				nulls++
			}
		case string:
			switch {
			case key == "next_page_token":
				if v != "" && !rfc3339Token.MatchString(v) {
					t.Errorf("%s: next_page_token %q is not RFC 3339 (with an optional |id)", what, v)
				}
			case underTime:
				times++
				if !rfc3339TimePattern.MatchString(v) {
					t.Errorf("%s: %s is %q, not RFC 3339 with microseconds and Z", what, key, v)
				}
			}
		}
	}
	walk("", v, false)
	return times, nulls
}

// getRFC3339 asks path and checks the answer's timestamps.
func getRFC3339(t testing.TB, a *api, path string) map[string]any {
	t.Helper()
	r := a.do("GET", path, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: status %d\n%s", path, r.Status, r.Body)
	}
	if times, _ := checkRFC3339(t, "GET "+path, r.Body); times == 0 {
		t.Errorf("GET %s: no timestamp in %s", path, r.Body)
	}
	return r.JSON(t)
}

func TestTimeFormatRFC3339(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withWebhooks(), withTimeFormat(convo.TimeRFC3339))
		admin := ts.as(ts.AdminKey)
		rcv := webhooktest.New(t)
		secret := "plain-secret-" + randomKey(12)
		setWebhook(admin, "POST", rcv.URL(), secret)
		stream := dialLive(t, admin, "accesskey="+url.QueryEscape(ts.AdminKey), nil)

		account := admin.newSMSAccount()
		conv := admin.newConversation(account)
		convID := str(t, conv, "id")
		admin.ok("POST", "/v1.0/accesskeys", map[string]any{"name": "forever"})
		admin.ok("POST", "/v1.0/accesskeys", map[string]any{"name": "an hour", "expire": 3600})

		t.Run("answers", func(t *testing.T) {
			got := getRFC3339(t, admin, "/v1.0/conversations/"+convID)
			if v, ok := got["tm_delete"]; !ok || v != nil {
				t.Errorf("a live conversation's tm_delete is %v (present %v), want null", v, ok)
			}
			created, err := convo.ParseTime(str(t, got, "tm_create"))
			if err != nil || time.Since(created.Time).Abs() > time.Minute {
				t.Errorf("tm_create %v reads as %v, %v: not the moment of creation", got["tm_create"], created, err)
			}
			for _, path := range []string{"/v1.0/conversations", "/v1.0/conversation_accounts", "/v1.0/conversation_accounts/" + account,
				"/v1.0/agents", "/v1.0/accesskeys", "/v1.0/customer", "/v1.0/me", "/v1.0/audit_logs"} {
				getRFC3339(t, admin, path)
			}
			// A key that never expires has tm_expire null; its audit entry
			// shows the new tm_expire of the other in RFC 3339.
			expiries := map[string]any{}
			for _, k := range rows(t, admin.ok("GET", "/v1.0/accesskeys", nil)) {
				expiries[str(t, k, "name")] = k["tm_expire"]
			}
			if expiries["forever"] != nil || !rfc3339TimePattern.MatchString(fmt.Sprint(expiries["an hour"])) {
				t.Errorf("tm_expire of keys: %v, want null for forever and RFC 3339 for an hour", expiries)
			}
			var audited bool
			for _, e := range rows(t, admin.ok("GET", "/v1.0/audit_logs"+q("resource_type", "accesskey", "action", "created"), nil)) {
				if ch, _ := e["changes"].(map[string]any)["tm_expire"].(map[string]any); ch != nil && ch["new"] != nil {
					audited = rfc3339TimePattern.MatchString(fmt.Sprint(ch["new"]))
				}
			}
			if !audited {
				t.Error("no audit entry shows a key's tm_expire in RFC 3339")
			}
		})

		t.Run("webhook", func(t *testing.T) {
			req := rcv.WaitFor(t, convo.EventConversationCreated, convID)
			verifier, _ := standardwebhooks.NewWebhookRaw([]byte(secret))
			checkSignedRequest(t, req, "POST", secret, verifier)
			if times, nulls := checkRFC3339(t, "conversation_created webhook", req.Body); times != 2 || nulls != 4 {
				t.Errorf("webhook body has %d timestamps and %d nulls, want tm_create, tm_update, and null tm_delete, tm_last_message, snoozed_until and whatsapp_window_expires: %s", times, nulls, req.Body)
			}
			if want := admin.ok("GET", "/v1.0/conversations/"+convID, nil); !sameJSON(req.Data, webhookForm(want)) {
				t.Errorf("webhook data differs from GET:\n got %v\nwant %v", req.Data, webhookForm(want))
			}
			r := admin.do("GET", "/v1.0/webhook_deliveries", nil)
			checkRFC3339(t, "GET /v1.0/webhook_deliveries", r.Body)
			if d := deliveryByID(admin, req.ID); !sameJSON(d.Payload, req.Body) {
				t.Errorf("the delivery's payload %s is not the body sent %s", d.Payload, req.Body)
			}
		})

		t.Run("stream", func(t *testing.T) {
			evs := stream.until(t, func(e streamEvent) bool {
				return e.Type == convo.EventConversationCreated && e.subject() == convID
			})
			ev := evs[len(evs)-1]
			if !rfc3339TimePattern.MatchString(sget(ev.Data, "tm_create")) || ev.Data["tm_delete"] != nil {
				t.Errorf("stream event tm_create %v tm_delete %v, want RFC 3339 and null", ev.Data["tm_create"], ev.Data["tm_delete"])
			}
			if want := admin.ok("GET", "/v1.0/conversations/"+convID, nil); !sameJSON(ev.Data, webhookForm(want)) {
				t.Errorf("stream data differs from GET:\n got %v\nwant %v", ev.Data, webhookForm(want))
			}
		})
	})
}

// Page tokens are written in RFC 3339, with the tie-breaking id when rows
// share an instant, and are read back in either form.
func TestTimeFormatPageTokens(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		shared := time.Date(2026, 1, 15, 9, 30, 0, 123456000, time.UTC)
		clock := newSettableClock(shared.Add(-time.Hour))
		ts := startServer(t, b, withClock(clock), withTimeFormat(convo.TimeRFC3339))
		admin := ts.as(ts.AdminKey)
		account := admin.newSMSAccount()
		older := str(t, admin.newConversation(account), "id")
		clock.Set(shared)
		const n = 5
		for range n {
			admin.newConversation(account)
		}

		// walk lists every page with tokens rewritten by form; it returns the
		// ids and the tokens as the server wrote them.
		walk := func(t *testing.T, form func(string) string) (all, tokens []string) {
			token := ""
			for range n + 3 {
				path := "/v1.0/conversations" + q("page_size", "2", "page_token", form(token))
				r := admin.do("GET", path, nil)
				checkRFC3339(t, path, r.Body)
				page := r.JSON(t)
				got := ids(t, page)
				if len(got) == 0 {
					return all, tokens
				}
				all = append(all, got...)
				token = str(t, page, "next_page_token")
				tokens = append(tokens, token)
			}
			t.Fatal("paging does not end")
			return nil, nil
		}
		asWritten, tokens := walk(t, func(s string) string { return s })
		// The seed form of a token: a space for the T, no Z.
		asSeed, _ := walk(t, func(s string) string { return strings.Replace(strings.Replace(s, "T", " ", 1), "Z", "", 1) })
		if len(asWritten) != n+1 || strings.Join(asWritten, ",") != strings.Join(asSeed, ",") {
			t.Errorf("walking with RFC 3339 tokens listed %v; with their seed form %v; want the same %d rows", asWritten, asSeed, n+1)
		}
		if !strings.HasPrefix(tokens[0], "2026-01-15T09:30:00.123456Z|") {
			t.Errorf("first token %q, want the shared instant in RFC 3339 with the next row's tie-breaking id", tokens[0])
		}
		if asWritten[len(asWritten)-1] != older {
			t.Errorf("the last row is %s, want the older conversation %s", asWritten[len(asWritten)-1], older)
		}
		// Bare timestamps in either form list the rows strictly older.
		for _, token := range []string{"2026-01-15T09:30:00.123456Z", "2026-01-15 09:30:00.123456"} {
			if got := ids(t, getRFC3339(t, admin, "/v1.0/conversations"+q("page_token", token))); len(got) != 1 || got[0] != older {
				t.Errorf("page_token %q lists %v, want only %s", token, got, older)
			}
		}
		admin.fails("GET", "/v1.0/conversations"+q("page_token", "2026-01-15T09:30:00.123456Z|nope"), nil, http.StatusBadRequest, convo.ReasonInvalidToken)
	})
}

// Events are stored as they were written and rendered as they are sent:
// an event written under the seed format and delivered after a restart
// with rfc3339 arrives in RFC 3339, signed over what was sent.
func TestTimeFormatAppliesToEventsWrittenBefore(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withWebhooks())
		admin := ts.as(ts.AdminKey)
		rcv := webhooktest.New(t)
		var open atomic.Bool
		rcv.SetAnswer(func(webhooktest.Request, int) (int, http.Header) {
			if open.Load() {
				return http.StatusOK, nil
			}
			// Not again before the restart: the test retries it after.
			return webhooktest.AnswerWith(http.StatusServiceUnavailable, "Retry-After", "3600")
		})
		secret := "plain-secret-" + randomKey(12)
		setWebhook(admin, "POST", rcv.URL(), secret)
		convID := str(t, admin.newConversation(admin.newSMSAccount()), "id")
		first := rcv.WaitFor(t, convo.EventConversationCreated, convID)
		if first.Data["tm_delete"] != "9999-01-01 00:00:00.000000" {
			t.Fatalf("in the seed format the webhook body is %s", first.Body)
		}

		// The failed attempt is recorded before the restart; otherwise its
		// lease would hold the event past the test's wait.
		eventually(t, 10*time.Second, func() error {
			if d := deliveryByID(admin, first.ID); d.Status != convo.DeliveryFailed {
				return fmt.Errorf("event %s is %s, want failed", first.ID, d.Status)
			}
			return nil
		})
		ts.restart(t, withTimeFormat(convo.TimeRFC3339))
		admin = ts.as(ts.AdminKey)
		open.Store(true)
		admin.ok("POST", "/v1.0/webhook_deliveries/"+first.ID+"/retry", nil)
		var delivered webhooktest.Request
		eventually(t, 10*time.Second, func() error {
			if got := rcv.ByID(first.ID); len(got) > 1 {
				delivered = got[len(got)-1]
				return nil
			}
			return fmt.Errorf("event %s was not delivered again after the restart; got %s", first.ID, rcv.Summary())
		})
		checkRFC3339(t, "the webhook after the restart", delivered.Body)
		verifier, _ := standardwebhooks.NewWebhookRaw([]byte(secret))
		checkSignedRequest(t, delivered, "POST", secret, verifier)
		if delivered.Data["tm_delete"] != nil || !sameJSON(delivered.Data, webhookForm(admin.ok("GET", "/v1.0/conversations/"+convID, nil))) {
			t.Errorf("delivered data %v, want the conversation as GET shows it now", delivered.Data)
		}
	})
}

// A time format convo does not know stops the server before it starts.
func TestTimeFormatRefused(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(convoBinary(t), "serve", "--listen", "127.0.0.1:0", "--database", "sqlite:"+filepath.Join(dir, "convo.db"))
	cmd.Env = commandEnv("CONVO_TIME_FORMAT=RFC3339")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("convo serve with CONVO_TIME_FORMAT=RFC3339 exited 0:\n%s", out)
	}
	if want := `--time-format (CONVO_TIME_FORMAT): time format must be "seed" or "rfc3339", not "RFC3339"`; !strings.Contains(string(out), want) {
		t.Errorf("output does not say %q:\n%s", want, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "convo.db")); err == nil {
		t.Error("the refused start created its database")
	}
}
