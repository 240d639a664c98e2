package httpapi

import (
	_ "embed"
	"net/http"
)

// OpenAPI is convo's OpenAPI document, served at GET /v1.0/openapi.yaml.
// Tests hold it to every route registered and every answer given.
//
//go:embed openapi.yaml
var OpenAPI []byte

// routeOpenAPI serves the document without a credential: clients read it
// to learn the API before they have one.
func (s *Server) routeOpenAPI() {
	s.mux.HandleFunc("GET /v1.0/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(OpenAPI)
	})
}
