package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
)

func (s *Server) routeTemplates() {
	s.handle("GET /v1.0/conversation_accounts/{id}/templates", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.ListTemplates(r.Context(), c, r.PathValue("id"), r.URL.Query().Get("refresh") == "true")
	})
}
