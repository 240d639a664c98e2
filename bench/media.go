package bench

import (
	"context"
	"encoding/json"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/convohq/convo"
)

// The media scenario: ingest where 10% of inbound messages carry a 200 KB
// image that the server downloads from the local fake LINE after the
// hook's 200. It reports the ingest ratio to the database's single-row
// commit rate (downloads must not delay the hooks), and at half that rate
// how long after its message each medium is stored, as the stream of
// conversation_message_updated events tells it (both times are the
// server's, so the clocks agree).

const (
	// benchImageBytes is the size of each image the fake LINE serves.
	benchImageBytes = 200 << 10
	// benchImageShare is the share of messages that carry an image.
	benchImageShare = 10
	// benchStoredTargetMS is the p99 target of message to stored medium.
	benchStoredTargetMS = 5000
)

// benchImage is the one image served: a PNG signature and noise.
var benchImage = func() []byte {
	b := make([]byte, benchImageBytes)
	rng := mathrand.New(mathrand.NewPCG(1, 2))
	benchRandomBytes(rng, b)
	copy(b, "\x89PNG\r\n\x1a\n")
	return b
}()

// benchContentFetches counts the images the fake LINE served.
var benchContentFetches atomic.Int64

// benchServeContent answers LINE's content API for any message id with
// the image; false for other requests.
func benchServeContent(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/v2/bot/message/") || !strings.HasSuffix(r.URL.Path, "/content") {
		return false
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(benchImage)))
	w.Write(benchImage)
	benchContentFetches.Add(1)
	return true
}

type benchMedia struct {
	MessagesPerSec float64 `json:"messages_per_sec"`
	ImagesPerSec   float64 `json:"images_per_sec"`
	P99MS          float64 `json:"p99_ms"`
	Messages       int     `json:"messages"`
	Errors         int     `json:"errors"`
	// IngestDB is the ingest rate with media over db_limit's commit rate.
	IngestDB float64 `json:"ingest_db_ratio,omitempty"`
	// HalfRate is the hooks' latency at half the rate above.
	HalfRate *benchPaced `json:"half_rate"`
	// Stored is, at half rate, from each message's commit to its image stored.
	StoredP50MS float64 `json:"stored_p50_ms"`
	StoredP99MS float64 `json:"stored_p99_ms"`
	StoredMaxMS float64 `json:"stored_max_ms"`
	Images      int     `json:"images"`
	Stored      int     `json:"stored"`
	Failed      int     `json:"failed"`
}

// runMedia measures ingest with images, then the storing delay at half rate.
func (b *bench) runMedia(ctx context.Context) error {
	c := b.cfg.concurrency
	if b.peers.len() == 0 {
		if warm := b.drive(ctx, "media warm-up", b.cfg.duration, max(500, 20*c), c, b.hookRequest(true, 1)); warm.ok == 0 {
			return fmt.Errorf("bench: media warm-up failed: %s", warm.firstErr)
		}
	}
	var images atomic.Int64
	fetched := benchContentFetches.Load()
	in := b.drive(ctx, "ingest with images", b.cfg.duration, 0, c, b.mediaHookRequest(&images))
	if in.ok == 0 {
		return fmt.Errorf("bench: ingest with images: no request succeeded: %s", in.firstErr)
	}
	m := &benchMedia{MessagesPerSec: benchRound(in.rate()), ImagesPerSec: benchRound(float64(images.Load()) / in.elapsed.Seconds()),
		P99MS: benchMS(in.percentile(0.99)), Messages: in.ok, Errors: in.failed}
	b.report.Media = m
	if !b.scenarios["ingest"] {
		// As ingest does: the second half of db_limit after the run.
		if err := b.dbLimitAfter(ctx, "media", "after media ingest"); err != nil {
			return err
		}
	}
	if d := b.report.DBLimit; d != nil && d.TxPerSec > 0 {
		m.IngestDB = benchRound(in.rate() / d.TxPerSec)
	}
	// The downloads of the full-rate run finish before the paced one starts.
	if err := waitFetches(ctx, fetched+images.Load()); err != nil {
		return err
	}

	stream, err := b.openMediaStream(ctx)
	if err != nil {
		return err
	}
	defer stream.close()
	images.Store(0)
	half := b.drivePaced(ctx, "ingest with images at half rate", b.cfg.duration, in.rate()/2, b.mediaHookRequest(&images))
	m.HalfRate = &benchPaced{TargetPerSec: benchRound(in.rate() / 2), AchievedPerSec: benchRound(half.rate()),
		P50MS: benchMS(half.percentile(0.50)), P99MS: benchMS(half.percentile(0.99)), MaxMS: benchMS(half.percentile(1)), Errors: half.failed}
	m.Images = int(images.Load())
	lat := stream.wait(ctx, m.Images, 30*time.Second)
	m.Stored, m.Failed = len(lat), stream.failedCount()
	if len(lat) > 0 {
		slices.Sort(lat)
		pick := func(p float64) float64 { return benchMS(lat[min(int(p*float64(len(lat))), len(lat)-1)]) }
		m.StoredP50MS, m.StoredP99MS, m.StoredMaxMS = pick(0.50), pick(0.99), pick(1)
	}
	if m.Stored < m.Images {
		b.report.Notes = append(b.report.Notes, fmt.Sprintf("media: %d of %d images were not stored within 30 s of the run's end", m.Images-m.Stored, m.Images))
	}
	if m.StoredP99MS > benchStoredTargetMS {
		b.report.Notes = append(b.report.Notes, fmt.Sprintf("media: MISSED the target of every medium stored within %d ms (p99)", benchStoredTargetMS))
	}
	b.recordRSS("media")
	return nil
}

// mediaHookRequest is hookRequest's single messages, 10% of them images.
func (b *bench) mediaHookRequest(images *atomic.Int64) benchRequestMaker {
	text := b.hookRequest(false, 1)
	return func(rng *mathrand.Rand) (*http.Request, func(), error) {
		if rng.IntN(100) >= benchImageShare {
			return text(rng)
		}
		peer, _ := b.peers.pick(rng, false)
		body := strings.Replace(string(b.lineBody(peer)), `"type":"text","quoteToken"`, `"type":"image","contentProvider":{"type":"line"},"quoteToken"`, 1)
		req, err := b.signedRequest(b.srv.url+"/v1.0/conversation/accounts/"+b.accountID, b.channelSecret, []byte(body))
		return req, func() { images.Add(1) }, err
	}
}

// waitFetches waits until the fake LINE served target images in all, or
// a minute passed.
func waitFetches(ctx context.Context, target int64) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil && benchContentFetches.Load() < target {
		time.Sleep(50 * time.Millisecond)
	}
	return ctx.Err()
}

// mediaStream reads the realtime stream and keeps, for each image stored,
// how long after its message it was stored.
type mediaStream struct {
	conn   *websocket.Conn
	cancel func()
	mu     sync.Mutex
	lat    []time.Duration
	failed int
	seen   map[string]bool
	// since keeps the images of messages made after the stream opened
	// (the server runs on this machine's clock): those of the full-rate
	// run may still be stored meanwhile.
	since time.Time
}

func (b *bench) openMediaStream(ctx context.Context) (*mediaStream, error) {
	sctx, cancel := context.WithCancel(ctx)
	u := "ws" + strings.TrimPrefix(b.srv.url, "http") + "/v1.0/ws?accesskey=" + b.key
	conn, _, err := websocket.Dial(sctx, u, &websocket.DialOptions{Subprotocols: []string{"convo"}})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("bench: open the realtime stream: %w", err)
	}
	conn.SetReadLimit(1 << 20)
	s := &mediaStream{conn: conn, cancel: cancel, seen: map[string]bool{}, since: time.Now()}
	go func() {
		for {
			_, data, err := conn.Read(sctx)
			if err != nil {
				return
			}
			s.take(data)
		}
	}()
	return s, nil
}

func (s *mediaStream) take(data []byte) {
	var e struct {
		Type string `json:"type"`
		Data struct {
			ID       string `json:"id"`
			TMCreate string `json:"tm_create"`
			Medias   []struct {
				Status   string `json:"status"`
				TMUpdate string `json:"tm_update"`
			} `json:"medias"`
		} `json:"data"`
	}
	if json.Unmarshal(data, &e) != nil || e.Type != convo.EventMessageUpdated || len(e.Data.Medias) == 0 {
		return
	}
	md := e.Data.Medias[0]
	created, err := convo.ParseTime(e.Data.TMCreate)
	if md.Status == convo.MediaPending || err != nil || created.Before(s.since) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[e.Data.ID] {
		return
	}
	s.seen[e.Data.ID] = true
	if md.Status != convo.MediaStored {
		s.failed++
		return
	}
	if stored, err := convo.ParseTime(md.TMUpdate); err == nil {
		s.lat = append(s.lat, stored.Sub(created.Time))
	}
}

// wait returns the delays seen once n images are settled, or after limit.
func (s *mediaStream) wait(ctx context.Context, n int, limit time.Duration) []time.Duration {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		s.mu.Lock()
		done := len(s.seen) >= n
		s.mu.Unlock()
		if done {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lat)
}

func (s *mediaStream) failedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *mediaStream) close() {
	s.conn.Close(websocket.StatusNormalClosure, "")
	s.cancel()
}

// printMediaRows adds the media scenario's rows to the table.
func printMediaRows(row func(...any), f func(float64) string, m *benchMedia) {
	if m == nil {
		return
	}
	row("ingest with images", f(m.MessagesPerSec)+" msg/s", fmt.Sprintf("%d%% carry a %d KB image (%s images/s); p99 %s ms; %d messages, %d errors",
		benchImageShare, benchImageBytes>>10, f(m.ImagesPerSec), f(m.P99MS), m.Messages, m.Errors))
	if m.IngestDB > 0 {
		row("ingest with images/db_limit", f(m.IngestDB), "")
	}
	if h := m.HalfRate; h != nil {
		row("images at half rate", f(h.AchievedPerSec)+" msg/s", fmt.Sprintf("%s/s asked; hooks p99 %s ms, max %s ms; %d errors", f(h.TargetPerSec), f(h.P99MS), f(h.MaxMS), h.Errors))
	}
	row("image stored after its message", "p99 "+f(m.StoredP99MS)+" ms", fmt.Sprintf("p50 %s ms, max %s ms; %d of %d images stored, %d failed; target p99 < %d ms",
		f(m.StoredP50MS), f(m.StoredMaxMS), m.Stored, m.Images, m.Failed, benchStoredTargetMS))
}
