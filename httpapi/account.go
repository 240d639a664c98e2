package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

func (s *Server) routeAccounts() {
	s.handle("GET /v1.0/conversation_accounts", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.ListAccounts(r.Context(), c, r.URL.Query().Get("deleted") == "true", pageRequest(r))
	})
	s.handle("POST /v1.0/conversation_accounts", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.AccountInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.CreateAccount(r.Context(), c, in)
	})
	s.handle("GET /v1.0/conversation_accounts/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.GetAccount(r.Context(), c, r.PathValue("id"))
	})
	s.handle("PUT /v1.0/conversation_accounts/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.AccountInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateAccount(r.Context(), c, r.PathValue("id"), in)
	})
	s.handle("DELETE /v1.0/conversation_accounts/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.DeleteAccount(r.Context(), c, r.PathValue("id"))
	})
}
