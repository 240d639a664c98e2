package service

import (
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// TestBatcher: concurrent items are written in shared batches; when a
// batch fails, only the item that makes it fail gets an error.
func TestBatcher(t *testing.T) {
	var mu sync.Mutex
	var written []int
	var batches, biggest int
	release := make(chan struct{})
	var waiting atomic.Int32 // items in the batch held back by release
	bad := errors.New("item 13 is bad")
	b := newBatcher(8, 1, func(batch []int) error {
		waiting.Add(int32(len(batch)))
		<-release
		mu.Lock()
		defer mu.Unlock()
		batches++
		biggest = max(biggest, len(batch))
		if slices.Contains(batch, 13) {
			return bad
		}
		written = append(written, batch...)
		return nil
	})
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = b.submit(i) })
	}
	// Release once every item is queued or held, so that batches must form.
	for {
		b.mu.Lock()
		queued := len(b.pending) + int(waiting.Load())
		b.mu.Unlock()
		if queued == n {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		if want := error(nil); i == 13 {
			if err != bad {
				t.Errorf("item 13: %v, want its own error", err)
			}
		} else if err != want {
			t.Errorf("item %d: %v, want it written", i, err)
		}
	}
	slices.Sort(written)
	if len(written) != n-1 || slices.Contains(written, 13) {
		t.Errorf("written %v, want every item but 13 once", written)
	}
	if biggest < 2 || biggest > 8 {
		t.Errorf("largest batch held %d items, want between 2 and 8", biggest)
	}
}
