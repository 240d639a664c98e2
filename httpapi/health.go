package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
)

// routeHealth registers the probes of orchestrators and load balancers on
// mux; they take no credential. /healthz answers while the process runs,
// without touching the database; /readyz asks the database.
func (s *Server) routeHealth(mux *routeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.svc.Ready(r.Context()); err != nil {
			setRetryAfter(w, unavailableRetryAfter)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": convo.ErrorReason(err)})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}
