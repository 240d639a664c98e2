package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

func (s *Server) routeCannedResponses() {
	s.handle("GET /v1.0/canned_responses", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.ListCannedResponses(r.Context(), c, r.URL.Query().Get("q"), pageRequest(r))
	})
	s.handle("POST /v1.0/canned_responses", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.CannedResponseInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.CreateCannedResponse(r.Context(), c, in)
	})
	s.handle("GET /v1.0/canned_responses/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.GetCannedResponse(r.Context(), c, r.PathValue("id"))
	})
	s.handle("PUT /v1.0/canned_responses/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.CannedResponseInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateCannedResponse(r.Context(), c, r.PathValue("id"), in)
	})
	s.handle("DELETE /v1.0/canned_responses/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.DeleteCannedResponse(r.Context(), c, r.PathValue("id"))
	})
}
