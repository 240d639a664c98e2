package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

func (s *Server) routeAccessKeys() {
	s.handle("GET /v1.0/accesskeys", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.ListAccessKeys(r.Context(), c, pageRequest(r))
	})
	s.handle("POST /v1.0/accesskeys", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.AccessKeyInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.CreateAccessKey(r.Context(), c, in)
	})
	s.handle("GET /v1.0/accesskeys/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.GetAccessKey(r.Context(), c, r.PathValue("id"))
	})
	s.handle("PUT /v1.0/accesskeys/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.AccessKeyInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateAccessKey(r.Context(), c, r.PathValue("id"), in)
	})
	s.handle("DELETE /v1.0/accesskeys/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.DeleteAccessKey(r.Context(), c, r.PathValue("id"))
	})
}
