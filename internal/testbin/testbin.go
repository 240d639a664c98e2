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

var built struct {
	once      sync.Once
	dir, path string
	err       error
}

// Convo returns the path of the convo command, built with `go build` on
// first use.
func Convo(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "convo-bin-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "convo")
		out, err := exec.Command("go", "build", "-o", built.path, "github.com/convohq/convo/cmd/convo").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// Cleanup removes the build; a TestMain calls it after m.Run.
func Cleanup() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

// Env is the environment of a child process: this one's without any CONVO_
// setting, plus extra.
func Env(extra ...string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "CONVO_") })
	return append(env, extra...)
}
