package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// BenchmarkIdleStreamMemory opens idle realtime streams to a `convo serve`
// process and reports what each holds in the server: its Go heap and
// stacks after a collection, and its resident memory, per stream; then
// what stays once they are closed. Run it with
//
//	go test -run '^$' -bench IdleStreamMemory -benchtime 1x ./cmd/convo
func BenchmarkIdleStreamMemory(b *testing.B) {
	const streams = 1000
	debug := freeAddr(b)
	p := startServe(b, "sqlite:"+filepath.Join(b.TempDir(), "convo.db"), "CONVO_DEBUG_LISTEN="+debug,
		fmt.Sprintf("CONVO_MAX_STREAMS_PER_CUSTOMER=%d", streams))
	key := firstStartKey.FindStringSubmatch(p.stdout.String())
	if key == nil {
		b.Fatalf("no access key in the first start's output:\n%s", p.stdout)
	}
	// Held memory, after a collection the profiler's heap endpoint forces.
	held := func() (goBytes, rss float64) {
		res, err := http.Get("http://" + debug + "/debug/pprof/heap?gc=1")
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		s := scrapeMetrics(b, p.base)
		heap, _ := s.value("go_memstats_heap_inuse_bytes")
		stack, _ := s.value("go_memstats_stack_inuse_bytes")
		rss, _ = s.value("process_resident_memory_bytes")
		return heap + stack, rss
	}
	open := func(n int) []*websocket.Conn {
		conns := make([]*websocket.Conn, 0, n)
		for range n {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c, _, err := websocket.Dial(ctx, wsURL(p.base, "accesskey="+key[1]), nil)
			cancel()
			if err != nil {
				b.Fatalf("stream %d: %v", len(conns)+1, err)
			}
			conns = append(conns, c)
		}
		return conns
	}
	waitStreams := func(n float64) {
		eventually(b, 30*time.Second, func() error {
			return scrapeMetrics(b, p.base).want(b, func(v float64) bool { return v == n }, fmt.Sprint(n), "convo_websocket_connections")
		})
	}
	// A first round warms the server's pools, so that the second measures streams.
	for _, c := range open(50) {
		c.Close(websocket.StatusNormalClosure, "")
	}
	waitStreams(0)
	b.ResetTimer()
	for range b.N {
		goBefore, rssBefore := held()
		conns := open(streams)
		waitStreams(streams)
		goOpen, rssOpen := held()
		for _, c := range conns {
			c.Close(websocket.StatusNormalClosure, "")
		}
		waitStreams(0)
		goAfter, _ := held()
		b.ReportMetric((goOpen-goBefore)/streams, "Go-B/stream")
		b.ReportMetric((rssOpen-rssBefore)/streams, "RSS-B/stream")
		b.ReportMetric((goAfter-goBefore)/streams, "Go-B/stream-after-close")
	}
}
