package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

func (s *Server) routeFlows() {
	s.handle("GET /v1.0/flows", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.ListFlows(r.Context(), c, pageRequest(r))
	})
	s.handle("POST /v1.0/flows", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.FlowInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.CreateFlow(r.Context(), c, in)
	})
	s.handle("GET /v1.0/flows/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.GetFlow(r.Context(), c, r.PathValue("id"))
	})
	s.handle("PUT /v1.0/flows/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.FlowInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateFlow(r.Context(), c, r.PathValue("id"), in)
	})
	s.handle("DELETE /v1.0/flows/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.DeleteFlow(r.Context(), c, r.PathValue("id"))
	})
	s.handle("GET /v1.0/activeflows", func(r *http.Request, c *convo.Caller) (any, error) {
		q := r.URL.Query()
		return s.svc.ListActiveflows(r.Context(), c, service.ActiveflowFilter{FlowID: q.Get("flow_id"), ReferenceID: q.Get("reference_id")}, pageRequest(r))
	})
	s.handle("POST /v1.0/activeflows", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.ActiveflowInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.StartActiveflow(r.Context(), c, in)
	})
	s.handle("GET /v1.0/activeflows/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.GetActiveflow(r.Context(), c, r.PathValue("id"))
	})
	s.handle("POST /v1.0/activeflows/{id}/stop", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.StopActiveflow(r.Context(), c, r.PathValue("id"))
	})
	s.handle("DELETE /v1.0/activeflows/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.DeleteActiveflow(r.Context(), c, r.PathValue("id"))
	})
}
