package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// A small WebDriver BiDi client, enough to drive Firefox through the
// inbox's main path: Firefox speaks BiDi natively, which chromedp cannot.

// firefoxPath is Debian's firefox-esr, or $CONVO_TEST_FIREFOX_PATH.
func firefoxPath() string {
	if p := os.Getenv("CONVO_TEST_FIREFOX_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"firefox-esr", "firefox"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// firefox is one headless Firefox with a BiDi session on a fresh profile.
type firefox struct {
	t    testing.TB
	conn *websocket.Conn
	ctx  string // the browsing context (tab) the test drives

	mu       sync.Mutex
	next     int
	waiting  map[int]chan bidiAnswer
	problems []string
}

type bidiAnswer struct {
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
	Detail string          `json:"message"`
}

// startFirefox starts Firefox, or skips t without one unless CI=true and
// CONVO_TEST_FIREFOX=1, where a missing Firefox fails instead.
func startFirefox(t testing.TB) *firefox {
	t.Helper()
	path := firefoxPath()
	if path == "" {
		if os.Getenv("CI") == "true" && os.Getenv("CONVO_TEST_FIREFOX") == "1" {
			t.Fatal("no firefox (apt-get install firefox-esr, or set CONVO_TEST_FIREFOX_PATH)")
		}
		t.Skip("no firefox (apt-get install firefox-esr); CONVO_TEST_FIREFOX=1 with CI=true makes it required")
	}
	profile := t.TempDir()
	// No first-run pages nor background traffic in a test profile.
	prefs := `user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("browser.aboutwelcome.enabled", false);
user_pref("intl.accept_languages", "en-US");
`
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(prefs), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	cmd := exec.Command(path, "--headless", "--no-remote", "--profile", profile, "--remote-debugging-port", port)
	cmd.Env = append(os.Environ(), "HOME="+profile, "MOZ_CRASHREPORTER_DISABLE=1")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start firefox: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	f := &firefox{t: t, waiting: map[int]chan bidiAnswer{}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, _, err := websocket.Dial(ctx, "ws://127.0.0.1:"+port+"/session", nil)
		cancel()
		if err == nil {
			f.conn = conn
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("firefox's BiDi endpoint did not answer in 60 s: %v\n%s", err, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	f.conn.SetReadLimit(16 << 20)
	go f.read()
	t.Cleanup(func() { f.conn.Close(websocket.StatusNormalClosure, "") })
	f.call("session.new", map[string]any{"capabilities": map[string]any{}}, nil)
	f.call("session.subscribe", map[string]any{"events": []string{"log.entryAdded"}}, nil)
	var tab struct {
		Context string `json:"context"`
	}
	f.call("browsingContext.create", map[string]any{"type": "tab"}, &tab)
	f.ctx = tab.Context
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, p := range f.problems {
			t.Errorf("in firefox: %s", p)
		}
	})
	return f
}

// read hands answers to their callers and collects script errors and
// policy violations from the log, which fail the test.
func (f *firefox) read() {
	for {
		_, b, err := f.conn.Read(context.Background())
		if err != nil {
			f.mu.Lock()
			for id, ch := range f.waiting {
				ch <- bidiAnswer{Error: "connection closed", Detail: err.Error()}
				delete(f.waiting, id)
			}
			f.mu.Unlock()
			return
		}
		var m struct {
			ID     *int   `json:"id"`
			Method string `json:"method"`
			Params struct {
				Level string `json:"level"`
				Text  string `json:"text"`
			} `json:"params"`
			bidiAnswer
		}
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		f.mu.Lock()
		if m.ID != nil {
			if ch, ok := f.waiting[*m.ID]; ok {
				ch <- m.bidiAnswer
				delete(f.waiting, *m.ID)
			}
		} else if m.Method == "log.entryAdded" && m.Params.Level == "error" && !strings.Contains(m.Params.Text, "WebSocket") {
			// A refused WebSocket is the server's answer, checked by the tests themselves.
			f.problems = append(f.problems, m.Params.Text)
		}
		f.mu.Unlock()
	}
}

// call sends one command and decodes its result into out (nil: ignored).
func (f *firefox) call(method string, params, out any) {
	f.t.Helper()
	f.mu.Lock()
	f.next++
	id := f.next
	ch := make(chan bidiAnswer, 1)
	f.waiting[id] = ch
	f.mu.Unlock()
	msg, _ := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		f.t.Fatalf("firefox: %s: %v", method, err)
	}
	select {
	case a := <-ch:
		if a.Error != "" {
			f.t.Fatalf("firefox: %s: %s: %s", method, a.Error, a.Detail)
		}
		if out != nil {
			if err := json.Unmarshal(a.Result, out); err != nil {
				f.t.Fatalf("firefox: %s: %v (%s)", method, err, a.Result)
			}
		}
	case <-ctx.Done():
		f.t.Fatalf("firefox: %s: no answer in 30 s", method)
	}
}

// navigate loads url in the tab and waits for it.
func (f *firefox) navigate(url string) {
	f.t.Helper()
	f.call("browsingContext.navigate", map[string]any{"context": f.ctx, "url": url, "wait": "complete"}, nil)
}

// js evaluates expr in the page and decodes its value (as JSON) into out.
func (f *firefox) js(expr string, out any) {
	f.t.Helper()
	var res struct {
		Type   string `json:"type"`
		Result struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	f.call("script.evaluate", map[string]any{"expression": "JSON.stringify(" + expr + ")", "target": map[string]any{"context": f.ctx},
		"awaitPromise": false, "resultOwnership": "none"}, &res)
	if res.Type == "exception" {
		f.t.Fatalf("firefox: %s: %s", expr, res.ExceptionDetails.Text)
	}
	if out != nil && res.Result.Type == "string" {
		if err := json.Unmarshal([]byte(res.Result.Value), out); err != nil {
			f.t.Fatalf("firefox: %s: %v (%s)", expr, err, res.Result.Value)
		}
	}
}

// until waits for expr to be true in the page.
func (f *firefox) until(what, expr string) {
	f.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var ok bool
		f.js("!!("+expr+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var body string
			f.js(`location.href + "\n" + document.body.innerText.slice(0, 2000)`, &body)
			f.t.Fatalf("waited 15s in firefox for %s (%s); the page shows:\n%s", what, expr, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bidiKeys maps the keys the tests press to WebDriver's key values.
var bidiKeys = map[string]string{"Enter": "\uE007", "Shift": "\uE008", "Escape": "\uE00C"}

// typeKeys types text into the focused element as real key presses; a
// "{Enter}"-style word presses that key, "{Shift+Enter}" the two together.
func (f *firefox) typeKeys(text string) {
	f.t.Helper()
	var actions []map[string]any
	for len(text) > 0 {
		key := string([]rune(text)[0])
		if end := strings.IndexByte(text, '}'); strings.HasPrefix(text, "{") && end > 0 {
			chord := strings.Split(text[1:end], "+")
			if !slices.ContainsFunc(chord, func(k string) bool { return bidiKeys[k] == "" }) {
				for _, k := range chord {
					actions = append(actions, map[string]any{"type": "keyDown", "value": bidiKeys[k]})
				}
				for _, k := range slices.Backward(chord) {
					actions = append(actions, map[string]any{"type": "keyUp", "value": bidiKeys[k]})
				}
				text = text[end+1:]
				continue
			}
		}
		text = text[len(key):]
		actions = append(actions, map[string]any{"type": "keyDown", "value": key}, map[string]any{"type": "keyUp", "value": key})
	}
	f.call("input.performActions", map[string]any{"context": f.ctx,
		"actions": []map[string]any{{"type": "key", "id": "keyboard", "actions": actions}}}, nil)
}

// click clicks the element sel names with the mouse, at its centre.
func (f *firefox) click(sel string) {
	f.t.Helper()
	var box struct{ X, Y float64 }
	f.js(fmt.Sprintf(`(r => ({ X: r.x + r.width / 2, Y: r.y + r.height / 2 }))(document.querySelector(%q).getBoundingClientRect())`, sel), &box)
	f.call("input.performActions", map[string]any{"context": f.ctx, "actions": []map[string]any{{
		"type": "pointer", "id": "mouse", "parameters": map[string]any{"pointerType": "mouse"},
		"actions": []map[string]any{
			{"type": "pointerMove", "x": int(box.X), "y": int(box.Y)},
			{"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0},
		}}}}, nil)
}
