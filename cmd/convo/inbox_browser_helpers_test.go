package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// One Chromium for the whole test binary: a browser start costs about a
// second, a new isolated browser context (a tab with its own storage) little.
var chromium struct {
	once    sync.Once
	ctx     context.Context // the browser's
	stop    func()
	problem string
}

// chromiumPath is Debian's chromium, or $CONVO_TEST_CHROMIUM.
func chromiumPath() string {
	if p := os.Getenv("CONVO_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, _ := exec.LookPath("chromium")
	return p
}

// browser returns the shared browser's context; without a browser the test
// is skipped, except under CI=true, where it fails.
func browser(t testing.TB) context.Context {
	t.Helper()
	chromium.once.Do(func() {
		path := chromiumPath()
		if path == "" {
			chromium.problem = "no chromium (apt-get install chromium, or set CONVO_TEST_CHROMIUM)"
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
			chromedp.DisableGPU, chromedp.WindowSize(1280, 800), chromedp.Flag("lang", "en-US"))
		alloc, stopAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, stopBrowser := chromedp.NewContext(alloc)
		if err := chromedp.Do(ctx); err != nil {
			stopBrowser()
			stopAlloc()
			chromium.problem = "start chromium: " + err.Error()
			return
		}
		chromium.ctx, chromium.stop = ctx, func() { stopBrowser(); stopAlloc() }
	})
	if chromium.problem != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(chromium.problem)
		}
		t.Skip(chromium.problem)
	}
	return chromium.ctx
}

// closeBrowser ends the shared browser, if one started (from TestMain).
func closeBrowser() {
	if chromium.stop != nil {
		chromium.stop()
	}
}

// tab is a page in a browser context of its own, as a second browser
// profile would be. Script errors, policy violations and dialogs on it are
// collected and fail the test.
type tab struct {
	t    testing.TB
	ctx  context.Context
	base string

	mu       sync.Mutex
	problems []string
	dialogs  []string
}

func newTab(t testing.TB, base string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser(t), chromedp.WithNewBrowserContext())
	b := &tab{t: t, ctx: ctx, base: base}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	logs := chromedp.Events(ctx, log.EntryAdded)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			if d.Exception != nil {
				b.problem("script error: " + d.Exception.Description)
			} else {
				b.problem("script error: " + d.Text)
			}
		}
	}()
	go func() {
		for ev, err := range logs {
			if err != nil {
				return
			}
			// A refused WebSocket or resource is the server's answer, which
			// the tests check themselves; anything else is a fault.
			if ev.Entry.Level == log.EntryLevelError && ev.Entry.Source != "network" && !strings.Contains(ev.Entry.Text, "WebSocket") {
				b.problem(fmt.Sprintf("console %s: %s", ev.Entry.Source, ev.Entry.Text))
			}
		}
	}()
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	t.Cleanup(func() {
		cancel()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Errorf("in the browser: %s", p)
		}
	})
	return b
}

func (b *tab) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// run performs actions, failing the test after 15 s.
func (b *tab) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// command sends one protocol command to the tab.
func command[P, R any](b *tab, cmd cdp.Command[P, R], params P) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, cmd, params); err != nil {
		b.t.Fatalf("browser: %s: %v", cmd.Method, err)
	}
}

// js evaluates expr and decodes its value into out (nil: ignored).
func (b *tab) js(expr string, out any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		b.t.Fatalf("browser: %s: %v", expr, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			b.t.Fatalf("%s: %v (%s)", expr, err, raw)
		}
	}
}

// until waits for expr to be true in the page.
func (b *tab) until(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ok bool
		b.js("!!("+expr+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var body string
			b.js(`location.href + "\n" + document.body.innerText.slice(0, 2000)`, &body)
			b.t.Fatalf("waited 10s for %s (%s); the page shows:\n%s", what, expr, body)
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// text is the text of the first element sel matches ("" when none).
func (b *tab) text(sel string) string {
	b.t.Helper()
	var s string
	b.js(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel), &s)
	return s
}

// has is a JS expression: sel matches an element whose text contains text.
func has(sel, text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll(%q)].some(e => e.textContent.includes(%q))`, sel, text)
}

// login opens the inbox and logs in.
func (b *tab) login(username, password string) {
	b.t.Helper()
	b.run(chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.CSS("#username")))
	b.run(chromedp.SetValue(chromedp.CSS("#username"), username), chromedp.SetValue(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")))
	b.until("the inbox after login", `!document.querySelector("#app").hidden`)
}

// open opens a conversation by its address and waits for its thread.
func (b *tab) open(convID string) {
	b.t.Helper()
	b.js(fmt.Sprintf(`location.hash = "#/c/%s"`, convID), nil)
	b.until("the thread", `document.querySelector("#composer")`)
}

// msg is the selector of a message's element in the open thread.
func msg(id string) string { return fmt.Sprintf(`.timeline [data-id="%s"]`, id) }

// browserAgent is a login of the inbox.
type browserAgent struct{ ID, Username, Password, Name, Token string }

func (a *api) newBrowserAgent(perm int, name string) browserAgent {
	a.t.Helper()
	u := unique("inbox")
	ag := a.ok("POST", "/v1.0/agents", map[string]any{"username": u, "password": "password-" + u, "name": name, "permission": perm})
	login := a.ok("POST", "/v1.0/auth/login", map[string]any{"username": u, "password": "password-" + u})
	return browserAgent{ID: ag["id"].(string), Username: u, Password: "password-" + u, Name: name, Token: login["token"].(string)}
}

// press presses one key as a keyboard does: a keydown that carries its text,
// so that a page preventing the keydown also prevents the text (chromedp's
// KeyEvent sends the text as a separate event that nothing can prevent).
// key is "Enter", "Escape", "ArrowDown", "ArrowUp" or one character.
func (b *tab) press(key string, modifiers ...kb.Modifier) {
	b.t.Helper()
	p := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: key}
	for _, m := range modifiers {
		p.Modifiers |= int64(m)
	}
	switch key {
	case "Enter":
		p.Code, p.WindowsVirtualKeyCode, p.Text = "Enter", 13, "\r"
	case "Escape":
		p.Code, p.WindowsVirtualKeyCode = "Escape", 27
	case "ArrowDown":
		p.Code, p.WindowsVirtualKeyCode = "ArrowDown", 40
	case "ArrowUp":
		p.Code, p.WindowsVirtualKeyCode = "ArrowUp", 38
	case "/":
		p.Code, p.WindowsVirtualKeyCode, p.Text = "Slash", 191, "/"
	default:
		r := []rune(key)[0]
		p.Code, p.WindowsVirtualKeyCode, p.Text = "Key"+strings.ToUpper(key), int64(unicode.ToUpper(r)), key
	}
	p.NativeVirtualKeyCode, p.UnmodifiedText = p.WindowsVirtualKeyCode, p.Text
	command(b, input.DispatchKeyEvent, p)
	up := p
	up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
	command(b, input.DispatchKeyEvent, up)
}

// typeText types s into the focused element, character by character.
func (b *tab) typeText(s string) {
	b.t.Helper()
	command(b, input.InsertText, input.InsertTextParams{Text: s})
}
