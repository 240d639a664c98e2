// Package httpapi serves convo's VoIPbin-compatible REST API over net/http.
// Handlers translate HTTP to service calls and back; rules live in the service.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = 1 << 20

// Server routes API requests to the service.
type Server struct {
	svc    *service.Service
	logger *slog.Logger
	mux    *routeMux
	// trustedProxies are believed about the client address they forward for.
	trustedProxies []netip.Prefix

	observer Observer
	// ops holds the operations routes when they are served apart.
	ops *routeMux
	// times is how timestamps are written in answers and stream frames.
	times convo.TimeFormat
	// streams ends the open realtime streams at shutdown.
	streams streamSet
}

// New returns a Server with every route registered.
func New(svc *service.Service, logger *slog.Logger) *Server {
	s := &Server{svc: svc, logger: logger, mux: &routeMux{ServeMux: http.NewServeMux()}, observer: noObserver{}, times: convo.TimeSeed}
	s.routeAuth()
	s.routeAudit()
	s.routeCustomers()
	s.routeAgents()
	s.routeTags()
	s.routeCannedResponses()
	s.routeLabels()
	s.routeNotes()
	s.routeSearch()
	s.routeServiceAgents()
	s.routeAccessKeys()
	s.routeAccounts()
	s.routeQuota()
	s.routeTemplates()
	s.routeConversations()
	s.routeMessages()
	s.routeMedias()
	s.routeHooks()
	s.routeDeliveries()
	s.routeFlows()
	s.routeRealtime()
	s.routeOpenAPI()
	s.routeInbox()
	s.mux.HandleFunc("/", s.handleNoRoute)
	return s
}

// WriteTimes makes answers and stream frames carry their timestamps in
// format f (the seed format unless called).
func (s *Server) WriteTimes(f convo.TimeFormat) { s.times = f }

// ServeHTTP assigns a request id, logs one line per request and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(s.mux, w, r) }

// serve answers r through the routes of mux: the API's or the operations
// listener's (see EnableOps).
func (s *Server) serve(mux *routeMux, w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := newRequestID()
	w.Header().Set("X-Request-Id", id)
	rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
	if err := checkRequestNUL(r); err != nil {
		s.writeError(rw, r, err)
	} else {
		mux.ServeHTTP(rw, r)
	}
	elapsed := time.Since(start)
	// The mux has set the pattern it matched; "/" is the catch-all of unknown routes.
	pattern := r.Pattern
	if pattern == "/" {
		pattern = ""
	}
	s.observer.Request(pattern, r.Method, rw.status, elapsed)
	// The query string is never logged: it may carry a token or access key.
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", rw.status),
		slog.Int("bytes", rw.bytes), slog.Duration("duration", elapsed), slog.String("request_id", id))
}

type requestIDKey struct{}

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

type statusWriter struct {
	http.ResponseWriter
	status, bytes int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// handleNoRoute answers paths no route matches (404) and known paths asked
// with a method they do not serve (405 with Allow).
func (s *Server) handleNoRoute(w http.ResponseWriter, r *http.Request) { s.noRoute(s.mux, w, r) }

// noRoute is handleNoRoute for the routes of mux.
func (s *Server) noRoute(mux *routeMux, w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeErrorStatus(w, r, http.StatusMethodNotAllowed, &convo.Error{Status: convo.EInvalid, Reason: "METHOD_NOT_ALLOWED",
			Message: r.Method + " is not supported here; allowed: " + strings.Join(allowed, ", ")})
		return
	}
	s.writeError(w, r, convo.NotFound(convo.ReasonRouteNotFound, "route "+r.URL.Path))
}

// httpStatus maps an error status to its HTTP code.
func httpStatus(status string) int {
	switch status {
	case convo.EInvalid:
		return http.StatusBadRequest
	case convo.EUnauthorized:
		return http.StatusUnauthorized
	case convo.EForbidden:
		return http.StatusForbidden
	case convo.ENotFound:
		return http.StatusNotFound
	case convo.EConflict, convo.EPrecondition:
		return http.StatusConflict
	case convo.EExhausted:
		return http.StatusTooManyRequests
	case convo.EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError renders err in the error envelope; internal errors are logged
// and shown to the client only as "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *convo.Error
	if !errors.As(err, &e) {
		s.logger.Error("internal error", "path", r.URL.Path, "request_id", requestID(r), "error", err)
		e = &convo.Error{Status: convo.EInternal, Reason: "INTERNAL", Message: "internal error"}
	}
	setRetryAfter(w, retryAfter(e))
	writeErrorStatus(w, r, httpStatus(e.Status), e)
}

// retryAfter is how long a client should wait before trying again after e:
// what e says, else a second after too many requests, and a few seconds
// while the database is away.
func retryAfter(e *convo.Error) time.Duration {
	switch {
	case e.RetryAfter > 0:
		return e.RetryAfter
	case e.Status == convo.EExhausted:
		return time.Second
	case e.Status == convo.EUnavailable:
		return unavailableRetryAfter
	}
	return 0
}

// unavailableRetryAfter is the wait of a 503 that names none: a restarting
// database is usually back within a few seconds, and convo resumes within
// a second of its return. Providers retry hooks answered 503.
const unavailableRetryAfter = 3 * time.Second

// setRetryAfter sets Retry-After to d in whole seconds, rounded up (a
// client that waits that long is let in); nothing when d is zero.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	if d > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	}
}

func writeErrorStatus(w http.ResponseWriter, r *http.Request, code int, e *convo.Error) {
	type body struct {
		Status    string `json:"status"`
		Reason    string `json:"reason"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}
	writeJSON(w, code, map[string]body{"error": {e.Status, e.Reason, e.Message, requestID(r)}})
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey{}).(string)
	return id
}

func writeJSON(w http.ResponseWriter, code int, v any) { writeJSONIn(w, code, v, convo.TimeSeed) }

// writeJSONIn writes v with its timestamps in format f.
func writeJSONIn(w http.ResponseWriter, code int, v any, f convo.TimeFormat) {
	b, err := json.Marshal(v)
	if err != nil {
		// Still the error envelope, with the request id set at the start.
		b = []byte(`{"error":{"status":"INTERNAL","reason":"INTERNAL","message":"internal error","request_id":"` + w.Header().Get("X-Request-Id") + `"}}`)
		code = http.StatusInternalServerError
	}
	if f != convo.TimeSeed {
		// Into a reused buffer, which halves the cost of rendering a page
		// (docs/performance.md).
		buf := renderBuffers.Get().(*[]byte)
		defer putRenderBuffer(buf)
		*buf = f.AppendJSON((*buf)[:0], b)
		b = *buf
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// renderBuffers hold answers rendered in a time format other than the seed's.
var renderBuffers = sync.Pool{New: func() any { return new([]byte) }}

// putRenderBuffer returns buf to the pool unless an unusually long answer
// grew it: kept, it would hold its memory for good.
func putRenderBuffer(buf *[]byte) {
	if cap(*buf) <= 1<<20 {
		renderBuffers.Put(buf)
	}
}

// reply renders v or err: the one exit of every handler.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSONIn(w, http.StatusOK, v, s.times)
}

// bodyOf reads a JSON body into a T. An empty body is an empty object.
func bodyOf[T any](r *http.Request) (T, error) {
	var v T
	return v, decode(r, &v)
}

// decode reads a JSON body into v. An empty body is an empty object.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return convo.Invalid("BODY_TOO_LARGE", "the request body is larger than 1 MiB")
		}
		return convo.Invalid(convo.ReasonInvalidJSON, "the request body could not be read")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := checkBodyNUL(body); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return convo.Invalid(convo.ReasonInvalidJSON, "field %s has the wrong type", typeErr.Field)
		}
		return convo.Invalid(convo.ReasonInvalidJSON, "the request body is not valid JSON")
	}
	return nil
}

// pageRequest reads page_size and page_token.
func pageRequest(r *http.Request) convo.PageRequest {
	q := r.URL.Query()
	return convo.PageRequest{Size: convo.ParsePageSize(q.Get("page_size")), Token: q.Get("page_token")}
}

// handle registers an authenticated route whose handler returns the value
// to render or an error.
func (s *Server) handle(pattern string, h func(r *http.Request, c *convo.Caller) (any, error)) {
	s.mux.HandleFunc(pattern, s.authenticated(func(w http.ResponseWriter, r *http.Request, c *convo.Caller) {
		v, err := h(r, c)
		s.reply(w, r, v, err)
	}))
}

// authenticated wraps a handler that needs a caller: it reads the access key
// or token from the query or the Authorization header.
func (s *Server) authenticated(h func(w http.ResponseWriter, r *http.Request, c *convo.Caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.svc.Authenticate(r.Context(), credential(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		c.Address = s.clientAddress(r)
		h(w, r, c)
	}
}

func credential(r *http.Request) string {
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(v)
	}
	q := r.URL.Query()
	if v := q.Get("token"); v != "" {
		return v
	}
	return q.Get("accesskey")
}
