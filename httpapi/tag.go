package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

func (s *Server) routeTags() {
	s.handle("GET /v1.0/tags", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.ListTags(r.Context(), c, pageRequest(r))
	})
	s.handle("POST /v1.0/tags", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.TagInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.CreateTag(r.Context(), c, in)
	})
	s.handle("GET /v1.0/tags/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.GetTag(r.Context(), c, r.PathValue("id"))
	})
	s.handle("PUT /v1.0/tags/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.TagInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateTag(r.Context(), c, r.PathValue("id"), in)
	})
	s.handle("DELETE /v1.0/tags/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.DeleteTag(r.Context(), c, r.PathValue("id"))
	})
}
