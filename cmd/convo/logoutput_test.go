package main

import (
	"strings"
	"testing"
	"time"
)

// TestLogOutput: log lines are written together, in order, none lost: a
// warning writes those before it and itself at once, the rest follow on
// their own shortly after, and Flush writes what waits.
func TestLogOutput(t *testing.T) {
	out := &syncBuffer{}
	logger, logs := newLogger(out)
	logger.Info("first")
	logger.Info("second")
	logger.Warn("trouble")
	if got := messages(out.String()); got != "first second trouble" {
		t.Errorf("right after a warning the output holds %q, want every line up to the warning", got)
	}

	logger.With("component", "x").Info("third")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), `"third"`); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("an info line was never written on its own; output:\n%s", out)
		}
	}
	if !strings.Contains(out.String(), `"component":"x"`) {
		t.Errorf("a line of a derived logger lost its attributes:\n%s", out)
	}

	logger.Info("fourth")
	if err := logs.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := messages(out.String()); got != "first second trouble third fourth" {
		t.Errorf("after Flush the output holds %q, want every line in order", got)
	}
}

// messages lists the "msg" of each JSON log line in s.
func messages(s string) string {
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if _, rest, ok := strings.Cut(line, `"msg":"`); ok {
			msg, _, _ := strings.Cut(rest, `"`)
			msgs = append(msgs, msg)
		}
	}
	return strings.Join(msgs, " ")
}
