package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

func (s *Server) routeAudit() {
	s.handle("GET /v1.0/audit_logs", func(r *http.Request, c *convo.Caller) (any, error) {
		q := r.URL.Query()
		f := service.AuditLogFilter{ActorID: q.Get("actor_id"), ResourceType: q.Get("resource_type"), ResourceID: q.Get("resource_id"), Action: q.Get("action")}
		return s.svc.ListAuditLogs(r.Context(), c, f, pageRequest(r))
	})
}
