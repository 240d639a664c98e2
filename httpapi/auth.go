package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
)

func (s *Server) routeAuth() {
	login := func(w http.ResponseWriter, r *http.Request) {
		in, err := bodyOf[struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}](r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		res, err := s.svc.Login(r.Context(), in.Username, in.Password, s.clientAddress(r))
		s.reply(w, r, res, err)
	}
	s.mux.HandleFunc("POST /v1.0/auth/login", login)
	// VoIPbin serves login at the root, and its SDK calls it there.
	s.mux.HandleFunc("POST /auth/login", login)
	s.handle("POST /v1.0/auth/logout", func(r *http.Request, c *convo.Caller) (any, error) {
		return struct{}{}, s.svc.Logout(r.Context(), c)
	})
	s.handle("GET /v1.0/me", func(r *http.Request, c *convo.Caller) (any, error) {
		return s.svc.Me(r.Context(), c)
	})
}
