package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

// streamProtocol is the WebSocket subprotocol convo answers to a client that
// offers it; tokenProtocol prefixes the token of a client that offers its
// credential as a second subprotocol, as a browser must: it can set neither
// Authorization nor anything else but the URL, which reaches logs.
const (
	streamProtocol = "convo"
	tokenProtocol  = "convo.token."
)

// routeRealtime registers the WebSocket event stream, authenticated like
// the API (token or accesskey query parameter, or Authorization) or by the
// token subprotocol, at /v1.0/ws and at /v1.0/service_agents/ws, where
// VoIPbin's agent apps look.
func (s *Server) routeRealtime() {
	stream := s.authenticated(s.stream)
	withProtocolToken := func(w http.ResponseWriter, r *http.Request) { stream(w, protocolCredential(r)) }
	s.mux.HandleFunc("GET /v1.0/ws", withProtocolToken)
	s.mux.HandleFunc("GET /v1.0/service_agents/ws", withProtocolToken)
}

// protocolCredential moves a token offered as a subprotocol into the
// Authorization header of a copy of r, unless r has one already.
func protocolCredential(r *http.Request) *http.Request {
	if r.Header.Get("Authorization") != "" {
		return r
	}
	for _, field := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(field, ",") {
			if token, ok := strings.CutPrefix(strings.TrimSpace(p), tokenProtocol); ok && token != "" {
				r = r.Clone(r.Context())
				r.Header.Set("Authorization", "Bearer "+token)
				return r
			}
		}
	}
	return r
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
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, Subprotocols: []string{streamProtocol}})
	if err != nil {
		return
	}
	defer conn.CloseNow()
	s.observer.Streams(1)
	defer s.observer.Streams(-1)
	// The client sends nothing; reading keeps control frames flowing and notices a close.
	ctx, stop := context.WithCancel(conn.CloseRead(r.Context()))
	defer stop()
	key, ok := s.streams.add(stop)
	if !ok {
		conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer s.streams.remove(key)
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
	switch {
	case err != nil && ctx.Err() == nil:
		conn.Close(websocket.StatusInternalError, "stream failed")
	case s.streams.closing():
		conn.Close(websocket.StatusGoingAway, "server shutting down")
	default:
		conn.Close(websocket.StatusNormalClosure, "")
	}
}

// CloseStreams ends every open realtime stream with 1001 (going away), so
// that clients reconnect to a server that runs; http.Server.Shutdown does
// not wait for upgraded connections, which would otherwise stay open on a
// server that no longer reads its database. Streams opened later are refused.
func (s *Server) CloseStreams() { s.streams.closeAll() }

// streamSet holds the stop function of each open stream.
type streamSet struct {
	mu   sync.Mutex
	next uint64
	open map[uint64]context.CancelFunc
	done bool
}

// add registers stop and returns its key, or false once shutdown began.
func (ss *streamSet) add(stop context.CancelFunc) (uint64, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.done {
		return 0, false
	}
	if ss.open == nil {
		ss.open = map[uint64]context.CancelFunc{}
	}
	ss.next++
	ss.open[ss.next] = stop
	return ss.next, true
}

func (ss *streamSet) remove(key uint64) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.open, key)
}

func (ss *streamSet) closing() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.done
}

func (ss *streamSet) closeAll() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.done = true
	for _, stop := range ss.open {
		stop()
	}
}
