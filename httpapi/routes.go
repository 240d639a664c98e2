package httpapi

import (
	"net/http"
	"slices"
)

// routeMux is a ServeMux that remembers the patterns registered on it, so
// that tests can hold the OpenAPI document to every route.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// Routes returns the patterns registered, in order ("GET /v1.0/me", ...),
// including "/", which answers every request no route matches, and the
// operations routes wherever they are served.
func (s *Server) Routes() []string {
	routes := slices.Clone(s.mux.patterns)
	if s.ops != nil {
		for _, p := range s.ops.patterns {
			if !slices.Contains(routes, p) {
				routes = append(routes, p)
			}
		}
	}
	return routes
}
