package metrics

import (
	"testing"
	"time"
)

// Counting a request costs no allocation once its route, method and status
// have been seen: the middleware runs on every request.
func TestRequestCountingDoesNotAllocate(t *testing.T) {
	m := New(Sources{})
	m.Request("GET /v1.0/conversations/{id}", "GET", 200, time.Millisecond)
	allocs := testing.AllocsPerRun(1000, func() {
		m.Request("GET /v1.0/conversations/{id}", "GET", 200, time.Millisecond)
		m.Request("", "BREW", 405, time.Millisecond)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per counted request, want 0", allocs/2)
	}
}

func BenchmarkRequest(b *testing.B) {
	m := New(Sources{})
	b.ReportAllocs()
	for b.Loop() {
		m.Request("GET /v1.0/conversations/{id}", "GET", 200, time.Millisecond)
	}
}
