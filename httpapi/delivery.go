package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

func (s *Server) routeDeliveries() {
	s.handle("GET /v1.0/webhook_deliveries", func(r *http.Request, c *convo.Caller) (any, error) {
		q := r.URL.Query()
		f := service.DeliveryFilter{Status: q.Get("status"), Type: q.Get("type"), ConversationID: q.Get("conversation_id")}
		return s.svc.ListDeliveries(r.Context(), c, f, pageRequest(r))
	})
	s.handle("POST /v1.0/webhook_deliveries/{id}/retry", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.RetryDelivery(r.Context(), c, r.PathValue("id"))
	})
}
