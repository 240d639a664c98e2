package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
)

// This file runs the real binary, kills it with SIGKILL under load and
// checks that no committed event or acknowledged message is lost, and that
// several processes on one PostgreSQL database share deliveries.

// killableServe is `convo serve` as a child process that a test kills and
// starts again on the same address and database.
type killableServe struct {
	t      *testing.T
	args   []string
	env    []string
	base   string
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	stdout *syncBuffer
	stderr *syncBuffer
	dead   atomic.Bool
}

// newKillableServe prepares a server on addr over dsn whose public URL is public.
func newKillableServe(t *testing.T, dsn, addr, public string) *killableServe {
	p := &killableServe{
		t: t, base: "http://" + addr, stdout: &syncBuffer{}, stderr: &syncBuffer{},
		args: []string{"serve", "--listen", addr, "--database", dsn},
		env:  commandEnv("CONVO_PUBLIC_URL="+public, "CONVO_WEBHOOK_ALLOW_PRIVATE=true"),
	}
	p.dead.Store(true)
	stopChecking := checkAnswersOf(p.base)
	t.Cleanup(func() {
		p.kill()
		stopChecking()
	})
	return p
}

// start runs the process and waits until it answers HTTP. It does not use
// t, so that any goroutine may call it.
func (p *killableServe) start(bin string) error {
	p.mu.Lock()
	served := servingLines(p.stderr.String())
	cmd := exec.Command(bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("convo serve exited with %d before serving\nstderr:\n%s", cmd.ProcessState.ExitCode(), tail(p.stderr.String(), 2000))
		default:
		}
		// Until this process logs that it serves, the port may answer for another test's.
		if servingLines(p.stderr.String()) > served {
			if res, err := http.Get(p.base + "/v1.0/me"); err == nil {
				res.Body.Close()
				p.dead.Store(false)
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("convo serve does not answer after 30 s\nstderr:\n%s", tail(p.stderr.String(), 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL and waits for it.
func (p *killableServe) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	p.dead.Store(true)
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// accessKey is the key printed at first start.
func (p *killableServe) accessKey() string {
	p.t.Helper()
	m := firstStartKey.FindStringSubmatch(p.stdout.String())
	if m == nil {
		p.t.Fatalf("first start printed no access key:\n%s", p.stdout)
	}
	return m[1]
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// loadReceiver is the webhook receiver of the load tests. While holding,
// requests wait and then fail, so that an attempt is in flight when a
// process is killed.
type loadReceiver struct {
	*webhooktest.Receiver

	mu   sync.Mutex
	hold chan struct{}
	held int
}

// newLoadReceiver answers each request after delay.
func newLoadReceiver(t testing.TB, delay time.Duration) *loadReceiver {
	r := &loadReceiver{Receiver: webhooktest.New(t)}
	r.SetAnswer(func(webhooktest.Request, int) (int, http.Header) {
		r.mu.Lock()
		hold := r.hold
		if hold != nil {
			r.held++
		}
		r.mu.Unlock()
		if hold != nil {
			// Held requests fail: only a retry can deliver their event.
			<-hold
			return http.StatusServiceUnavailable, nil
		}
		if delay > 0 {
			time.Sleep(delay)
		}
		return http.StatusOK, nil
	})
	return r
}

// holdAttempt makes new requests wait, waits (a while) until one is
// waiting, so that a delivery attempt is in flight, and returns the release,
// after which held requests are answered 503.
func (r *loadReceiver) holdAttempt() (release func()) {
	ch := make(chan struct{})
	r.mu.Lock()
	r.hold, r.held = ch, 0
	r.mu.Unlock()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		r.mu.Lock()
		n := r.held
		r.mu.Unlock()
		if n > 0 {
			break
		}
	}
	return func() {
		r.mu.Lock()
		r.hold = nil
		r.mu.Unlock()
		close(ch)
	}
}

// snapshot returns the accepted receipts of each webhook-id, any overlap of
// two requests with one webhook-id, and the order of first accepted
// receipts of message events per conversation (conversation id → message ids).
func (r *loadReceiver) snapshot() (received map[string]int, overlaps []string, order map[string][]string) {
	return r.Accepted(), r.Overlaps(), r.FirstAccepted(convo.EventMessageCreated)
}

// smsLoad sends perPeer inbound SMS from each peer, from several goroutines;
// the messages of one peer go one after the other, and each is retried
// until acknowledged, as providers do.
type smsLoad struct {
	acc     smsAccount
	peers   []string
	perPeer int
	workers int
	prefix  string
	// target is the base URL to send the n-th try of a request to.
	target func(try int) string
	acked  atomic.Int64
}

// text is the body of message round of peer i; it is also its MessageSid.
func (l *smsLoad) text(i, round int) string { return fmt.Sprintf("%s%03d%05d", l.prefix, i, round) }

func (l *smsLoad) run(ctx context.Context) error {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: l.workers}}
	defer client.CloseIdleConnections()
	path, _ := url.Parse(l.acc.HookURL)
	errs := make(chan error, l.workers)
	var wg sync.WaitGroup
	for w := range l.workers {
		wg.Go(func() {
			try := w
			for round := range l.perPeer {
				for i := w; i < len(l.peers); i += l.workers {
					text := l.text(i, round)
					form := url.Values{"MessageSid": {text}, "From": {l.peers[i]}, "To": {l.acc.Number}, "Body": {text}, "NumMedia": {"0"}}
					for {
						try++
						code, err := postSignedVia(client, l.target(try)+path.Path, l.acc.HookURL, l.acc.Token, form)
						if err == nil && code == http.StatusOK {
							l.acked.Add(1)
							break
						}
						if err == nil && code/100 == 4 {
							errs <- fmt.Errorf("message %s refused with %d", text, code)
							return
						}
						if ctx.Err() != nil {
							errs <- fmt.Errorf("message %s not acknowledged in time: %v", text, err)
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// firstPage returns the rows of one page of a list.
func firstPage(a *api, path string) []map[string]any {
	a.t.Helper()
	var page struct {
		Result []map[string]any `json:"result"`
	}
	r := a.do("GET", path, nil)
	if r.Status != http.StatusOK {
		a.t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	r.Decode(a.t, &page)
	return page.Result
}

// awaitDeliveriesSettled waits until no event is pending or failed.
func awaitDeliveriesSettled(t testing.TB, a *api, within time.Duration) {
	t.Helper()
	eventually(t, within, func() error {
		for _, status := range []string{"pending", "failed"} {
			if rows := firstPage(a, "/v1.0/webhook_deliveries?page_size=1&status="+status); len(rows) > 0 {
				return fmt.Errorf("deliveries still %s, e.g. %v after %v", status, rows[0]["type"], within)
			}
		}
		return nil
	})
}

// checkAllReceived checks that the receiver saw every stored event and
// returns the stored events.
func checkAllReceived(t testing.TB, a *api, received map[string]int) []hookDelivery {
	t.Helper()
	all := listDeliveries(a, nil)
	missing := 0
	for _, d := range all {
		if received[d.ID] == 0 {
			if missing++; missing <= 5 {
				t.Errorf("event %s (%s, %s) never reached the receiver", d.ID, d.Type, d.Status)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d events never reached the receiver", missing, len(all))
	}
	return all
}

// checkStoredInOrder checks that every message of the load is stored once,
// in sending order per peer, and that the receiver first got each
// conversation's message events in that order.
func checkStoredInOrder(t testing.TB, a *api, l *smsLoad, order map[string][]string) {
	t.Helper()
	convs := firstPage(a, "/v1.0/conversations?page_size=100&account_id="+l.acc.ID)
	byPeer := map[string]string{}
	for _, c := range convs {
		byPeer[sget(c, "dialog_id")] = sget(c, "id")
	}
	for i, peer := range l.peers {
		convID := byPeer[peer]
		if convID == "" {
			t.Errorf("no conversation with peer %s", peer)
			continue
		}
		var texts, msgIDs []string
		for _, m := range oldestFirst(firstPage(a, "/v1.0/conversations/"+convID+"/messages?page_size=100")) {
			texts = append(texts, sget(m, "text"))
			msgIDs = append(msgIDs, sget(m, "id"))
		}
		var want []string
		for round := range l.perPeer {
			want = append(want, l.text(i, round))
		}
		if !slices.Equal(texts, want) {
			t.Errorf("peer %s: stored %d messages %v, want the %d acknowledged ones in order", peer, len(texts), texts, len(want))
			continue
		}
		if got := order[convID]; !slices.Equal(got, msgIDs) {
			t.Errorf("peer %s: the receiver first got the messages in another order than stored:\n got %v\nwant %v", peer, got, msgIDs)
		}
	}
}

// phones returns n distinct peer numbers.
func phones(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = uniquePhone()
	}
	return out
}

func TestCrashLosesNothing(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		// Most of this test waits for leases of killed processes to end.
		t.Parallel()
		bin := convoBinary(t)
		start := time.Now()
		rcv := newLoadReceiver(t, 0)
		addr := freeAddr(t)
		p := newKillableServe(t, b.DSN, addr, "http://"+addr)
		if err := p.start(bin); err != nil {
			t.Fatal(err)
		}
		admin := &api{t: t, base: p.base, cred: p.accessKey()}
		setWebhook(admin, "POST", rcv.URL(), "crash-secret")
		load := &smsLoad{acc: newSMSHookAccount(admin), peers: phones(50), perPeer: 40, workers: 8, prefix: "SMcrash",
			target: func(int) string { return p.base }}

		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		killed := make(chan error, 1)
		killerDone := make(chan struct{})
		defer func() {
			cancel()
			<-killerDone
		}()
		go func() {
			defer close(killerDone)
			for _, at := range []int64{600, 1300} {
				for load.acked.Load() < at {
					if ctx.Err() != nil {
						killed <- fmt.Errorf("only %d messages acknowledged", load.acked.Load())
						return
					}
					time.Sleep(2 * time.Millisecond)
				}
				release := rcv.holdAttempt()
				p.kill()
				release()
				if err := p.start(bin); err != nil {
					killed <- err
					cancel()
					return
				}
			}
			killed <- nil
		}()
		if err := load.run(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-killed; err != nil {
			t.Fatal(err)
		}
		t.Logf("%d messages acknowledged across 2 kills in %v", load.acked.Load(), time.Since(start).Round(time.Millisecond))

		// Deliveries leased by a killed process wait for the lease to end.
		awaitDeliveriesSettled(t, admin, 60*time.Second)
		received, _, order := rcv.snapshot()
		all := checkAllReceived(t, admin, received)
		counts := map[string]int{}
		for _, d := range all {
			counts[d.Type]++
		}
		want := map[string]int{convo.EventAccountCreated: 1, convo.EventConversationCreated: 50, convo.EventMessageCreated: 2000}
		if !maps.Equal(counts, want) {
			t.Errorf("stored events by type %v, want %v", counts, want)
		}
		checkStoredInOrder(t, admin, load, order)
		t.Logf("all delivered after %v", time.Since(start).Round(time.Millisecond))
	})
}

func TestReplicasShareDeliveries(t *testing.T) {
	t.Parallel()
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip("several replicas need PostgreSQL: set " + testdb.PostgresEnv)
	}
	bin := convoBinary(t)
	b := testdb.Postgres(t)
	start := time.Now()
	rcv := newLoadReceiver(t, 3*time.Millisecond)
	addrA, addrB := freeAddr(t), freeAddr(t)
	// Both answer on one public URL, as behind a load balancer.
	public := "http://" + addrA
	procs := []*killableServe{newKillableServe(t, b.DSN, addrA, public), newKillableServe(t, b.DSN, addrB, public)}
	for _, p := range procs {
		if err := p.start(bin); err != nil {
			t.Fatal(err)
		}
	}
	key := procs[0].accessKey()
	admin := &api{t: t, base: procs[0].base, cred: key}
	setWebhook(admin, "POST", rcv.URL(), "replica-secret")
	acc := newSMSHookAccount(admin)

	// A stream on one replica sees what is committed through the other.
	stream := dialStream(t, procs[1].base, "accesskey="+url.QueryEscape(key), nil)
	conv := sget(admin.newConversation(acc.ID), "id")
	stream.until(t, func(e streamEvent) bool { return e.Type == convo.EventConversationCreated && e.subject() == conv })
	stream.close()

	// Requests alternate between the replicas, going to the other one when
	// a replica is down.
	target := func(try int) string {
		p := procs[try%2]
		if p.dead.Load() {
			p = procs[(try+1)%2]
		}
		return p.base
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first := &smsLoad{acc: acc, peers: phones(30), perPeer: 10, workers: 6, prefix: "SMone", target: target}
	if err := first.run(ctx); err != nil {
		t.Fatal(err)
	}
	awaitDeliveriesSettled(t, admin, 20*time.Second)
	// A quiet period, then every event must have arrived exactly once.
	time.Sleep(300 * time.Millisecond)
	received, overlaps, order := rcv.snapshot()
	all := checkAllReceived(t, admin, received)
	for _, d := range all {
		if n := received[d.ID]; n > 1 {
			t.Errorf("event %s (%s) was delivered %d times by two healthy replicas", d.ID, d.Type, n)
		}
	}
	checkStoredInOrder(t, admin, first, order)

	// Kill replica A while it is delivering; B takes over its work.
	second := &smsLoad{acc: acc, peers: phones(30), perPeer: 10, workers: 6, prefix: "SMtwo", target: target}
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for second.acked.Load() < 100 && ctx.Err() == nil {
			time.Sleep(2 * time.Millisecond)
		}
		release := rcv.holdAttempt()
		procs[0].kill()
		release()
	}()
	err := second.run(ctx)
	<-killed
	if err != nil {
		t.Fatal(err)
	}
	admin = &api{t: t, base: procs[1].base, cred: key}
	awaitDeliveriesSettled(t, admin, 60*time.Second)
	received, overlaps, order = rcv.snapshot()
	checkAllReceived(t, admin, received)
	checkStoredInOrder(t, admin, second, order)
	if len(overlaps) > 0 {
		t.Errorf("%d times a webhook-id was being delivered twice at once, e.g. %s", len(overlaps), overlaps[0])
	}
	if strings.Contains(procs[1].stderr.String(), `"level":"ERROR"`) {
		t.Logf("replica B logged errors:\n%s", tail(procs[1].stderr.String(), 3000))
	}
	t.Logf("done in %v", time.Since(start).Round(time.Millisecond))
}
