package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
)

func (s *Server) routeSearch() {
	s.handle("GET /v1.0/search", func(r *http.Request, c *convo.Caller) (any, error) {
		q := r.URL.Query()
		return s.svc.Search(r.Context(), c, q.Get("q"), q.Get("type"), pageRequest(r))
	})
}
