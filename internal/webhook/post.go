// Package webhook makes attempts to deliver convo's events to customers'
// webhooks: each a signed HTTP request, over kept connections, never to a
// loopback or private network unless allowed.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/convohq/convo"
)

// timeout bounds one attempt.
const timeout = 10 * time.Second

// Client posts webhook requests.
type Client struct {
	http  *http.Client
	clock convo.Clock
}

// NewClient returns a Client that keeps up to maxConns connections (one for
// every attempt that may be in flight: a new connection per attempt costs
// more than the request) and reads the time from clock.
func NewClient(allowPrivate bool, maxConns int, clock convo.Clock) *Client {
	return &Client{clock: clock, http: &http.Client{
		// No Client.Timeout: Post bounds each attempt by its context, which
		// the transport turns into the connection's deadline.
		Transport: newTransport(dialer(allowPrivate).DialContext, nil, maxConns),
		// A redirect is an answer, not a delivery: it is retried like any non-2xx.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Request is one webhook request: Body goes to URI by Method as
// ContentType, signed with Secret when there is one.
type Request struct {
	ID, Method, URI, ContentType, Secret string
	Body                                 []byte
}

// Post makes one attempt and returns the answer's status and any
// Retry-After it asked for.
func (c *Client) Post(ctx context.Context, r Request) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URI, bytes.NewReader(r.Body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", r.ContentType)
	req.Header.Set("User-Agent", "convo/"+convo.Version)
	// The id lets receivers drop retries of what they already have, signed or not.
	req.Header.Set("webhook-id", r.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(c.clock.Now().Unix(), 10))
	if r.Secret != "" {
		for k, v := range Sign(r.Secret, r.ID, c.clock.Now(), r.Body) {
			req.Header.Set(k, v)
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, ErrPrivateTarget) {
			return 0, 0, ErrPrivateTarget
		}
		return 0, 0, err
	}
	defer res.Body.Close()
	// Drain a little of the answer so the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	return res.StatusCode, retryAfter(res.Header.Get("Retry-After"), c.clock.Now()), nil
}

// CloseIdleConnections closes the connections kept for later attempts.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// retryAfter reads a Retry-After header (seconds or an HTTP date), capped at six hours.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), 6*time.Hour)
}
