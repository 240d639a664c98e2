package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

func (s *Server) routeAgents() {
	s.handle("GET /v1.0/agents", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.ListAgents(r.Context(), c, r.URL.Query().Get("status"), pageRequest(r))
	})
	s.handle("POST /v1.0/agents", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.AgentInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.CreateAgent(r.Context(), c, in)
	})
	s.handle("GET /v1.0/agents/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.GetAgent(r.Context(), c, r.PathValue("id"))
	})
	s.handle("PUT /v1.0/agents/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.AgentInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateAgent(r.Context(), c, r.PathValue("id"), in)
	})
	s.handle("DELETE /v1.0/agents/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.DeleteAgent(r.Context(), c, r.PathValue("id"))
	})
	s.handle("PUT /v1.0/agents/{id}/permission", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.AgentInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateAgentPermission(r.Context(), c, r.PathValue("id"), in.Permission)
	})
	s.handle("PUT /v1.0/agents/{id}/password", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.AgentInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateAgentPassword(r.Context(), c, r.PathValue("id"), in.Password)
	})
	s.handle("PUT /v1.0/agents/{id}/status", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.AgentInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateAgentStatus(r.Context(), c, r.PathValue("id"), in.Status)
	})
	s.handle("PUT /v1.0/agents/{id}/addresses", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.AgentInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateAgentAddresses(r.Context(), c, r.PathValue("id"), in.Addresses)
	})
	s.handle("PUT /v1.0/agents/{id}/tag_ids", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.AgentInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateAgentTagIDs(r.Context(), c, r.PathValue("id"), in.TagIDs)
	})
}
