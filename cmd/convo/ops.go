package main

import (
	"context"
	"errors"
	"net"
	"net/http"
)

// serveOps serves the operations routes (/metrics, health) on a listener
// of their own, so that the operator can keep them off the public one.
func (m *Main) serveOps(h http.Handler) error {
	ln, err := net.Listen("tcp", m.Config.MetricsListen)
	if err != nil {
		return err
	}
	m.opsLn = ln
	m.ops = m.httpServer(h)
	m.opsServed = make(chan error, 1)
	go func() { m.opsServed <- m.ops.Serve(ln) }()
	m.logger.Info("metrics serving", "listen", ln.Addr().String())
	return nil
}

// OpsURL is the base URL the operations routes answer on: the metrics
// listener's when there is one, the API's otherwise.
func (m *Main) OpsURL() string {
	if m.opsLn != nil {
		return "http://" + m.opsLn.Addr().String()
	}
	return m.URL()
}

// closeOps stops the metrics listener, letting scrapes under way finish.
func (m *Main) closeOps(ctx context.Context) error {
	if m.ops == nil {
		return nil
	}
	err := m.ops.Shutdown(ctx)
	if serveErr := <-m.opsServed; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}
