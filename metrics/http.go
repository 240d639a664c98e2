package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// unmatched is the route label of requests no route pattern matched: the
// raw path is never a label, or every probed URL would make a series.
const unmatched = "unmatched"

type requestKey struct {
	route, method string
	status        int
}

type requestObservers struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// Request counts an answered request and its time. pattern is the route
// pattern that matched ("" when none did), as net/http's ServeMux sets it
// ("GET /v1.0/conversations/{id}"); its method part is left out, the
// request's own method being a label of its own.
func (m *Metrics) Request(pattern, method string, status int, elapsed time.Duration) {
	k := requestKey{route: route(pattern), method: knownMethod(method), status: status}
	o := (*m.observers.Load())[k]
	if o == nil {
		o = m.addObservers(k)
	}
	o.count.Inc()
	o.latency.Observe(elapsed.Seconds())
}

// addObservers makes the series of a key seen for the first time.
func (m *Metrics) addObservers(k requestKey) *requestObservers {
	m.addMu.Lock()
	defer m.addMu.Unlock()
	old := *m.observers.Load()
	if o := old[k]; o != nil {
		return o
	}
	o := &requestObservers{
		count:   m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(k.status)),
		latency: m.latency.WithLabelValues(k.route, k.method),
	}
	next := make(map[requestKey]*requestObservers, len(old)+1)
	for key, v := range old {
		next[key] = v
	}
	next[k] = o
	m.observers.Store(&next)
	return o
}

// route is the path part of a route pattern, or unmatched.
func route(pattern string) string {
	if pattern == "" {
		return unmatched
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// knownMethod keeps the method label to the methods HTTP defines: a
// client may send any token as a method.
func knownMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}
