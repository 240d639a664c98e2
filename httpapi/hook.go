package httpapi

import (
	"errors"
	"io"
	"net/http"

	"github.com/convohq/convo"
)

// routeHooks registers the provider-facing hook URLs. They take no API
// credential: the provider's signature is the credential.
func (s *Server) routeHooks() {
	s.mux.HandleFunc("GET /v1.0/conversation/accounts/{id}", func(w http.ResponseWriter, r *http.Request) {
		challenge, err := s.svc.VerifyHook(r.Context(), r.PathValue("id"), r.URL.Query())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, challenge)
	})
	s.mux.HandleFunc("POST /v1.0/conversation/accounts/{id}", s.hook(convo.HookMessage))
	s.mux.HandleFunc("POST /v1.0/conversation/accounts/{id}/status", s.hook(convo.HookStatus))
}

// hook answers 200 once what the request carries is durably stored.
func (s *Server) hook(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeErrorStatus(w, r, http.StatusRequestEntityTooLarge, &convo.Error{Status: convo.EInvalid, Reason: "BODY_TOO_LARGE", Message: "the request body is larger than 1 MiB"})
				return
			}
			s.writeError(w, r, convo.Invalid("INVALID_BODY", "the request body could not be read"))
			return
		}
		err = s.svc.ReceiveHook(r.Context(), r.PathValue("id"), r.URL.RequestURI(), convo.HookRequest{Kind: kind, Header: r.Header.Get, Body: body})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}
