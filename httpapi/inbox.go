package httpapi

import (
	"net/http"

	"github.com/convohq/convo"
	"github.com/convohq/convo/web"
)

// inboxCSP allows the inbox only its own scripts, styles and connections
// (which covers its same-origin WebSocket); media of messages may come
// from any https host.
const inboxCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; " +
	"media-src 'self' https:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// routeInbox serves the agents' inbox: its page at the root and its assets
// under /inbox/. Every other path of the root stays the API's.
func (s *Server) routeInbox() {
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { serveAsset(w, r, web.Page()) })
	s.mux.HandleFunc("GET /inbox/{file}", func(w http.ResponseWriter, r *http.Request) {
		a := web.Lookup(r.PathValue("file"))
		if a == nil {
			s.writeError(w, r, convo.NotFound(convo.ReasonRouteNotFound, "route "+r.URL.Path))
			return
		}
		serveAsset(w, r, a)
	})
}

// serveAsset writes a, or 304 when the client holds it already. Assets keep
// their names across versions, so the browser revalidates each use (a cheap
// 304) rather than run an old script against a new API.
func serveAsset(w http.ResponseWriter, r *http.Request, a *web.Asset) {
	h := w.Header()
	h.Set("Content-Security-Policy", inboxCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.ETag)
	if r.Header.Get("If-None-Match") == a.ETag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", a.ContentType)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(a.Body)
	}
}
