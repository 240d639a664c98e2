package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

// routeLabels registers /labels: the labels agents put on conversations.
func (s *Server) routeLabels() {
	s.handle("GET /v1.0/labels", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.ListLabels(r.Context(), c, pageRequest(r))
	})
	s.handle("POST /v1.0/labels", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.LabelInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.CreateLabel(r.Context(), c, in)
	})
	s.handle("GET /v1.0/labels/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.GetLabel(r.Context(), c, r.PathValue("id"))
	})
	s.handle("PUT /v1.0/labels/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.LabelInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateLabel(r.Context(), c, r.PathValue("id"), in)
	})
	s.handle("DELETE /v1.0/labels/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.DeleteLabel(r.Context(), c, r.PathValue("id"))
	})
}
