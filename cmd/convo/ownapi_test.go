package main

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/httpapi"
	"github.com/convohq/convo/internal/testdb"
	"github.com/getkin/kin-openapi/openapi3"
)

// TestOpenAPIServed: GET /v1.0/openapi.yaml answers the embedded document,
// without a credential, and the document loads and validates.
func TestOpenAPIServed(t *testing.T) {
	ts := startServer(t, testdb.SQLite(t))
	r := call(t, "GET", ts.URL()+"/v1.0/openapi.yaml", "", nil)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /v1.0/openapi.yaml: status %d, Content-Type %q; want 200 application/yaml\n%.300s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	if !bytes.Equal(r.Body, httpapi.OpenAPI) {
		t.Errorf("the served document (%d bytes) is not the embedded httpapi/openapi.yaml (%d bytes)", len(r.Body), len(httpapi.OpenAPI))
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(r.Body)
	if err != nil {
		t.Fatalf("the served document does not load: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the served document does not validate: %v", err)
	}
	if doc.Paths.Find("/v1.0/conversations/{id}") == nil {
		t.Errorf("the served document has no /v1.0/conversations/{id}")
	}
}

// TestOpenAPIRareAnswers asks for the answers no other test receives, so
// that the document is held to them too (the checking transport validates
// each; the statuses here only make sure they were given).
func TestOpenAPIRareAnswers(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		e := newChannelEnv(t, b)
		a := e.admin(t)
		conv := startThread(a, e.newAccount(a, convo.AccountSMS))
		if r := a.do("POST", "/v1.0/service_agents/conversations/"+conv+"/messages", map[string]any{"text": "hello"}); r.Status != http.StatusOK {
			t.Errorf("send on the service-agent surface: status %d\n%s", r.Status, r.Body)
		}
		// A plain GET of the stream, without the WebSocket upgrade.
		if r := a.do("GET", "/v1.0/ws", nil); r.Status != http.StatusUpgradeRequired {
			t.Errorf("GET /v1.0/ws without an upgrade: status %d, want 426\n%s", r.Status, r.Body)
		}
	})
}
