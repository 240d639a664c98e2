package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

func (s *Server) routeCustomers() {
	s.handle("GET /v1.0/customer", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.GetOwnCustomer(r.Context(), c)
	})
	s.handle("PUT /v1.0/customer", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.CustomerInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateOwnCustomer(r.Context(), c, in)
	})
	s.handle("GET /v1.0/customers", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.ListCustomers(r.Context(), c, pageRequest(r))
	})
	s.handle("POST /v1.0/customers", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.CustomerInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.CreateCustomer(r.Context(), c, in)
	})
	s.handle("GET /v1.0/customers/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.GetCustomer(r.Context(), c, r.PathValue("id"))
	})
	s.handle("PUT /v1.0/customers/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.CustomerInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateCustomer(r.Context(), c, r.PathValue("id"), in)
	})
	s.handle("DELETE /v1.0/customers/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.DeleteCustomer(r.Context(), c, r.PathValue("id"))
	})
}
