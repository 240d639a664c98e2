package outbox

import (
	"testing"
	"time"

	"github.com/convohq/convo"
)

func TestBackoff(t *testing.T) {
	for _, base := range []time.Duration{10 * time.Millisecond, time.Second, 5 * time.Second, time.Minute} {
		s := &Dispatcher{config: Config{RetryBase: base, RetryCap: time.Hour}}
		for n := 1; n <= 200; n++ {
			// Exponential from base, capped, within ±20% jitter.
			want := base
			for i := 1; i < n && want < time.Hour; i++ {
				want *= 2
			}
			want = min(want, time.Hour)
			lo, hi := want*8/10, want*12/10
			seen := map[time.Duration]bool{}
			for range 50 {
				d := s.backoff(n)
				if d < lo || d > hi {
					t.Fatalf("base %v: backoff(%d) = %v, want within [%v, %v]", base, n, d, lo, hi)
				}
				seen[d] = true
			}
			if len(seen) < 10 {
				t.Errorf("base %v: backoff(%d) took %d distinct values in 50 tries: no jitter", base, n, len(seen))
			}
		}
	}
	// The default settings wait longer and longer, up to the cap.
	s := New(nil, convo.SystemClock{}, Config{})
	if s.config.RetryCap <= s.config.RetryBase || s.config.MaxAge < 24*time.Hour {
		t.Errorf("defaults: base %v, cap %v, max age %v: retries must grow and last at least 24 h",
			s.config.RetryBase, s.config.RetryCap, s.config.MaxAge)
	}
}
