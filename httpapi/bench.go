package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/line"
)

// EnableBench registers POST /v1.0/bench/signature, the baseline route of
// `convo bench`: it reads the body as an inbound hook does (1 MiB limit) and
// checks its X-Line-Signature against secret, then answers 200 without
// touching the database. It is off unless the server is started with a
// bench secret; call it before serving.
func (s *Server) EnableBench(secret string) {
	if secret == "" {
		return
	}
	s.mux.HandleFunc("POST /v1.0/bench/signature", func(w http.ResponseWriter, r *http.Request) {
		body, ok := s.readHookBody(w, r)
		if !ok {
			return
		}
		if !line.ValidSignature(secret, body, r.Header.Get("X-Line-Signature")) {
			s.writeError(w, r, convo.ErrBadSignature)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}
