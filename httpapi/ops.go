package httpapi

import (
	"net/http"
	"time"
)

// Observer is told what the server does, for its metrics. Its methods run
// on every request and must be cheap.
type Observer interface {
	// Request is told of each request once answered: the route pattern
	// that matched ("" when none did), the method, the status and the time
	// the answer took.
	Request(pattern, method string, status int, elapsed time.Duration)
	// Streams is told of each realtime stream opening (+1) and ending (-1).
	Streams(delta int)
}

type noObserver struct{}

func (noObserver) Request(string, string, int, time.Duration) {}
func (noObserver) Streams(int)                                {}

// Observe has every request and stream told to o. Call it before serving.
func (s *Server) Observe(o Observer) { s.observer = o }

// Ops configures the operations routes: metrics and health, for the
// operator's monitoring rather than for API clients.
type Ops struct {
	// Metrics serves GET /metrics.
	Metrics http.Handler
	// Apart serves the operations routes only through the handler that
	// EnableOps returns, for a listener of their own (--metrics-listen),
	// instead of among the API's routes.
	Apart bool
}

// EnableOps registers the operations routes among the API's, or apart
// ones, and returns the handler serving them (the Server itself when
// they are not apart). Call it before serving.
func (s *Server) EnableOps(o Ops) http.Handler {
	if !o.Apart {
		s.routeOps(s.mux, o)
		return s
	}
	mux := &routeMux{ServeMux: http.NewServeMux()}
	s.ops = mux
	s.routeOps(mux, o)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { s.noRoute(mux, w, r) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(mux, w, r) })
}

// routeOps registers the operations routes on mux.
func (s *Server) routeOps(mux *routeMux, o Ops) {
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	s.routeHealth(mux)
}
