package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/webhooktest"
)

// loadReceiver is the webhook receiver of the load tests. While holding,
// requests wait and then fail, so that an attempt is in flight when a
// process is killed.
type loadReceiver struct {
	*webhooktest.Receiver

	mu   sync.Mutex
	hold chan struct{}
	held int
}

// newLoadReceiver answers each request after delay.
func newLoadReceiver(t testing.TB, delay time.Duration) *loadReceiver {
	r := &loadReceiver{Receiver: webhooktest.New(t)}
	r.SetAnswer(func(webhooktest.Request, int) (int, http.Header) {
		r.mu.Lock()
		hold := r.hold
		if hold != nil {
			r.held++
		}
		r.mu.Unlock()
		if hold != nil {
			// Held requests fail: only a retry can deliver their event.
			<-hold
			return http.StatusServiceUnavailable, nil
		}
		if delay > 0 {
			time.Sleep(delay)
		}
		return http.StatusOK, nil
	})
	return r
}

// holdAttempt makes new requests wait, waits (a while) until one is
// waiting, so that a delivery attempt is in flight, and returns the release,
// after which held requests are answered 503.
func (r *loadReceiver) holdAttempt() (release func()) {
	ch := make(chan struct{})
	r.mu.Lock()
	r.hold, r.held = ch, 0
	r.mu.Unlock()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		r.mu.Lock()
		n := r.held
		r.mu.Unlock()
		if n > 0 {
			break
		}
	}
	return func() {
		r.mu.Lock()
		r.hold = nil
		r.mu.Unlock()
		close(ch)
	}
}

// snapshot returns the accepted receipts of each webhook-id, any overlap of
// two requests with one webhook-id, and the order of first accepted
// receipts of message events per conversation (conversation id → message ids).
func (r *loadReceiver) snapshot() (received map[string]int, overlaps []string, order map[string][]string) {
	return r.Accepted(), r.Overlaps(), r.FirstAccepted(convo.EventMessageCreated)
}

// smsLoad sends perPeer inbound SMS from each peer, from several goroutines;
// the messages of one peer go one after the other, and each is retried
// until acknowledged, as providers do.
type smsLoad struct {
	acc     smsAccount
	peers   []string
	perPeer int
	workers int
	prefix  string
	// target is the base URL to send the n-th try of a request to.
	target func(try int) string
	acked  atomic.Int64
}

// text is the body of message round of peer i; it is also its MessageSid.
func (l *smsLoad) text(i, round int) string { return fmt.Sprintf("%s%03d%05d", l.prefix, i, round) }

func (l *smsLoad) run(ctx context.Context) error {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: l.workers}}
	defer client.CloseIdleConnections()
	path, _ := url.Parse(l.acc.HookURL)
	errs := make(chan error, l.workers)
	var wg sync.WaitGroup
	for w := range l.workers {
		wg.Go(func() {
			try := w
			for round := range l.perPeer {
				for i := w; i < len(l.peers); i += l.workers {
					text := l.text(i, round)
					form := url.Values{"MessageSid": {text}, "From": {l.peers[i]}, "To": {l.acc.Number}, "Body": {text}, "NumMedia": {"0"}}
					for {
						try++
						code, err := postSignedVia(client, l.target(try)+path.Path, l.acc.HookURL, l.acc.Token, form)
						if err == nil && code == http.StatusOK {
							l.acked.Add(1)
							break
						}
						if err == nil && code/100 == 4 {
							errs <- fmt.Errorf("message %s refused with %d", text, code)
							return
						}
						if ctx.Err() != nil {
							errs <- fmt.Errorf("message %s not acknowledged in time: %v", text, err)
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// firstPage returns the rows of one page of a list.
func firstPage(a *api, path string) []map[string]any {
	a.t.Helper()
	var page struct {
		Result []map[string]any `json:"result"`
	}
	r := a.do("GET", path, nil)
	if r.Status != http.StatusOK {
		a.t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	r.Decode(a.t, &page)
	return page.Result
}

// awaitDeliveriesSettled waits until no event is pending or failed.
func awaitDeliveriesSettled(t testing.TB, a *api, within time.Duration) {
	t.Helper()
	eventually(t, within, func() error {
		for _, status := range []string{"pending", "failed"} {
			if rows := firstPage(a, "/v1.0/webhook_deliveries?page_size=1&status="+status); len(rows) > 0 {
				return fmt.Errorf("deliveries still %s, e.g. %v after %v", status, rows[0]["type"], within)
			}
		}
		return nil
	})
}

// checkAllReceived checks that the receiver saw every stored event and
// returns the stored events.
func checkAllReceived(t testing.TB, a *api, received map[string]int) []hookDelivery {
	t.Helper()
	all := listDeliveries(a, nil)
	missing := 0
	for _, d := range all {
		if received[d.ID] == 0 {
			if missing++; missing <= 5 {
				t.Errorf("event %s (%s, %s) never reached the receiver", d.ID, d.Type, d.Status)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d events never reached the receiver", missing, len(all))
	}
	return all
}

// checkStoredInOrder checks that every message of the load is stored once,
// in sending order per peer, and that the receiver first got each
// conversation's message events in that order.
func checkStoredInOrder(t testing.TB, a *api, l *smsLoad, order map[string][]string) {
	t.Helper()
	convs := firstPage(a, "/v1.0/conversations?page_size=100&account_id="+l.acc.ID)
	byPeer := map[string]string{}
	for _, c := range convs {
		byPeer[sget(c, "dialog_id")] = sget(c, "id")
	}
	for i, peer := range l.peers {
		convID := byPeer[peer]
		if convID == "" {
			t.Errorf("no conversation with peer %s", peer)
			continue
		}
		var texts, msgIDs []string
		for _, m := range oldestFirst(firstPage(a, "/v1.0/conversations/"+convID+"/messages?page_size=100")) {
			texts = append(texts, sget(m, "text"))
			msgIDs = append(msgIDs, sget(m, "id"))
		}
		var want []string
		for round := range l.perPeer {
			want = append(want, l.text(i, round))
		}
		if !slices.Equal(texts, want) {
			t.Errorf("peer %s: stored %d messages %v, want the %d acknowledged ones in order", peer, len(texts), texts, len(want))
			continue
		}
		if got := order[convID]; !slices.Equal(got, msgIDs) {
			t.Errorf("peer %s: the receiver first got the messages in another order than stored:\n got %v\nwant %v", peer, got, msgIDs)
		}
	}
}

// phones returns n distinct peer numbers.
func phones(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = uniquePhone()
	}
	return out
}
