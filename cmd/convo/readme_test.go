package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/convohq/convo/internal/testdb"
)

// TestReadmeListsTheConfiguration holds the README's configuration table to
// what the binary reads: every flag of `convo serve` and every CONVO_
// environment variable named in the server's code.
func TestReadmeListsTheConfiguration(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(readme, []byte("## Configuration"))
	if start < 0 {
		t.Fatal("the README has no Configuration section")
	}
	table := string(readme[start:])
	table = table[:strings.Index(table[3:], "\n## ")+3]

	var usage bytes.Buffer
	run(context.Background(), []string{"serve", "-h"}, &bytes.Buffer{}, &usage)
	flags := regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(usage.String(), -1)
	if len(flags) < 10 {
		t.Fatalf("serve -h listed %d flags:\n%s", len(flags), usage.String())
	}
	for _, f := range flags {
		if !strings.Contains(table, "`--"+f[1]+"`") {
			t.Errorf("the README's configuration table lacks --%s", f[1])
		}
	}

	envs := map[string]bool{}
	literal := regexp.MustCompile(`"(CONVO_[A-Z_]+)"`)
	filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == "testdb" || strings.HasPrefix(d.Name(), ".")) && path != "../.." {
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return err
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range literal.FindAllStringSubmatch(string(src), -1) {
			envs[m[1]] = true
		}
		return nil
	})
	if len(envs) < 10 {
		t.Fatalf("found only %d CONVO_ variables in the code", len(envs))
	}
	for name := range envs {
		if !strings.Contains(table, "`"+name+"`") {
			t.Errorf("the README's configuration table lacks %s", name)
		}
	}
}

// walkthroughCall is one request of the README's walkthrough: an `api` or
// `curl` command, with the shell variable it assigns the answer's id to.
var walkthroughCall = regexp.MustCompile(`(?s)(?:(\w+)=\$\()?(api|curl -s)( -H "Authorization: Bearer \$TOKEN")?( -X [A-Z]+)? "?\$CONVO(/[^\s"]*)"?(?: -d '((?:[^']|'\$\w+')*)')?`)

// TestReadmeWalkthrough sends every request of the README's walkthrough, as
// written there, to a fresh server: each must succeed, so that a newcomer
// who follows it gets as far as the last step.
func TestReadmeWalkthrough(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start, end := strings.Index(text, "## A walkthrough"), strings.Index(text, "## Commands")
	if start < 0 || end < start {
		t.Fatal("the README has no walkthrough before its Commands section")
	}
	walk := text[start:end]
	ts := startServer(t, testdb.SQLite(t))
	vars := map[string]string{}
	calls := walkthroughCall.FindAllStringSubmatch(walk, -1)
	if len(calls) < 12 {
		t.Fatalf("found only %d requests in the walkthrough", len(calls))
	}
	for _, c := range calls {
		assign, tool, asAgent, method, path, body := c[1], c[2], c[3] != "", strings.TrimPrefix(c[4], " -X "), c[5], c[6]
		for name, value := range vars {
			body = strings.ReplaceAll(body, "'$"+name+"'", value)
			path = strings.ReplaceAll(path, "$"+name, value)
		}
		if strings.Contains(path+body, "$") {
			t.Fatalf("%s %s: a variable the walkthrough never set: %s", path, body, c[0])
		}
		if method == "" {
			method = "GET"
			if c[6] != "" {
				method = "POST"
			}
		}
		cred := ts.AdminKey
		if tool != "api" {
			cred = ""
			if asAgent {
				cred = vars["TOKEN"]
			}
		}
		var payload any
		if body != "" {
			payload = body
		}
		r := call(t, method, ts.URL()+path, cred, payload)
		if r.Status != 200 {
			t.Fatalf("%s %s from the walkthrough answered %d: %s", method, path, r.Status, r.Body)
		}
		got := r.JSON(t)
		if assign != "" {
			key := "id"
			if assign == "TOKEN" {
				key = "token"
			}
			vars[assign] = str(t, got, key)
		}
		if method == "POST" && path == "/v1.0/conversation_accounts" && got["type"] == "sms" {
			vars["SMS"] = str(t, got, "id") // "SMS=01a2…": the SMS account's id
		}
	}
	for _, name := range []string{"SMS", "CONV", "AGENT", "TOKEN", "FLOW"} {
		if vars[name] == "" {
			t.Errorf("the walkthrough never sets $%s", name)
		}
	}
}
