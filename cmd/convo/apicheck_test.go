package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/convohq/convo/httpapi"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"
)

// This file holds every answer the tests receive from a convo server to
// convo's own OpenAPI document (httpapi/openapi.yaml): a checking transport
// replaces http.DefaultTransport for the whole test binary and validates the
// answers of the servers the harness started (not those of fake providers
// or webhook receivers). An answer the document does not describe fails the
// test that asked for it through call, or else the run, listing it.

// apiCheck is the loaded document and what the transport found.
var apiCheck struct {
	router   routers.Router
	fallback *routers.Route
	opts     *openapi3filter.Options

	mu       sync.Mutex
	servers  map[string]int // host:port of convo servers under test → how many registrations
	problems []string       // answers no test was told about
}

// installAPICheck loads the document and puts the checking transport in
// front of http.DefaultTransport.
func installAPICheck() error {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(httpapi.OpenAPI)
	if err != nil {
		return fmt.Errorf("load httpapi/openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return fmt.Errorf("httpapi/openapi.yaml does not validate: %w", err)
	}
	router, err := legacyrouter.NewRouter(doc)
	if err != nil {
		return err
	}
	// Paths no route serves are answered by the server's fallback, which
	// the document describes as two responses of its components.
	notFound, notAllowed := doc.Components.Responses["RouteNotFound"], doc.Components.Responses["MethodNotAllowed"]
	if notFound == nil || notAllowed == nil {
		return fmt.Errorf("httpapi/openapi.yaml lacks components/responses RouteNotFound or MethodNotAllowed")
	}
	fallback := openapi3.NewResponses(
		openapi3.WithStatus(http.StatusNotFound, notFound), openapi3.WithStatus(http.StatusMethodNotAllowed, notAllowed))
	apiCheck.router, apiCheck.servers = router, map[string]int{}
	apiCheck.fallback = &routers.Route{Spec: doc, Path: "(no route)", Operation: &openapi3.Operation{Responses: fallback}}
	apiCheck.opts = &openapi3filter.Options{
		IncludeResponseStatus: true, // an undocumented status fails
		MultiError:            true,
		// The failure names the field and the schema; the body follows it.
		SchemaValidationOptions: append(doc.GetSchemaValidationOptions(), openapi3.DisableSchemaErrorDetails()),
	}
	http.DefaultTransport = &checkingTransport{next: http.DefaultTransport}
	return nil
}

// reportAPICheck prints the answers that failed outside call and turns a
// passing run's exit code into a failure when there are any.
func reportAPICheck(code int) int {
	apiCheck.mu.Lock()
	defer apiCheck.mu.Unlock()
	if len(apiCheck.problems) == 0 {
		return code
	}
	fmt.Fprintf(os.Stderr, "FAIL: %d answer(s) of convo servers do not match httpapi/openapi.yaml:\n", len(apiCheck.problems))
	for _, p := range apiCheck.problems {
		fmt.Fprintf(os.Stderr, "  %s\n", strings.ReplaceAll(p, "\n", "\n    "))
	}
	return max(code, 1)
}

// checkAnswersOf makes the transport check the answers of the server at
// base URL u until the returned function is called.
func checkAnswersOf(u string) (stop func()) {
	host := hostOf(u)
	apiCheck.mu.Lock()
	apiCheck.servers[host]++
	apiCheck.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			apiCheck.mu.Lock()
			if apiCheck.servers[host]--; apiCheck.servers[host] <= 0 {
				delete(apiCheck.servers, host)
			}
			apiCheck.mu.Unlock()
		})
	}
}

func hostOf(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		panic(fmt.Sprintf("server URL %q: %v", u, err))
	}
	return parsed.Host
}

func checked(host string) bool {
	apiCheck.mu.Lock()
	defer apiCheck.mu.Unlock()
	return apiCheck.servers[host] > 0
}

// answerProblem is where the transport leaves what is wrong with the answer
// to a request sent by call, which reports it on the calling test.
type answerProblem struct{ text string }

type answerProblemKey struct{}

func withAnswerProblem(ctx context.Context, p *answerProblem) context.Context {
	return context.WithValue(ctx, answerProblemKey{}, p)
}

// checkingTransport validates the answers of convo servers under test.
type checkingTransport struct{ next http.RoundTripper }

func (c *checkingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := c.next.RoundTrip(req)
	if err != nil || !checked(req.URL.Host) {
		return res, err
	}
	problem := checkAnswer(req, res)
	if problem == "" {
		return res, nil
	}
	problem = fmt.Sprintf("%s %s: status %d: %s", req.Method, req.URL.Path, res.StatusCode, problem)
	if p, ok := req.Context().Value(answerProblemKey{}).(*answerProblem); ok {
		p.text = problem
	} else {
		apiCheck.mu.Lock()
		apiCheck.problems = append(apiCheck.problems, problem)
		apiCheck.mu.Unlock()
	}
	return res, nil
}

// checkAnswer validates res, the answer to req, against the document and
// returns what does not match ("" when all does). A JSON body is read and
// put back; other bodies (hook answers, this YAML, a WebSocket) are left
// alone and only their route, status, headers and media type are checked.
func checkAnswer(req *http.Request, res *http.Response) string {
	method := req.Method
	if method == http.MethodHead {
		method = http.MethodGet // ServeMux answers HEAD with the GET route
	}
	// A relative URL: the document's server is "/".
	asked, err := http.NewRequest(method, req.URL.RequestURI(), nil)
	if err != nil {
		return err.Error()
	}
	route, params, err := apiCheck.router.FindRoute(asked)
	if err == nil && expand(route.Path, params) != asked.URL.Path {
		// kin's router lets a path parameter match nothing ("/conversations"
		// for "/conversations/{id}"), where ServeMux wants a segment.
		err = routers.ErrPathNotFound
	}
	if err != nil {
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
			return "httpapi/openapi.yaml has no operation for this request: document the route (see the comment at the top of httpapi/openapi.yaml)"
		}
		route, params = apiCheck.fallback, nil
	}
	what := fmt.Sprintf("%s %s of httpapi/openapi.yaml", route.Method, route.Path)
	if route == apiCheck.fallback {
		what = "the 404/405 of a path no route serves (httpapi/openapi.yaml has no operation for it; to add a route, see the comment at its top)"
	}
	mediaType, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	isJSON := mediaType == "application/json"
	opts := *apiCheck.opts
	opts.ExcludeResponseBody = !isJSON || req.Method == http.MethodHead
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: asked, PathParams: params, Route: route, Options: &opts},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Options:                &opts,
	}
	if !opts.ExcludeResponseBody {
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			return "reading the body: " + err.Error()
		}
		in.Body = io.NopCloser(bytes.NewReader(body))
		if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
			return fmt.Sprintf("the answer does not match %s:\n%v\nbody: %s", what, err, body)
		}
		return ""
	}
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		return fmt.Sprintf("the answer does not match %s:\n%v", what, err)
	}
	// The body is not read, but its media type must be the one documented.
	var documented openapi3.Content
	if ref := route.Operation.Responses.Status(res.StatusCode); ref != nil && ref.Value != nil {
		documented = ref.Value.Content
	}
	if (mediaType == "" && len(documented) > 0) || (mediaType != "" && documented.Get(mediaType) == nil) {
		return fmt.Sprintf("Content-Type %q, where %s documents %v for this status",
			mediaType, what, slices.Sorted(maps.Keys(documented)))
	}
	return ""
}

// expand fills a path template with its parameters.
func expand(path string, params map[string]string) string {
	for name, value := range params {
		path = strings.ReplaceAll(path, "{"+name+"}", value)
	}
	return path
}
