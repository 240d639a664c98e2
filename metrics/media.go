package metrics

import (
	"context"

	"github.com/convohq/convo"
)

// FetchesMedia passes the question to the channel, when it downloads media.
func (c *countedChannel) FetchesMedia(url string) bool {
	f, ok := c.Channel.(convo.MediaFetcher)
	return ok && f.FetchesMedia(url)
}

// FetchMedia counts the downloads of inbound media.
func (c *countedChannel) FetchMedia(ctx context.Context, a *convo.Account, url string) (convo.FetchedMedia, error) {
	f, ok := c.Channel.(convo.MediaFetcher)
	if !ok {
		return convo.FetchedMedia{}, &convo.ChannelError{Detail: "the channel does not download media"}
	}
	m, err := f.FetchMedia(ctx, a, url)
	c.calls.WithLabelValues(c.name, "fetch_media", callOutcome(err)).Inc()
	return m, err
}

var _ convo.MediaFetcher = (*countedChannel)(nil)
