package httpapi

import (
	"net"
	"strconv"
	"sync"
	"time"
)

// LimitConnections returns a listener that keeps at most max connections
// open at once (WebSocket streams included). A connection beyond that is
// answered 503 with Retry-After and closed at once, rather than left
// waiting in the accept queue, so that a flood of idle or trickling
// clients cannot hold every file descriptor and clients learn to retry.
func LimitConnections(l net.Listener, max int) net.Listener {
	if max <= 0 {
		return l
	}
	return &limitListener{Listener: l, slots: make(chan struct{}, max)}
}

type limitListener struct {
	net.Listener
	slots chan struct{}
}

// overloaded is the whole answer to a connection beyond the limit.
func overloaded() []byte {
	id := newRequestID()
	body := `{"error":{"status":"UNAVAILABLE","reason":"TOO_MANY_CONNECTIONS","message":"too many open connections; try again shortly","request_id":"` + id + `"}}`
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\nRetry-After: 1\r\n" +
		"X-Request-Id: " + id + "\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			// A fresh socket's buffer takes the answer at once; the deadline
			// keeps a client that never reads from holding Accept.
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			c.Write(overloaded())
			c.Close()
		}
	}
}

// limitedConn gives its slot back when closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
