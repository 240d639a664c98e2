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
