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

// readHookBody reads a provider's request body, refusing one over 1 MiB
// with 413; it answers the request itself when it reports false.
func (s *Server) readHookBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err == nil {
		return body, true
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeErrorStatus(w, r, http.StatusRequestEntityTooLarge, &convo.Error{Status: convo.EInvalid, Reason: "BODY_TOO_LARGE", Message: "the request body is larger than 1 MiB"})
	} else {
		s.writeError(w, r, convo.Invalid("INVALID_BODY", "the request body could not be read"))
	}
	return nil, false
}

// hook answers 200 once what the request carries is durably stored.
func (s *Server) hook(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := s.readHookBody(w, r)
		if !ok {
			return
		}
		err := s.svc.ReceiveHook(r.Context(), r.PathValue("id"), r.URL.RequestURI(), convo.HookRequest{Kind: kind, Header: r.Header.Get, Body: body})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}
