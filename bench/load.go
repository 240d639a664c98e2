package bench

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// benchRequestMaker builds one request for a worker; onOK runs after a 200.
type benchRequestMaker func(rng *mathrand.Rand) (req *http.Request, onOK func(), err error)

// send makes one request; an error means no 200, answered tells whether
// the server answered at all.
func (b *bench) send(ctx context.Context, req *http.Request) (answered bool, err error) {
	resp, err := b.client.Do(req.WithContext(ctx))
	if err != nil {
		return false, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return true, fmt.Errorf("answered %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return true, nil
}

// drivePaced sends requests at rate per second for d, each at its
// scheduled time however long earlier ones take (open loop).
func (b *bench) drivePaced(ctx context.Context, label string, d time.Duration, rate float64, mk benchRequestMaker) *benchLoad {
	res := &benchLoad{}
	var mu sync.Mutex
	var ok, failed atomic.Int64
	start := time.Now()
	b.progress.set(func() string {
		el := time.Since(start)
		return fmt.Sprintf("%s: %.0f/s for %s  %s  %d ok  %d failed", label, rate, d, el.Round(100*time.Millisecond), ok.Load(), failed.Load())
	})
	interval := time.Duration(float64(time.Second) / max(rate, 1))
	rng := mathrand.New(mathrand.NewPCG(uint64(time.Now().UnixNano()), 99))
	var wg sync.WaitGroup
	for i := 0; ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= d {
			break
		}
		if wait := time.Until(due); wait > 0 {
			benchSleep(ctx, wait)
		}
		req, onOK, err := mk(rng)
		if err != nil {
			res.firstErr = err.Error()
			failed.Add(1)
			break
		}
		wg.Go(func() {
			_, err := b.send(ctx, req)
			lat := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if ctx.Err() == nil {
					res.firstErr = cmp.Or(res.firstErr, err.Error())
					failed.Add(1)
				}
				return
			}
			res.lat = append(res.lat, lat)
			ok.Add(1)
			if onOK != nil {
				onOK()
			}
		})
	}
	wg.Wait()
	return res.finish(start, &ok, &failed)
}

// benchLoad is the outcome of a timed load.
type benchLoad struct {
	ok, failed int
	elapsed    time.Duration
	lat        []time.Duration // of the 200 answers, sorted
	firstErr   string
}

// finish records a load's totals once its requests are done.
func (l *benchLoad) finish(start time.Time, ok, failed *atomic.Int64) *benchLoad {
	l.elapsed = time.Since(start)
	l.ok, l.failed = int(ok.Load()), int(failed.Load())
	slices.Sort(l.lat)
	return l
}

func (l *benchLoad) rate() float64 {
	if l.elapsed <= 0 {
		return 0
	}
	return float64(l.ok) / l.elapsed.Seconds()
}

func (l *benchLoad) percentile(q float64) time.Duration { return benchPercentile(l.lat, q) }

// drive runs requests from concurrency clients for d, or until limit
// requests (when limit > 0), and collects the latencies of the 200 answers.
func (b *bench) drive(ctx context.Context, label string, d time.Duration, limit, concurrency int, mk benchRequestMaker) *benchLoad {
	var ok, failed, issued atomic.Int64
	var errOnce sync.Once
	res := &benchLoad{}
	lats := make([][]time.Duration, concurrency)
	start := time.Now()
	deadline := start.Add(d)
	b.progress.set(func() string {
		el := time.Since(start)
		s := fmt.Sprintf("%s: %d clients  %s/%s  %d ok  %.0f/s", label, concurrency, el.Round(100*time.Millisecond), d, ok.Load(), float64(ok.Load())/el.Seconds())
		if limit > 0 {
			s += fmt.Sprintf("  (at most %d)", limit)
		}
		if f := failed.Load(); f > 0 {
			s += fmt.Sprintf("  %d failed", f)
		}
		return s
	})
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Go(func() {
			rng := mathrand.New(mathrand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
			lat := make([]time.Duration, 0, 4096)
			defer func() { lats[w] = lat }()
			// The loop checks ctx between requests; one in flight ends by
			// itself, the server answers quickly.
			var conn benchConn
			defer conn.close()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if limit > 0 && issued.Add(1) > int64(limit) {
					return
				}
				req, onOK, err := mk(rng)
				if err != nil {
					errOnce.Do(func() { res.firstErr = err.Error() })
					failed.Add(1)
					return
				}
				t0 := time.Now()
				if answered, err := conn.send(req); err != nil {
					if ctx.Err() == nil {
						errOnce.Do(func() { res.firstErr = err.Error() })
						failed.Add(1)
						if !answered {
							time.Sleep(10 * time.Millisecond)
						}
					}
					continue
				}
				lat = append(lat, time.Since(t0))
				ok.Add(1)
				if onOK != nil {
					onOK()
				}
			}
		})
	}
	wg.Wait()
	res.lat = slices.Concat(lats...)
	return res.finish(start, &ok, &failed)
}
