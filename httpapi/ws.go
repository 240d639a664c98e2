package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

// routeRealtime registers the WebSocket event stream, authenticated like
// the API (token or accesskey query parameter, or Authorization), at
// /v1.0/ws and at /v1.0/service_agents/ws, where VoIPbin's agent apps look.
func (s *Server) routeRealtime() {
	stream := s.authenticated(s.stream)
	s.mux.HandleFunc("GET /v1.0/ws", stream)
	s.mux.HandleFunc("GET /v1.0/service_agents/ws", stream)
}

// stream sends the events c may see over a WebSocket.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, c *convo.Caller) {
	release, err := s.svc.OpenStream(c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer release()
	after, err := s.svc.StreamStart(r.Context(), c, r.URL.Query().Get("since"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer conn.CloseNow()
	s.observer.Streams(1)
	defer s.observer.Streams(-1)
	// The client sends nothing; reading keeps control frames flowing and notices a close.
	ctx := conn.CloseRead(r.Context())
	err = s.svc.StreamEvents(ctx, c, after, func(batch []service.StreamEvent) error {
		for _, e := range batch {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			b = s.times.RenderJSON(b)
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = conn.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		conn.Close(websocket.StatusInternalError, "stream failed")
		return
	}
	conn.Close(websocket.StatusNormalClosure, "")
}
