// Package testbin builds the convo command once per test process, for the
// tests that run the binary itself, and gives its children a clean
// environment.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// build is one build of the convo command, made on first use.
type build struct {
	once      sync.Once
	dir, path string
	err       error
}

var built, builtWithoutRace build

// Convo returns the path of the convo command, built with `go build` on
// first use, with the flags of the test run (GOFLAGS, -race included).
func Convo(t testing.TB) string {
	t.Helper()
	return built.get(t, os.Environ())
}

// ConvoWithoutRace is Convo built without the race detector, for tests of
// `convo bench`: its timed phases run for seconds, and under the detector
// the server's SQLite (C translated to Go, all of it instrumented) runs
// several times slower. The server's code is race-tested in process by the
// tests of cmd/convo.
func ConvoWithoutRace(t testing.TB) string {
	t.Helper()
	env := slices.Clone(os.Environ())
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GOFLAGS="); ok {
			env[i] = "GOFLAGS=" + strings.Join(slices.DeleteFunc(strings.Fields(v), func(f string) bool { return f == "-race" || f == "-race=true" }), " ")
		}
	}
	return builtWithoutRace.get(t, env)
}

func (b *build) get(t testing.TB, env []string) string {
	t.Helper()
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "convo-bin-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "convo")
		cmd := exec.Command("go", "build", "-o", b.path, "github.com/convohq/convo/cmd/convo")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Cleanup removes the build; a TestMain calls it after m.Run.
func Cleanup() {
	for _, b := range []*build{&built, &builtWithoutRace} {
		if b.dir != "" {
			os.RemoveAll(b.dir)
		}
	}
}

// Env is the environment of a child process: this one's without any CONVO_
// setting, plus extra.
func Env(extra ...string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "CONVO_") })
	return append(env, extra...)
}
