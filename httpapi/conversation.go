package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

// routeConversations registers /conversations and its service-agent twin,
// which differs only in how a plain agent's list is scoped.
func (s *Server) routeConversations() {
	s.handle("GET /v1.0/conversations", func(r *http.Request, c *convo.Caller) (any, error) {
		q := r.URL.Query()
		f := service.ConversationFilter{OwnerID: q.Get("owner_id"), AccountID: q.Get("account_id"),
			Type: q.Get("type"), DialogID: q.Get("dialog_id"), Deleted: q.Get("deleted") == "true",
			Statuses: q["status"], Unassigned: q.Get("unassigned"), Order: q.Get("order"),
			Labels: q["label"], Unread: q.Get("unread")}
		return s.svc.ListConversations(r.Context(), c, f, pageRequest(r))
	})
	s.handle("GET /v1.0/service_agents/conversations", func(r *http.Request, c *convo.Caller) (any, error) {
		q := r.URL.Query()
		f := service.ConversationFilter{Statuses: q["status"], Unassigned: q.Get("unassigned"), Order: q.Get("order"),
			Labels: q["label"], Unread: q.Get("unread")}
		return s.svc.ListServiceAgentConversations(r.Context(), c, f, pageRequest(r))
	})
	s.handle("POST /v1.0/conversations", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.ConversationCreate](r)
		if err != nil {
			return nil, err
		}
		return s.svc.CreateConversation(r.Context(), c, in)
	})
	for _, prefix := range []string{"/v1.0/conversations", "/v1.0/service_agents/conversations"} {
		s.handle("GET "+prefix+"/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
			return s.svc.GetConversation(r.Context(), c, r.PathValue("id"))
		})
		s.handle("PUT "+prefix+"/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
			in, err := bodyOf[service.ConversationUpdate](r)
			if err != nil {
				return nil, err
			}
			return s.svc.UpdateConversation(r.Context(), c, r.PathValue("id"), in)
		})
		s.handle("POST "+prefix+"/{id}/unassign", func(r *http.Request, c *convo.Caller) (any, error) {
			return s.svc.UnassignConversation(r.Context(), c, r.PathValue("id"))
		})
		s.handle("POST "+prefix+"/{id}/status", func(r *http.Request, c *convo.Caller) (any, error) {
			in, err := bodyOf[service.StatusChange](r)
			if err != nil {
				return nil, err
			}
			return s.svc.SetConversationStatus(r.Context(), c, r.PathValue("id"), in)
		})
		s.handle("POST "+prefix+"/{id}/take", func(r *http.Request, c *convo.Caller) (any, error) {
			return s.svc.TakeConversation(r.Context(), c, r.PathValue("id"))
		})
		s.handle("PUT "+prefix+"/{id}/labels", func(r *http.Request, c *convo.Caller) (any, error) {
			in, err := bodyOf[service.ConversationLabelsInput](r)
			if err != nil {
				return nil, err
			}
			return s.svc.SetConversationLabels(r.Context(), c, r.PathValue("id"), in)
		})
		s.handle("POST "+prefix+"/{id}/read", func(r *http.Request, c *convo.Caller) (any, error) {
			in, err := bodyOf[service.ReadInput](r)
			if err != nil {
				return nil, err
			}
			return s.svc.MarkRead(r.Context(), c, r.PathValue("id"), in)
		})
		s.handle("GET "+prefix+"/{id}/messages", func(r *http.Request, c *convo.Caller) (any, error) {
			return s.svc.ListMessages(r.Context(), c, r.PathValue("id"), pageRequest(r))
		})
	}
	s.handle("DELETE /v1.0/conversations/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.DeleteConversation(r.Context(), c, r.PathValue("id"))
	})
}
