package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testbin"
	"github.com/convohq/convo/internal/testdb"
)

func TestMain(m *testing.M) {
	if err := installAPICheck(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := reportAPICheck(m.Run())
	closeBrowser()
	testbin.Cleanup()
	os.Exit(code)
}

// convoBinary is the command built once for the tests that run it.
func convoBinary(t testing.TB) string { return testbin.Convo(t) }

// commandEnv is the environment of a child process: this one's without any
// CONVO_ setting, plus extra.
func commandEnv(extra ...string) []string { return testbin.Env(extra...) }

// runResult is a finished command.
type runResult struct {
	stdout, stderr string
	code           int
}

// runConvo runs the binary to completion.
func runConvo(t *testing.T, args ...string) runResult {
	t.Helper()
	cmd := exec.Command(convoBinary(t), args...)
	cmd.Env = commandEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run convo %v: %v", args, err)
	}
	return runResult{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// serveProcess is a running `convo serve`.
type serveProcess struct {
	t      testing.TB
	cmd    *exec.Cmd
	base   string
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
}

// servingLines counts the "convo serving" log lines in a process's stderr:
// one more than before a start proves that this process bound its port,
// not another test's process that grabbed the same free port first.
func servingLines(stderr string) int { return strings.Count(stderr, `"msg":"convo serving"`) }

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// startServe starts `convo serve` on dsn, with extra environment
// variables (NAME=value), and waits until it answers HTTP.
func startServe(t testing.TB, dsn string, env ...string) *serveProcess {
	t.Helper()
	addr := freeAddr(t)
	p := &serveProcess{t: t, base: "http://" + addr, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(convoBinary(t), "serve", "--listen", addr, "--database", dsn)
	p.cmd.Env = commandEnv(append([]string{"CONVO_PUBLIC_URL=" + p.base}, env...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start convo serve: %v", err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	stopChecking := checkAnswersOf(p.base)
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		stopChecking()
	})
	eventually(t, 60*time.Second, func() error {
		select {
		case <-p.done:
			t.Fatalf("convo serve exited with %d before serving\nstdout:\n%s\nstderr:\n%s", p.cmd.ProcessState.ExitCode(), p.stdout, p.stderr)
		default:
		}
		if servingLines(p.stderr.String()) == 0 {
			return fmt.Errorf("convo serve has not started serving\nstderr:\n%s", p.stderr)
		}
		res, err := http.Get(p.base + "/v1.0/me")
		if err != nil {
			return fmt.Errorf("convo serve does not answer: %v\nstderr:\n%s", err, p.stderr)
		}
		res.Body.Close()
		return nil
	})
	return p
}

// stop sends sig and waits for the process to exit; it returns the exit code.
func (p *serveProcess) stop(sig os.Signal) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("convo serve still runs 30 s after %v\nstderr:\n%s", sig, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// api returns a client of the process with a credential.
func (p *serveProcess) api(cred string) *api { return &api{t: p.t, base: p.base, cred: cred} }

func TestBinaryVersion(t *testing.T) {
	r := runConvo(t, "version")
	if r.code != 0 || r.stdout != "convo "+convo.Version+"\n" {
		t.Errorf("convo version: exit %d, stdout %q, want 0 and %q", r.code, r.stdout, "convo "+convo.Version+"\n")
	}
	r = runConvo(t, "no-such-command")
	if r.code == 0 || !strings.Contains(r.stderr, "no-such-command") {
		t.Errorf("convo no-such-command: exit %d, stderr %q; want a failure naming the command", r.code, r.stderr)
	}
}

func TestBinaryBootstrap(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		bootstrap := func(t *testing.T, customer, username string, superAdmin bool) map[string]string {
			t.Helper()
			args := []string{"bootstrap", "--database", b.DSN, "--customer", customer, "--username", username, "--password", "p4ssw0rd!"}
			if superAdmin {
				args = append(args, "--super-admin")
			}
			r := runConvo(t, args...)
			if r.code != 0 {
				t.Fatalf("bootstrap: exit %d\nstderr: %s", r.code, r.stderr)
			}
			if strings.Count(r.stdout, "\n") != 1 || !strings.HasSuffix(r.stdout, "\n") {
				t.Fatalf("bootstrap printed %q, want exactly one line", r.stdout)
			}
			var out map[string]string
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
				t.Fatalf("bootstrap printed %q, not a JSON object of strings: %v", r.stdout, err)
			}
			if !sameSet(keysOfStrings(out), []string{"accesskey", "agent_id", "customer_id"}) {
				t.Errorf("bootstrap printed keys %v, want customer_id, agent_id, accesskey", keysOfStrings(out))
			}
			if !uuidPattern.MatchString(out["customer_id"]) || !uuidPattern.MatchString(out["agent_id"]) || out["accesskey"] == "" {
				t.Errorf("bootstrap printed %v", out)
			}
			return out
		}
		plain := bootstrap(t, "c", "ops-lead", false)
		again := runConvo(t, "bootstrap", "--database", b.DSN, "--customer", "c2", "--username", "ops-lead", "--password", "p4ssw0rd!")
		if again.code == 0 || !strings.Contains(again.stderr, "ops-lead") || again.stdout != "" {
			t.Errorf("second bootstrap with the same username: exit %d, stdout %q, stderr %q; want a failure naming the username", again.code, again.stdout, again.stderr)
		}
		super := bootstrap(t, "root-customer", "root-user", true)

		p := startServe(t, b.DSN)
		if out := p.stdout.String(); out != "" {
			t.Errorf("serve on a bootstrapped database printed %q, want nothing", out)
		}
		me := p.api(plain["accesskey"]).ok("GET", "/v1.0/me", nil)
		if me["customer_id"] != plain["customer_id"] {
			t.Errorf("the bootstrap key is of customer %v, want %s", me["customer_id"], plain["customer_id"])
		}
		login := func(username string) *api {
			r := p.api("").ok("POST", "/v1.0/auth/login", map[string]any{"username": username, "password": "p4ssw0rd!"})
			return p.api(str(t, r, "token"))
		}
		if me := login("ops-lead").ok("GET", "/v1.0/me", nil); me["id"] != plain["agent_id"] || me["permission"] != float64(convo.PermissionCustomerAdmin) {
			t.Errorf("the bootstrap agent is %v, want admin agent %s", me, plain["agent_id"])
		}
		login("ops-lead").fails("GET", "/v1.0/customers", nil, http.StatusForbidden, convo.ReasonPermission)
		customers := ids(t, login("root-user").ok("GET", "/v1.0/customers", nil))
		// The failed bootstrap created nothing.
		if !sameSet(customers, []string{plain["customer_id"], super["customer_id"]}) {
			t.Errorf("customers %v, want exactly the two bootstrapped", customers)
		}
		if code := p.stop(syscall.SIGTERM); code != 0 {
			t.Errorf("serve exited %d after SIGTERM, want 0\nstderr:\n%s", code, p.stderr)
		}
	})
}

func keysOfStrings(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestBinaryServe(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		p := startServe(t, b.DSN)
		out := p.stdout.String()
		var key, password, customer string
		for re, dst := range map[*regexp.Regexp]*string{firstStartKey: &key, firstStartPassword: &password, firstStartCustomer: &customer} {
			m := re.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("first start did not print %v; stdout:\n%s", re, out)
			}
			*dst = m[1]
		}
		if !strings.Contains(out, p.base+"/v1.0/me?accesskey="+key) {
			t.Errorf("first start output does not show the public URL %s with the key:\n%s", p.base, out)
		}
		for _, secret := range []string{key, password} {
			if strings.Contains(p.stderr.String(), secret) {
				t.Errorf("the log shows a first-start secret:\n%s", p.stderr)
			}
		}
		admin := p.api(key)
		if me := admin.ok("GET", "/v1.0/me", nil); me["customer_id"] != customer {
			t.Errorf("the printed key is of customer %v, want %s", me["customer_id"], customer)
		}
		p.api("").ok("POST", "/v1.0/auth/login", map[string]any{"username": "admin", "password": password})
		account := admin.newSMSAccount()
		before := admin.ok("PUT", "/v1.0/conversations/"+str(t, admin.newConversation(account), "id"), map[string]any{"name": "kept across SIGTERM"})

		if code := p.stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("serve exited %d after SIGTERM, want 0\nstderr:\n%s", code, p.stderr)
		}

		p = startServe(t, b.DSN)
		out = p.stdout.String()
		for _, s := range []string{"first start", key, password, "access key"} {
			if strings.Contains(out, s) {
				t.Errorf("second start printed %q:\n%s", s, out)
			}
		}
		admin = p.api(key)
		if got := admin.ok("GET", "/v1.0/conversations/"+str(t, before, "id"), nil); !jsonEqual(got, before) {
			t.Errorf("after a restart the conversation is\n%v\nwant\n%v", got, before)
		}

		// An answered request survives a crash.
		acked := admin.ok("PUT", "/v1.0/conversations/"+str(t, admin.newConversation(account), "id"), map[string]any{"name": "kept across SIGKILL"})
		p.stop(syscall.SIGKILL)
		p = startServe(t, b.DSN)
		if got := p.api(key).ok("GET", "/v1.0/conversations/"+str(t, acked, "id"), nil); !jsonEqual(got, acked) {
			t.Errorf("after kill -9 the conversation is\n%v\nwant\n%v", got, acked)
		}
		if code := p.stop(syscall.SIGTERM); code != 0 {
			t.Errorf("serve exited %d after SIGTERM, want 0\nstderr:\n%s", code, p.stderr)
		}
	})
}
