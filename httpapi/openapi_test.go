package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// loadOpenAPI loads and validates the embedded document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.yaml does not validate: %v", err)
	}
	return doc
}

// TestOpenAPIDocumentsEveryRoute holds the document to the routes the
// server registers, both ways: no route without its operation, and no
// operation the server does not serve.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	s := New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.EnableOps(Ops{Metrics: http.NotFoundHandler()})

	registered := map[string]bool{}
	for _, pattern := range s.Routes() {
		if pattern == "/" {
			continue // the fallback: 404 ROUTE_NOT_FOUND or 405, in components/responses
		}
		method, path, ok := strings.Cut(pattern, " ")
		if !ok || strings.ContainsAny(method, "/{") || !strings.HasPrefix(path, "/") {
			t.Errorf("route %q: register routes as \"METHOD /path\"", pattern)
			continue
		}
		// "/{$}" is the root alone, which the document writes "/".
		registered[method+" "+strings.TrimSuffix(path, "{$}")] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for _, route := range sortedKeys(registered) {
		if !documented[route] {
			t.Errorf("route %s is registered but not documented: add it to httpapi/openapi.yaml (see the comment at its top)", route)
		}
	}
	for _, op := range sortedKeys(documented) {
		if !registered[op] {
			t.Errorf("httpapi/openapi.yaml documents %s, which the server does not register", op)
		}
	}
	if len(registered) == 0 {
		t.Fatal("the server registered no route")
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
