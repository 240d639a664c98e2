package service_test

// A small world for the rule tests: a service over a real SQLite store in a
// temporary directory, a customer with an access key and agents of each
// rank, and a second customer to check tenancy against.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/service"
	"github.com/convohq/convo/sqlstore"
	"golang.org/x/crypto/bcrypt"
)

// world is one service with two customers.
type world struct {
	t   *testing.T
	ctx context.Context
	s   *service.Service

	// key, admin, manager, agent and other are callers of the first
	// customer; other is a second plain agent.
	key, admin, manager, agent, other *convo.Caller
	// stranger is the access key of the second customer.
	stranger *convo.Caller
}

// worldCounter keeps usernames and numbers unique within a test binary.
var worldCounter atomic.Int64

func unique(prefix string) string { return fmt.Sprintf("%s-%d", prefix, worldCounter.Add(1)) }

func uniquePhone() string { return fmt.Sprintf("+1555%07d", worldCounter.Add(1)) }

// newWorld starts a service over a fresh SQLite database.
func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	store, err := sqlstore.Open(ctx, testdb.SQLite(t).DSN, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := service.New(store, convo.SystemClock{}, service.Config{
		PasswordCost: bcrypt.MinCost,
		PublicURL:    "https://convo.example",
		Channels:     map[string]convo.Channel{convo.AccountSMS: testChannel{}},
	})
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	jobsDone := make(chan struct{})
	go func() {
		defer close(jobsDone)
		s.RunJobs(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-jobsDone
		store.Close()
	})
	w := &world{t: t, ctx: ctx, s: s}
	w.key = w.bootstrap("first")
	w.admin = w.newAgent(w.key, convo.PermissionCustomerAdmin)
	w.manager = w.newAgent(w.key, convo.PermissionCustomerManager)
	w.agent = w.newAgent(w.key, convo.PermissionCustomerAgent)
	w.other = w.newAgent(w.key, convo.PermissionCustomerAgent)
	w.stranger = w.bootstrap("second")
	return w
}

// bootstrap creates a customer and returns its access key as a caller.
func (w *world) bootstrap(name string) *convo.Caller {
	w.t.Helper()
	res, err := w.s.Bootstrap(w.ctx, service.BootstrapInput{CustomerName: name, Username: unique(name), Password: "password-" + name})
	if err != nil {
		w.t.Fatal(err)
	}
	return w.authenticate(res.AccessKey)
}

func (w *world) authenticate(credential string) *convo.Caller {
	w.t.Helper()
	c, err := w.s.Authenticate(w.ctx, credential)
	if err != nil {
		w.t.Fatalf("authenticate: %v", err)
	}
	return c
}

// newAgent creates an agent through by and returns it logged in.
func (w *world) newAgent(by *convo.Caller, p convo.Permission) *convo.Caller {
	w.t.Helper()
	a := w.createAgent(by, p)
	res, err := w.s.Login(w.ctx, a.Username, "password-agent", "192.0.2.1")
	if err != nil {
		w.t.Fatalf("login: %v", err)
	}
	return w.authenticate(res.Token)
}

func (w *world) createAgent(by *convo.Caller, p convo.Permission) *convo.Agent {
	w.t.Helper()
	a, err := w.s.CreateAgent(w.ctx, by, agentInput(p))
	if err != nil {
		w.t.Fatalf("create agent: %v", err)
	}
	return a
}

func agentInput(p convo.Permission) service.AgentInput {
	return service.AgentInput{Username: ptr(unique("agent")), Password: ptr("password-agent"), Name: ptr("agent"), Permission: &p}
}

// account creates an SMS account of by's customer.
func (w *world) account(by *convo.Caller) *convo.Account {
	w.t.Helper()
	a, err := w.s.CreateAccount(w.ctx, by, smsAccountInput())
	if err != nil {
		w.t.Fatalf("create account: %v", err)
	}
	return a
}

func smsAccountInput() service.AccountInput {
	return service.AccountInput{Type: ptr(convo.AccountSMS), Name: ptr("sms"), Token: ptr("auth-token"),
		ProviderData: &service.ProviderDataInput{AccountSID: ptr("AC11111111111111111111111111111111"), Number: ptr(uniquePhone())}}
}

// conversation starts a conversation of by's customer with a fresh peer.
func (w *world) conversation(by *convo.Caller) *convo.Conversation {
	w.t.Helper()
	c, err := w.s.CreateConversation(w.ctx, by, service.ConversationCreate{AccountID: w.account(by).ID, Peer: convo.Address{Type: "tel", Target: uniquePhone()}})
	if err != nil {
		w.t.Fatalf("create conversation: %v", err)
	}
	return c
}

// assign makes agent the owner of a conversation.
func (w *world) assign(conv *convo.Conversation, agent *convo.Caller) {
	w.t.Helper()
	if _, err := w.s.UpdateConversation(w.ctx, w.key, conv.ID, service.ConversationUpdate{OwnerID: &agent.AgentID}); err != nil {
		w.t.Fatalf("assign: %v", err)
	}
}

func (w *world) tag(by *convo.Caller) *convo.Tag {
	w.t.Helper()
	tag, err := w.s.CreateTag(w.ctx, by, service.TagInput{Name: ptr(unique("tag"))})
	if err != nil {
		w.t.Fatalf("create tag: %v", err)
	}
	return tag
}

func (w *world) cannedResponse(by *convo.Caller) *convo.CannedResponse {
	w.t.Helper()
	r, err := w.s.CreateCannedResponse(w.ctx, by, service.CannedResponseInput{ShortCode: ptr(unique("code")), Text: ptr("text")})
	if err != nil {
		w.t.Fatalf("create canned response: %v", err)
	}
	return r
}

func (w *world) flow(by *convo.Caller, actions ...convo.Action) *convo.Flow {
	w.t.Helper()
	f, err := w.s.CreateFlow(w.ctx, by, service.FlowInput{Name: ptr(unique("flow")), Actions: &actions})
	if err != nil {
		w.t.Fatalf("create flow: %v", err)
	}
	return f
}

func ptr[T any](v T) *T { return &v }

// outcome names an error by its status and reason ("ok" for none), so that
// tables can say what a call must answer.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	return convo.ErrorStatus(err) + "/" + convo.ErrorReason(err)
}

// status is the error's status alone ("ok" for none).
func status(err error) string {
	if err == nil {
		return "ok"
	}
	return convo.ErrorStatus(err)
}

// testChannel stands in for a provider: its hook body is the JSON of a
// convo.Inbound, and every send is accepted.
type testChannel struct{}

func (testChannel) Send(context.Context, convo.SendRequest) (convo.SendResult, error) {
	return convo.SendResult{ProviderID: unique("SM"), Status: convo.MessageDone}, nil
}

func (testChannel) DisplayName(context.Context, *convo.Account, string) (string, error) {
	return "", nil
}

func (testChannel) ReadHook(_ *convo.Account, h convo.HookRequest) (*convo.Inbound, error) {
	var in convo.Inbound
	if err := json.Unmarshal(h.Body, &in); err != nil {
		return nil, convo.ErrBadPayload
	}
	return &in, nil
}

func (testChannel) VerifySubscription(*convo.Account, url.Values) (string, bool) { return "", false }

// inbound delivers a text from peer to an account through its hook.
func (w *world) inbound(acc *convo.Account, peer, text string) {
	w.t.Helper()
	in := convo.Inbound{Messages: []convo.InboundMessage{{
		InboundPeer: convo.InboundPeer{DialogID: peer, Peer: convo.Address{Type: "tel", Target: peer}},
		ProviderID:  unique("SM"), Text: text,
	}}}
	body, _ := json.Marshal(in)
	err := w.s.ReceiveHook(w.ctx, acc.ID, "/v1.0/conversation/accounts/"+acc.ID, convo.HookRequest{Kind: convo.HookMessage, Body: body, Header: func(string) string { return "" }})
	if err != nil {
		w.t.Fatalf("inbound: %v", err)
	}
}

// eventually retries check until it passes or a few seconds have gone.
func eventually(t *testing.T, check func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// takeUnassigned sets the customer's agents_take_unassigned.
func (w *world) takeUnassigned(on bool) {
	w.t.Helper()
	if _, err := w.s.UpdateOwnCustomer(w.ctx, w.key, service.CustomerInput{AgentsTakeUnassigned: &on}); err != nil {
		w.t.Fatal(err)
	}
}
