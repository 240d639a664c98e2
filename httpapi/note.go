package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

func (s *Server) routeNotes() {
	s.handle("GET /v1.0/conversations/{id}/notes", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.ListNotes(r.Context(), c, r.PathValue("id"), pageRequest(r))
	})
	s.handle("POST /v1.0/conversations/{id}/notes", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.NoteInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.CreateNote(r.Context(), c, r.PathValue("id"), in)
	})
	s.handle("PUT /v1.0/notes/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		in, err := bodyOf[service.NoteInput](r)
		if err != nil {
			return nil, err
		}
		return s.svc.UpdateNote(r.Context(), c, r.PathValue("id"), in)
	})
	s.handle("DELETE /v1.0/notes/{id}", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.DeleteNote(r.Context(), c, r.PathValue("id"))
	})
}
