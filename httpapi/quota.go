package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
)

func (s *Server) routeQuota() {
	s.handle("GET /v1.0/conversation_accounts/{id}/quota", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.AccountQuota(r.Context(), c, r.PathValue("id"))
	})
}
