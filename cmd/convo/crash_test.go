package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
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
