package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// The inbox's pages through HTTP: what a browser is given, and that the
// root's other paths stay the API's.
func TestInboxServed(t *testing.T) {
	ts := startServer(t, testdb.SQLite(t))
	base := ts.URL()

	t.Run("the root is the inbox page, with a strict policy", func(t *testing.T) {
		r := call(t, "GET", base+"/", "", nil)
		wantStatus(t, r, http.StatusOK)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type %q, want HTML", ct)
		}
		csp := r.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("Content-Security-Policy %q allows inline code", csp)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Error("no X-Content-Type-Options: nosniff")
		}
		body := string(r.Body)
		if strings.Contains(body, "<style") || strings.Contains(body, " style=") || strings.Contains(body, "<script>") {
			t.Error("the page has inline style or script, which the policy would block")
		}
	})

	t.Run("assets are cached by ETag", func(t *testing.T) {
		r := call(t, "GET", base+"/inbox/main.js", "", nil)
		wantStatus(t, r, http.StatusOK)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
			t.Errorf("Content-Type %q", ct)
		}
		etag := r.Header.Get("ETag")
		req, _ := http.NewRequest("GET", base+"/inbox/main.js", nil)
		req.Header.Set("If-None-Match", etag)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if etag == "" || res.StatusCode != http.StatusNotModified {
			t.Errorf("ETag %q, revalidation answered %d, want 304", etag, res.StatusCode)
		}
	})

	t.Run("the first page is under 150 KB", func(t *testing.T) {
		total := len(call(t, "GET", base+"/", "", nil).Body)
		for _, f := range []string{"app.css", "main.js", "api.js", "dom.js", "fmt.js", "i18n.js", "list.js", "thread.js", "composer.js", "actions.js", "search.js", "stream.js"} {
			r := call(t, "GET", base+"/inbox/"+f, "", nil)
			wantStatus(t, r, http.StatusOK)
			total += len(r.Body)
		}
		if total >= 150_000 {
			t.Errorf("the page and its assets are %d bytes", total)
		}
	})

	t.Run("other paths stay the API's JSON", func(t *testing.T) {
		a := ts.as("")
		a.fails("GET", "/v1.0/nope", nil, http.StatusNotFound, convo.ReasonRouteNotFound)
		a.fails("GET", "/inbox/nope.js", nil, http.StatusNotFound, convo.ReasonRouteNotFound)
		a.fails("GET", "/inbox/", nil, http.StatusNotFound, convo.ReasonRouteNotFound)
		a.fails("GET", "/index.html", nil, http.StatusNotFound, convo.ReasonRouteNotFound)
		a.fails("POST", "/", nil, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
	})
}

// A browser can set no header on a WebSocket: it offers its token as a
// subprotocol instead of putting it in the URL.
func TestStreamTokenSubprotocol(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b)
		_, tok := ts.as(ts.AdminKey).newAgent(convo.PermissionCustomerAgent)
		url := "ws" + strings.TrimPrefix(ts.URL(), "http") + "/v1.0/ws"
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		conn, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"convo", "convo.token." + tok}})
		if err != nil {
			t.Fatalf("dial with the token subprotocol: %v", err)
		}
		if conn.Subprotocol() != "convo" || res.Header.Get("Sec-WebSocket-Protocol") != "convo" {
			t.Errorf("subprotocol %q, want convo (the token is never echoed)", conn.Subprotocol())
		}

		_, res, err = websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"convo", "convo.token.not-a-token"}})
		if err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
			t.Errorf("a bad token: %v, want 401", err)
		}

		t.Run("a server that stops closes its streams as going away", func(t *testing.T) {
			got := make(chan error, 1)
			go func() { _, _, err := conn.Read(context.Background()); got <- err }()
			ts.restart(t)
			select {
			case err := <-got:
				if websocket.CloseStatus(err) != websocket.StatusGoingAway {
					t.Errorf("the stream ended with %v, want 1001 going away", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal(errors.New("the stream stayed open after the server stopped"))
			}
		})
	})
}
