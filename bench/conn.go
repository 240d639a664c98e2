package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// benchConn is one keep-alive HTTP/1.1 connection of the closed-loop load
// generator: a worker writes a request and reads its answer on its own
// goroutine. http.Client hands each request to a connection's reader and
// writer goroutines; on this machine those hand-offs cost the load
// generator more CPU than the server spends on a small request, CPU the
// server then lacks.
type benchConn struct {
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
}

// benchRequestTimeout bounds one request on a benchConn.
const benchRequestTimeout = time.Minute

// send makes one request; an error means no 200, answered tells whether
// the server answered at all. A connection that failed is dialed again by
// the next request.
func (c *benchConn) send(req *http.Request) (answered bool, err error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", req.URL.Host, benchRequestTimeout)
		if err != nil {
			return false, err
		}
		c.conn, c.br, c.bw = conn, bufio.NewReader(conn), bufio.NewWriter(conn)
	}
	c.conn.SetDeadline(time.Now().Add(benchRequestTimeout))
	answered, keep, err := c.exchange(req)
	if !keep {
		c.close()
	}
	return answered, err
}

// exchange writes req and reads its answer; keep tells whether the
// connection can carry the next request.
func (c *benchConn) exchange(req *http.Request) (answered, keep bool, err error) {
	if err := req.Write(c.bw); err != nil {
		return false, false, err
	}
	if err := c.bw.Flush(); err != nil {
		return false, false, err
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		return false, false, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return true, false, err
	}
	keep = !resp.Close
	if resp.StatusCode != http.StatusOK {
		return true, keep, fmt.Errorf("answered %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return true, keep, nil
}

func (c *benchConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}
