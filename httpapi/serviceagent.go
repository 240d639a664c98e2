package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

// routeServiceAgents registers the agent-facing routes of an agent's app:
// itself, its colleagues and its customer. Its conversations are in
// conversation.go, its event stream in ws.go.
func (s *Server) routeServiceAgents() {
	s.handle("GET /v1.0/service_agents/me", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.Me(r.Context(), c)
	})
	s.handle("PUT /v1.0/service_agents/me", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.AgentInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateMe(r.Context(), c, in)
	})
	s.handle("PUT /v1.0/service_agents/me/password", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.AgentInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateMyPassword(r.Context(), c, in.Password)
	})
	s.handle("PUT /v1.0/service_agents/me/status", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.AgentInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateMyStatus(r.Context(), c, in.Status)
	})
	s.handle("PUT /v1.0/service_agents/me/addresses", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.AgentInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateMyAddresses(r.Context(), c, in.Addresses)
	})
	s.handle("GET /v1.0/service_agents/agents", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.ListServiceAgents(r.Context(), c, pageRequest(r))
	})
	s.handle("GET /v1.0/service_agents/agents/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.GetServiceAgent(r.Context(), c, r.PathValue("id"))
	})
	s.handle("GET /v1.0/service_agents/customer", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.GetServiceAgentCustomer(r.Context(), c)
	})
}
