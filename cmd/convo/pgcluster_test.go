package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ownPostgres is a PostgreSQL cluster of one test's own, in its temporary
// folder, which the test may stop and start: the shared server on
// 127.0.0.1:5432 is never restarted.
type ownPostgres struct {
	t    *testing.T
	bin  string // the folder of initdb, postgres and pg_ctl
	data string
	sock string
	port string
	// as runs the binaries as the postgres OS user when the test runs as
	// root, which PostgreSQL refuses.
	as  *syscall.Credential
	log *syncBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// postgresBinaries finds the folder of PostgreSQL's server binaries: on
// PATH, else the newest under /usr/lib/postgresql (Debian's layout).
func postgresBinaries() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p)
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(found, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return va - vb
	})
	if len(found) == 0 {
		return ""
	}
	return filepath.Dir(found[len(found)-1])
}

// newOwnPostgres creates a cluster (initdb) and starts it on a free port;
// the test is skipped when PostgreSQL's binaries are not installed.
func newOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	bin := postgresBinaries()
	if bin == "" {
		t.Skip("PostgreSQL's initdb is not installed")
	}
	dir := t.TempDir()
	p := &ownPostgres{t: t, bin: bin, data: filepath.Join(dir, "data"), sock: filepath.Join(dir, "sock"), log: &syncBuffer{}}
	if err := os.Mkdir(p.sock, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("initdb refuses to run as root, and there is no postgres user to run it as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.as = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		// The user must reach the folder (the test's temporary folders are
		// root's) and own what it writes there.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(p.sock, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(p.data, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p.data, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	_, port, _ := net.SplitHostPort(freeAddr(t))
	p.port = port
	if out, err := p.command("initdb", "-D", p.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		p.mu.Lock()
		running := p.cmd != nil
		p.mu.Unlock()
		if running {
			p.stop("immediate")
		}
	})
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// command prepares one of PostgreSQL's binaries, run as the postgres user
// when the test is root.
func (p *ownPostgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	if p.as != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.as}
	}
	return cmd
}

// DSN is the URL convo connects with.
func (p *ownPostgres) DSN() string {
	return "postgres://postgres@127.0.0.1:" + p.port + "/postgres?sslmode=disable"
}

// start runs the server, with fsync on as in production, and returns once
// it accepts connections.
func (p *ownPostgres) start() error {
	cmd := p.command("postgres", "-D", p.data, "-p", p.port, "-k", p.sock, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-done:
			return fmt.Errorf("postgres exited at start:\n%s", tail(p.log.String(), 3000))
		default:
		}
		if p.accepting() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres does not accept connections after 60 s:\n%s", tail(p.log.String(), 3000))
		}
	}
}

// accepting reports whether the server answers a query.
func (p *ownPostgres) accepting() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN())
	if err != nil {
		return false
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx) == nil
}

// stop stops the server with pg_ctl's mode (fast: sessions are ended and a
// checkpoint written; immediate: every process quits at once, recovery at
// the next start) and waits until it has exited.
func (p *ownPostgres) stop(mode string) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	out, err := p.command("pg_ctl", "stop", "-D", p.data, "-m", mode, "-w", "-t", "60").CombinedOutput()
	if err != nil {
		cmd.Process.Kill()
	}
	<-done
	if err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %v\n%s", mode, err, out)
	}
	return nil
}
