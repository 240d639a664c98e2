package metrics

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/convohq/convo"
)

// Outcomes of a provider call.
const (
	callOK = "ok"
	// callRefused: the provider said no (a 4xx, or an answer convo cannot
	// use); not retried.
	callRefused = "refused"
	// callServerError: a 5xx or 429; retried.
	callServerError = "server_error"
	// callTransportError: no answer came (connection, timeout); retried.
	callTransportError = "transport_error"
	// callError: a failure that is not the provider's answer.
	callError = "error"
)

var callOutcomes = []string{callOK, callRefused, callServerError, callTransportError, callError}

// callOutcome classifies the error of a provider call.
func callOutcome(err error) string {
	var ce *convo.ChannelError
	switch {
	case err == nil:
		return callOK
	case !errors.As(err, &ce):
		return callError
	case !ce.Temporary:
		return callRefused
	case ce.HTTPStatus == 0:
		return callTransportError
	}
	return callServerError
}

// Channel returns ch with its provider API calls (sends and display-name
// lookups) counted under the channel name (sms, line, whatsapp). Reading
// hooks calls no API and is not counted.
func (m *Metrics) Channel(name string, ch convo.Channel) convo.Channel {
	c := &countedChannel{Channel: ch, name: name, calls: m.providerCalls, sends: map[string]prometheus.Counter{}}
	// Every channel sends, so its send series show from the start. Only
	// LINE looks names up; its series appear with the first lookup.
	for _, outcome := range callOutcomes {
		c.sends[outcome] = m.providerCalls.WithLabelValues(name, "send", outcome)
	}
	if _, ok := ch.(convo.QuotaReader); ok {
		return &countedQuotaChannel{c}
	}
	return c
}

// countedQuotaChannel is a counted channel that also tells quotas (LINE).
type countedQuotaChannel struct{ *countedChannel }

func (c *countedQuotaChannel) Quota(ctx context.Context, a *convo.Account) (*convo.Quota, error) {
	q, err := c.Channel.(convo.QuotaReader).Quota(ctx, a)
	c.calls.WithLabelValues(c.name, "quota", callOutcome(err)).Inc()
	return q, err
}

type countedChannel struct {
	convo.Channel
	name  string
	calls *prometheus.CounterVec
	sends map[string]prometheus.Counter
}

func (c *countedChannel) Send(ctx context.Context, d convo.SendRequest) (convo.SendResult, error) {
	res, err := c.Channel.Send(ctx, d)
	c.sends[callOutcome(err)].Inc()
	return res, err
}

func (c *countedChannel) DisplayName(ctx context.Context, a *convo.Account, dialogID string) (string, error) {
	name, err := c.Channel.DisplayName(ctx, a, dialogID)
	c.calls.WithLabelValues(c.name, "display_name", callOutcome(err)).Inc()
	return name, err
}
