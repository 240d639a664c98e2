package main

// End-to-end tests of flows and activeflows (PRODUCT.md §7): a flow runs on
// the inbound SMS of the accounts that name it, and replies through the fake
// Twilio (internal/fakeprovider), on every backend.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/fakeprovider"
	"github.com/convohq/convo/internal/testdb"
)

// ---------------------------------------------------------------- environment

// flowEnv is a server whose provider clients talk to fakes.
type flowEnv struct {
	ts    *testServer
	tw    *fakeprovider.Twilio
	admin *api
}

// withFlowWebhooks lets webhook_send reach a receiver on 127.0.0.1 and
// retries a failed delivery after about 50ms.
func withFlowWebhooks() serverOption {
	return func(m *Main) {
		m.Config.WebhookAllowPrivate = true
		m.Config.WebhookRetryBase = 50 * time.Millisecond
	}
}

func newFlowEnv(t *testing.T, b testdb.Backend, opts ...serverOption) *flowEnv {
	t.Helper()
	l, wa, tw := fakeprovider.NewLine(t), fakeprovider.NewWhatsApp(t), fakeprovider.NewTwilio(t)
	opts = append([]serverOption{withProviders(l, wa, tw), withSending(2*time.Second, 10*time.Millisecond, 20*time.Millisecond)}, opts...)
	ts := startServer(t, b, opts...)
	return &flowEnv{ts: ts, tw: tw, admin: ts.as(ts.AdminKey)}
}

// superAdmin logs in as the first-start agent, a project super-admin.
func (e *flowEnv) superAdmin(t *testing.T) *api {
	t.Helper()
	r := call(t, "POST", e.ts.URL()+"/v1.0/auth/login", "", map[string]any{"username": "admin", "password": e.ts.AdminPassword})
	if r.Status != http.StatusOK {
		t.Fatalf("login admin: %d %s", r.Status, r.Body)
	}
	return &api{t: t, base: e.ts.URL(), cred: r.JSON(t)["token"].(string)}
}

// flowSMS is an SMS account and the credentials the fake Twilio knows it by.
type flowSMS struct {
	ID, Hook, SID, Token, Number string
}

// newFlowSMS creates an SMS account of a's customer that runs flowID ("":
// none) and registers it with the fake Twilio.
func newFlowSMS(a *api, tw *fakeprovider.Twilio, flowID string) *flowSMS {
	a.t.Helper()
	acc := &flowSMS{SID: "AC" + randomHexString(16), Token: "token-" + randomHexString(8), Number: uniquePhone()}
	tw.AddNumber(acc.SID, acc.Token, acc.Number)
	body := map[string]any{"type": "sms", "name": "sms", "detail": "flow test", "token": acc.Token,
		"provider_data": map[string]any{"account_sid": acc.SID, "number": acc.Number}}
	if flowID != "" {
		body["message_flow_id"] = flowID
	}
	got := a.ok("POST", "/v1.0/conversation_accounts", body)
	acc.ID, acc.Hook = got["id"].(string), got["hook_url"].(string)
	want := flowID
	if want == "" {
		want = convo.NilID
	}
	if got["message_flow_id"] != want {
		a.t.Fatalf("account message_flow_id is %v, want %s", got["message_flow_id"], want)
	}
	return acc
}

// flowTwilioPost posts form to target signed as Twilio does.
func flowTwilioPost(t testing.TB, target, authToken string, form url.Values) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilioSign(authToken, target, form))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", target, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return &response{Status: res.StatusCode, Header: res.Header, Body: body}
}

// flowInbound delivers an SMS from peer to the account, as Twilio does.
func flowInbound(t testing.TB, acc *flowSMS, peer, text string) {
	t.Helper()
	form := url.Values{"MessageSid": {"SM" + randomHexString(16)}, "AccountSid": {acc.SID}, "From": {peer},
		"To": {acc.Number}, "Body": {text}, "NumMedia": {"0"}, "SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"}}
	if r := flowTwilioPost(t, acc.Hook, acc.Token, form); r.Status != http.StatusOK {
		t.Fatalf("inbound SMS: status %d, want 200\n%s", r.Status, r.Body)
	}
}

// ---------------------------------------------------------------- flows

// flowAction is one action of a flow to create; option may be nil.
func flowAction(id, typ string, option map[string]any) map[string]any {
	a := map[string]any{"id": id, "type": typ}
	if option != nil {
		a["option"] = option
	}
	return a
}

// flowNext sets an action's next_id.
func flowNext(action map[string]any, nextID string) map[string]any {
	action["next_id"] = nextID
	return action
}

func flowSendAction(id, text string) map[string]any {
	return flowAction(id, convo.ActionConversationSend, map[string]any{"text": text})
}

// flowCreate creates a flow and returns its id.
func flowCreate(a *api, actions ...map[string]any) string {
	a.t.Helper()
	f := a.ok("POST", "/v1.0/flows", map[string]any{"name": unique("flow"), "detail": "test", "actions": actions})
	return f["id"].(string)
}

// flowRows returns the rows of a list answer.
func flowRows(t testing.TB, list map[string]any) []map[string]any {
	t.Helper()
	raw, ok := list["result"].([]any)
	if !ok {
		t.Fatalf("no result array in %v", list)
	}
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

// flowConversation returns the one conversation of an account with a peer.
func flowConversation(a *api, acc *flowSMS, peer string) map[string]any {
	a.t.Helper()
	list := flowRows(a.t, a.ok("GET", "/v1.0/conversations?account_id="+acc.ID+"&dialog_id="+url.QueryEscape(peer), nil))
	if len(list) != 1 {
		a.t.Fatalf("%d conversations with %s on account %s, want 1", len(list), peer, acc.ID)
	}
	return list[0]
}

// flowActiveflows lists activeflows with a query string ("" for none).
func flowActiveflows(a *api, query string) []map[string]any {
	a.t.Helper()
	return flowRows(a.t, a.ok("GET", "/v1.0/activeflows"+query, nil))
}

// flowOnlyActiveflow returns the one activeflow of a conversation.
func flowOnlyActiveflow(a *api, convID string) map[string]any {
	a.t.Helper()
	list := flowActiveflows(a, "?reference_id="+convID)
	if len(list) != 1 {
		a.t.Fatalf("%d activeflows of conversation %s, want 1: %v", len(list), convID, list)
	}
	return list[0]
}

// flowWaitEnded waits for an activeflow to end and returns it.
func flowWaitEnded(a *api, id string) map[string]any {
	a.t.Helper()
	var af map[string]any
	eventually(a.t, 15*time.Second, func() error {
		af = a.ok("GET", "/v1.0/activeflows/"+id, nil)
		if af["status"] != convo.ActiveflowEnded {
			return fmt.Errorf("activeflow %s is %v after %v actions, want ended", id, af["status"], af["execute_count"])
		}
		return nil
	})
	return af
}

// flowExecuteCount is an activeflow's execute_count.
func flowExecuteCount(af map[string]any) int {
	n, _ := af["execute_count"].(float64)
	return int(n)
}

// flowOutgoing lists the texts of a conversation's outgoing messages, oldest first.
func flowOutgoing(a *api, convID string) []string {
	a.t.Helper()
	var out []string
	for _, m := range flowRows(a.t, a.ok("GET", "/v1.0/conversations/"+convID+"/messages", nil)) {
		if m["direction"] == convo.DirectionOutgoing {
			out = append(out, m["text"].(string))
		}
	}
	slices.Reverse(out)
	return out
}

// flowSentTo returns what the fake Twilio accepted for a peer.
func flowSentTo(tw *fakeprovider.Twilio, peer string) []fakeprovider.TwilioSend {
	var out []fakeprovider.TwilioSend
	for _, s := range tw.Sent() {
		if s.To == peer {
			out = append(out, s)
		}
	}
	return out
}

// flowBodiesTo returns the bodies sent to a peer, sorted.
func flowBodiesTo(tw *fakeprovider.Twilio, peer string) []string {
	var out []string
	for _, s := range flowSentTo(tw, peer) {
		out = append(out, s.Body)
	}
	sort.Strings(out)
	return out
}

// flowWaitBodies waits until the fake Twilio has sent exactly want to peer, in any order.
func flowWaitBodies(t testing.TB, tw *fakeprovider.Twilio, peer string, want ...string) {
	t.Helper()
	want = slices.Clone(want)
	sort.Strings(want)
	eventually(t, 15*time.Second, func() error {
		if got := flowBodiesTo(tw, peer); !slices.Equal(got, want) {
			return fmt.Errorf("sent to %s: %q, want %q", peer, got, want)
		}
		return nil
	})
}
