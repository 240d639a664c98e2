package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

// measureInsertRate runs half of the db_limit baseline, with the server's
// own store settings, while the server is stopped.
func (b *bench) measureInsertRate(ctx context.Context, store *sqlstore.DB, when string) (insertRun, error) {
	start, d := time.Now(), b.cfg.duration/2
	b.progress.set(func() string {
		return fmt.Sprintf("db_limit (%s): single-row insert transactions, %d clients  %s/%s", when, b.cfg.concurrency, benchSince(start), d)
	})
	before := b.sampleClientCPU()
	committed, elapsed, err := insertRate(ctx, store, b.cfg.concurrency, d)
	after := b.sampleClientCPU()
	return insertRun{committed: committed, elapsed: elapsed,
		selfTicks: after.self - before.self, selfOK: before.ok && after.ok,
		dbTicks: after.databaseSince(before), databaseOK: before.databaseOK && after.databaseOK}, err
}

// insertRate runs single-row transactions (BEGIN, INSERT of one message,
// COMMIT) through the store's own writer, durability settings and connection
// limits from concurrency goroutines for d, and returns how many committed in
// how long. The messages belong to no customer: no answer of the API shows them.
func insertRate(ctx context.Context, store *sqlstore.DB, concurrency int, d time.Duration) (committed int64, elapsed time.Duration, err error) {
	concurrency = max(concurrency, 1)
	customerID, accountID := convo.NewID(), convo.NewID()
	conversationIDs := make([]string, 1000)
	for i := range conversationIDs {
		conversationIDs[i] = convo.NewID()
	}
	self := convo.Address{Type: convo.AddressLine, TargetName: "Me"}
	peer := convo.Address{Type: convo.AddressLine, Target: "U4af4980629e4a2b7f1f6a4f1e6a4f1e6", TargetName: "Peer"}
	providerBase := randomBase()

	var done atomic.Int64
	var seq atomic.Uint64
	var firstErr error
	var errOnce sync.Once
	// Workers stop between transactions: cancelling one in flight would
	// close its connection, and the measurement would end with reconnects.
	var stop atomic.Bool
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Go(func() {
			for n := 0; !stop.Load() && ctx.Err() == nil; n++ {
				now := convo.NewTime(time.Now())
				m := convo.Message{ID: convo.NewID(), CustomerID: customerID, ConversationID: conversationIDs[(w+n*concurrency)%len(conversationIDs)],
					Direction: convo.DirectionIncoming, Status: convo.MessageDone, ReferenceType: convo.ConversationLine, ReferenceID: accountID,
					Source: peer, Destination: self, Text: "benchmark message " + strconv.Itoa(n), Medias: []convo.Media{},
					AccountID: accountID, ProviderID: strconv.FormatUint(providerBase+seq.Add(1), 10), TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
				if err := store.Import(ctx, nil, []convo.Message{m}); err != nil {
					if ctx.Err() == nil {
						errOnce.Do(func() { firstErr = err; stop.Store(true) })
					}
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed = time.Since(start)
	if firstErr != nil {
		return 0, 0, fmt.Errorf("bench: db_limit insert: %w", firstErr)
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	return done.Load(), elapsed, nil
}

// randomBase returns a random start for provider message ids, so that
// written ids never meet the ids of other runs on one database.
func randomBase() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return 1e17 + binary.BigEndian.Uint64(b[:])%(8e18)
}

// runIngest measures the HTTP baseline, then ingest.
func (b *bench) runIngest(ctx context.Context) error {
	c := b.cfg.concurrency
	// Warm-up: connections, caches, and the first peers, so that 90% of the
	// measured messages come from existing conversations.
	warm := b.drive(ctx, "ingest warm-up", b.cfg.duration, max(500, 20*c), c, b.hookRequest(true, 1))
	if warm.ok == 0 {
		return fmt.Errorf("bench: ingest warm-up failed: %s", warm.firstErr)
	}
	// Both baselines run half before and half after ingest.
	if err := b.startBaseline(ctx); err != nil {
		return err
	}
	defer b.stopBaseline()
	h1 := b.drive(ctx, "http_limit (before ingest)", b.cfg.duration/2, 0, c, b.baselineRequest())
	if h1.ok == 0 {
		return fmt.Errorf("bench: http_limit: no request succeeded: %s", h1.firstErr)
	}
	newBefore := b.peers.len()
	profiled := b.profileCPU(ctx, "ingest", b.cfg.duration)
	cpuBefore := b.sampleCPU()
	in := b.drive(ctx, "ingest", b.cfg.duration, 0, c, b.hookRequest(false, 1))
	cpuAfter := b.sampleCPU()
	if err := <-profiled; err != nil {
		return err
	}
	newConversations := b.peers.len() - newBefore
	if in.ok == 0 {
		return fmt.Errorf("bench: ingest: no request succeeded: %s", in.firstErr)
	}
	halfBefore := b.sampleCPU()
	half := b.drivePaced(ctx, "ingest at half that rate", b.cfg.duration, in.rate()/2, b.hookRequest(false, 1))
	halfAfter := b.sampleCPU()
	if half.ok == 0 {
		return fmt.Errorf("bench: ingest at half rate: no request succeeded: %s", half.firstErr)
	}
	h2 := b.drive(ctx, "http_limit (after ingest)", b.cfg.duration/2, 0, c, b.baselineRequest())
	if h2.ok == 0 {
		return fmt.Errorf("bench: http_limit: no request succeeded: %s", h2.firstErr)
	}
	h := &benchLoad{ok: h1.ok + h2.ok, failed: h1.failed + h2.failed, elapsed: h1.elapsed + h2.elapsed, lat: slices.Concat(h1.lat, h2.lat)}
	slices.Sort(h.lat)
	b.report.HTTPLimit = &benchHTTPLimit{RequestsPerSec: benchRound(h.rate()), P50MS: benchMS(h.percentile(0.50)), P99MS: benchMS(h.percentile(0.99)), Errors: h.failed,
		BeforeRequestsPerSec: benchRound(h1.rate()), AfterRequestsPerSec: benchRound(h2.rate())}
	if err := b.dbLimitAfter(ctx, "ingest", "after ingest"); err != nil {
		return err
	}
	b.report.Ingest = &benchIngest{MessagesPerSec: benchRound(in.rate()), P50MS: benchMS(in.percentile(0.50)), P99MS: benchMS(in.percentile(0.99)),
		MaxMS: benchMS(in.percentile(1)), Messages: in.ok, NewConversations: newConversations, Errors: in.failed,
		CPUPerMessageUS: cpuPerMessage(cpuBefore, cpuAfter, in.ok), DatabaseCheckpoints: checkpointsBetween(cpuBefore, cpuAfter)}
	b.report.Ingest.HalfRate = &benchPaced{TargetPerSec: benchRound(in.rate() / 2), AchievedPerSec: benchRound(half.rate()),
		P50MS: benchMS(half.percentile(0.50)), P99MS: benchMS(half.percentile(0.99)), MaxMS: benchMS(half.percentile(1)), Errors: half.failed,
		DatabaseCheckpoints: checkpointsBetween(halfBefore, halfAfter)}
	for _, l := range []*benchLoad{in, half} {
		if l.failed > 0 {
			b.report.Notes = append(b.report.Notes, fmt.Sprintf("ingest: %d requests failed, first: %s", l.failed, l.firstErr))
		}
	}
	ratios := &benchRatios{IngestHTTP: benchRound(in.rate() / h.rate())}
	if b.report.DBLimit != nil && b.report.DBLimit.TxPerSec > 0 {
		ratios.IngestDB = benchRound(in.rate() / b.report.DBLimit.TxPerSec)
	}
	b.report.Ratios = ratios
	return nil
}

// hookRequest builds signed LINE webhooks with messages text messages each
// to the bench account, each message 10% from a new peer and 90% from a
// known one, or all from new peers when allNew is set.
func (b *bench) hookRequest(allNew bool, messages int) benchRequestMaker {
	return func(rng *mathrand.Rand) (*http.Request, func(), error) {
		peers := make([]string, messages)
		var added []string
		for i := range peers {
			var isNew bool
			if peers[i], isNew = b.peers.pick(rng, allNew); isNew {
				added = append(added, peers[i])
			}
		}
		req, err := b.signedRequest(b.srv.url+"/v1.0/conversation/accounts/"+b.accountID, b.channelSecret, b.lineBody(peers...))
		var onOK func()
		if len(added) > 0 {
			onOK = func() {
				for _, p := range added {
					b.peers.add(p)
				}
			}
		}
		return req, onOK, err
	}
}

// baselineRequest builds the same requests for the signature baseline,
// which only reads them and checks their signature.
func (b *bench) baselineRequest() benchRequestMaker {
	return func(rng *mathrand.Rand) (*http.Request, func(), error) {
		peer, _ := b.peers.pick(rng, false)
		req, err := b.signedRequest(b.baseline.url+baselinePath, b.baselineSecret, b.lineBody(peer))
		return req, nil, err
	}
}

func (b *bench) signedRequest(target, secret string, body []byte) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Line-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	req.Header.Set("User-Agent", "LineBotWebhook/2.0")
	return req, nil
}

// lineBody is a LINE webhook body with one text message from each of peers.
func (b *bench) lineBody(peers ...string) []byte {
	buf := make([]byte, 0, 60+360*len(peers))
	buf = append(buf, `{"destination":"`...)
	buf = append(buf, b.botID...)
	buf = append(buf, `","events":[`...)
	for i, peer := range peers {
		if i > 0 {
			buf = append(buf, ',')
		}
		n := b.seq.Add(1)
		id := strconv.FormatUint(b.idBase+n, 10)
		buf = append(buf, `{"type":"message","webhookEventId":"01BENCH`...)
		buf = append(buf, id...)
		buf = append(buf, `","deliveryContext":{"isRedelivery":false},"timestamp":`...)
		buf = strconv.AppendInt(buf, time.Now().UnixMilli(), 10)
		buf = append(buf, `,"source":{"type":"user","userId":"`...)
		buf = append(buf, peer...)
		buf = append(buf, `"},"mode":"active","replyToken":"`...)
		buf = append(buf, id...)
		buf = append(buf, `","message":{"id":"`...)
		buf = append(buf, id...)
		buf = append(buf, `","type":"text","quoteToken":"q`...)
		buf = append(buf, id...)
		buf = append(buf, `","text":"Hello, I have a question about my order number `...)
		buf = strconv.AppendUint(buf, n, 10)
		buf = append(buf, `."}}`...)
	}
	buf = append(buf, `]}`...)
	return buf
}

// benchPeers holds the LINE user ids that already have a conversation.
type benchPeers struct {
	mu  sync.Mutex
	ids []string
}

// pick returns a peer: a new one 10% of the time (always when allNew or
// when none is known), else a known one.
func (p *benchPeers) pick(rng *mathrand.Rand, allNew bool) (string, bool) {
	if !allNew && rng.IntN(10) != 0 {
		p.mu.Lock()
		n := len(p.ids)
		var id string
		if n > 0 {
			id = p.ids[rng.IntN(n)]
		}
		p.mu.Unlock()
		if n > 0 {
			return id, false
		}
	}
	var b [16]byte
	benchRandomBytes(rng, b[:])
	return "U" + hex.EncodeToString(b[:]), true
}

func benchRandomBytes(rng *mathrand.Rand, b []byte) {
	for i := 0; i < len(b); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

func (p *benchPeers) add(id string) {
	p.mu.Lock()
	p.ids = append(p.ids, id)
	p.mu.Unlock()
}

func (p *benchPeers) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ids)
}

// benchLineAPI answers the LINE calls the server makes in the background
// (profile lookups of new peers), so nothing leaves the machine.
func benchLineAPI(w http.ResponseWriter, r *http.Request) {
	if benchServeContent(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if id, ok := strings.CutPrefix(r.URL.Path, "/v2/bot/profile/"); ok && r.Method == http.MethodGet {
		name := "Peer " + id[max(len(id)-6, 0):]
		fmt.Fprintf(w, `{"userId":%q,"displayName":%q,"language":"en"}`, id, name)
		return
	}
	io.WriteString(w, `{}`)
}

// dbLimitAfter measures db_limit's second half, after a phase's ingest, when
// db_limit is measured at all.
func (b *bench) dbLimitAfter(ctx context.Context, phase, label string) error {
	dl := b.report.DBLimit
	if dl == nil {
		return nil
	}
	return b.withStore(ctx, phase, func(store *sqlstore.DB) error {
		run, err := b.measureInsertRate(ctx, store, label)
		if err == nil {
			dl.add(run)
		}
		return err
	})
}
