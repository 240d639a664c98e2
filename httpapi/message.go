package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

// routeMessages registers sending on both conversation surfaces.
func (s *Server) routeMessages() {
	for _, prefix := range []string{"/v1.0/conversations", "/v1.0/service_agents/conversations"} {
		s.handle("POST "+prefix+"/{id}/messages", func(r *http.Request, c *convo.Caller) (any, error) {
			in, err := bodyOf[service.MessageSend](r)
			if err != nil {
				return nil, err
			}
			return s.svc.SendMessage(r.Context(), c, r.PathValue("id"), in)
		})
	}
}
