package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"golang.org/x/crypto/bcrypt"
)

// syncBuffer collects output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is a convo server started on port 0 for one test.
type testServer struct {
	*Main
	t      testing.TB
	Stdout *syncBuffer
	Log    *syncBuffer
	// AdminKey is the access key printed at first start (customer "default").
	AdminKey string
	// AdminPassword is the password of agent "admin" printed at first start.
	AdminPassword string
	CustomerID    string
}

// serverOption adjusts a Main before it opens.
type serverOption func(*Main)

// withClock makes the server use clock.
func withClock(c convo.Clock) serverOption { return func(m *Main) { m.Clock = c } }

var firstStartKey = regexp.MustCompile(`access key:\s+(\S+)`)
var firstStartPassword = regexp.MustCompile(`username admin, password (\S+)`)
var firstStartCustomer = regexp.MustCompile(`created customer "default" \((\S+)\)`)

// startServer opens a server on a fresh database of backend b.
func startServer(t testing.TB, b testdb.Backend, opts ...serverOption) *testServer {
	t.Helper()
	ts := &testServer{t: t, Stdout: &syncBuffer{}, Log: &syncBuffer{}}
	m := NewMain(Config{Listen: "127.0.0.1:0", Database: b.DSN, PasswordCost: bcrypt.MinCost}, ts.Stdout,
		slog.New(slog.NewJSONHandler(ts.Log, nil)))
	for _, o := range opts {
		o(m)
	}
	if err := m.Open(context.Background()); err != nil {
		t.Fatalf("open server: %v", err)
	}
	ts.Main = m
	stopChecking := checkAnswersOf(m.URL())
	t.Cleanup(func() {
		// The server running then: restart may have replaced m.
		if err := ts.Main.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
		stopChecking()
	})
	out := ts.Stdout.String()
	for re, dst := range map[*regexp.Regexp]*string{firstStartKey: &ts.AdminKey, firstStartPassword: &ts.AdminPassword, firstStartCustomer: &ts.CustomerID} {
		match := re.FindStringSubmatch(out)
		if match == nil {
			t.Fatalf("first start did not print %v; stdout:\n%s", re, out)
		}
		*dst = match[1]
	}
	return ts
}

// restart stops the server and starts it again on the same database and
// configuration, with opts applied on top; credentials stay valid.
func (ts *testServer) restart(t *testing.T, opts ...serverOption) {
	t.Helper()
	if err := ts.Main.Close(); err != nil {
		t.Fatalf("close server: %v", err)
	}
	m := NewMain(ts.Main.Config, ts.Stdout, slog.New(slog.NewJSONHandler(ts.Log, nil)))
	m.Clock = ts.Main.Clock
	m.Config.Listen, m.Config.PublicURL = "127.0.0.1:0", ""
	for _, o := range opts {
		o(m)
	}
	err := m.Open(context.Background())
	ts.Main = m
	if err != nil {
		t.Fatalf("reopen server: %v", err)
	}
	t.Cleanup(checkAnswersOf(m.URL()))
}

// response is an HTTP answer read whole.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as an object.
func (r *response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return v
}

// Decode decodes the body into v.
func (r *response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode body: %v\n%s", err, r.Body)
	}
}

// call sends a request with an optional credential (sent as a Bearer header)
// and a body (a string is sent as is, anything else as JSON).
func call(t testing.TB, method, url, credential string, body any) *response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	var problem answerProblem // an answer that httpapi/openapi.yaml does not describe
	res, err := http.DefaultClient.Do(req.WithContext(withAnswerProblem(req.Context(), &problem)))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if problem.text != "" {
		t.Errorf("%s", problem.text)
	}
	return &response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// api is a client of one server with one credential.
type api struct {
	t    testing.TB
	base string
	cred string
}

func (s *testServer) as(cred string) *api { return &api{t: s.t, base: s.URL(), cred: cred} }

func (a *api) do(method, path string, body any) *response {
	a.t.Helper()
	return call(a.t, method, a.base+path, a.cred, body)
}

// ok sends a request that must answer 200 and returns its JSON object.
func (a *api) ok(method, path string, body any) map[string]any {
	a.t.Helper()
	r := a.do(method, path, body)
	if r.Status != http.StatusOK {
		a.t.Fatalf("%s %s: status %d, want 200\n%s", method, path, r.Status, r.Body)
	}
	return r.JSON(a.t)
}

// fails sends a request that must fail with the given HTTP code and reason.
func (a *api) fails(method, path string, body any, code int, reason string) map[string]any {
	a.t.Helper()
	r := a.do(method, path, body)
	if r.Status != code {
		a.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, r.Status, code, r.Body)
	}
	e, _ := r.JSON(a.t)["error"].(map[string]any)
	if e == nil || (reason != "" && e["reason"] != reason) {
		a.t.Fatalf("%s %s: error %v, want reason %s", method, path, e, reason)
	}
	return e
}

var uniqueN atomic.Int64

// unique returns a string unique within the test binary.
func unique(prefix string) string { return fmt.Sprintf("%s%d", prefix, uniqueN.Add(1)) }

// uniquePhone returns a distinct valid E.164 number.
func uniquePhone() string { return fmt.Sprintf("+1555%07d", uniqueN.Add(1)) }

// newAgent creates an agent with a permission and returns its id and a login token.
func (a *api) newAgent(perm convo.Permission) (id, token string) {
	a.t.Helper()
	name := unique("agent")
	agent := a.ok("POST", "/v1.0/agents", map[string]any{"username": name, "password": "password-" + name, "name": name, "permission": perm})
	login := a.ok("POST", "/v1.0/auth/login", map[string]any{"username": name, "password": "password-" + name})
	return agent["id"].(string), login["token"].(string)
}

// newSMSAccount creates an SMS account and returns its id.
func (a *api) newSMSAccount() string {
	a.t.Helper()
	acc := a.ok("POST", "/v1.0/conversation_accounts", map[string]any{
		"type": "sms", "name": "sms", "detail": "test", "token": "auth-token", "secret": "",
		"provider_data": map[string]any{"account_sid": "AC" + strings.Repeat("0", 32), "number": uniquePhone()},
	})
	return acc["id"].(string)
}

// newConversation starts a conversation with a fresh peer on an account.
func (a *api) newConversation(accountID string) map[string]any {
	a.t.Helper()
	return a.ok("POST", "/v1.0/conversations", map[string]any{"account_id": accountID, "peer": map[string]any{"type": "tel", "target": uniquePhone()}})
}

// newCustomer creates another customer with an admin (as a super-admin) and
// returns the customer id and an access key of it.
func (a *api) newCustomer() (id, key string) {
	a.t.Helper()
	user := unique("admin")
	cust := a.ok("POST", "/v1.0/customers", map[string]any{"name": unique("customer"), "username": user, "password": "password-" + user})
	login := call(a.t, "POST", a.base+"/v1.0/auth/login", "", map[string]any{"username": user, "password": "password-" + user}).JSON(a.t)
	k := (&api{t: a.t, base: a.base, cred: login["token"].(string)}).ok("POST", "/v1.0/accesskeys", map[string]any{"name": "k"})
	return cust["id"].(string), k["token"].(string)
}

// ids returns the "id" of every row of a list answer.
func ids(t testing.TB, list map[string]any) []string {
	t.Helper()
	rows, ok := list["result"].([]any)
	if !ok {
		t.Fatalf("no result array in %v", list)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.(map[string]any)["id"].(string)
	}
	return out
}

// eventually retries check until it passes or a deadline passes.
func eventually(t testing.TB, within time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// walkPages lists path page by page with the query kv (page_size among
// them), following next_page_token until an empty page, and returns the ids
// in the order the pages gave them.
func (a *api) walkPages(path string, kv ...string) []string {
	a.t.Helper()
	var seen []string
	token := ""
	for range 100 {
		page := a.ok("GET", path+q(append(slices.Clone(kv), "page_token", token)...), nil)
		got := ids(a.t, page)
		if len(got) == 0 {
			return seen
		}
		seen = append(seen, got...)
		token = str(a.t, page, "next_page_token")
	}
	a.t.Fatalf("%s: paging did not end after 100 pages", path)
	return nil
}

// deleteAndCheckGone deletes the resource base/id and checks that it is
// gone wherever an admin looks: marked deleted, 404 notFound to get,
// update and delete again, off the list, and in the audit log created
// and deleted once each.
func (a *api) deleteAndCheckGone(base, id, notFound, resourceType string, update map[string]any) {
	t := a.t
	t.Helper()
	deleted := a.ok("DELETE", base+"/"+id, nil)
	if deleted["tm_delete"] == convo.Never.String() {
		t.Errorf("deleted %v", deleted)
	}
	a.fails("GET", base+"/"+id, nil, http.StatusNotFound, notFound)
	a.fails("PUT", base+"/"+id, update, http.StatusNotFound, notFound)
	a.fails("DELETE", base+"/"+id, nil, http.StatusNotFound, notFound)
	if slices.Contains(ids(t, a.ok("GET", base, nil)), id) {
		t.Errorf("a deleted %s is listed", resourceType)
	}
	entries := auditLog(a, url.Values{"resource_type": {resourceType}, "resource_id": {id}})
	if len(findAudit(entries, convo.AuditCreated, id)) != 1 || len(findAudit(entries, convo.AuditDeleted, id)) != 1 {
		t.Errorf("audit of %s %s: %v", resourceType, id, entries)
	}
}
