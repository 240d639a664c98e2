package batch

import (
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	b := New(8, 1, func(batch []int, _ func()) error {
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
		wg.Go(func() { errs[i] = b.Submit(i) })
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

// TestBatcherTakesTurnsToPrepare: once a whole batch waits, a second writer
// takes it as soon as the first batch needs only its commit, and prepares
// it while the first commits.
func TestBatcherTakesTurnsToPrepare(t *testing.T) {
	type call struct {
		batch []int
		ready func()
	}
	calls := make(chan call, 8)
	commit := make(chan struct{})
	var preparing atomic.Int32
	b := New(8, 2, func(batch []int, ready func()) error {
		preparing.Add(1)
		done := make(chan struct{})
		calls <- call{batch, func() { preparing.Add(-1); ready(); close(done) }}
		select {
		case <-done:
		case <-commit: // the test ended early
		}
		<-commit
		return nil
	})
	next := func() call {
		t.Helper()
		select {
		case c := <-calls:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("no batch taken")
			return call{}
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(commit)
	wg.Go(func() { b.Submit(0) })
	first := next()
	if queued, ok := submitQueued(b, &wg, 1, 8, func() bool { return preparing.Load() > 1 }); !ok {
		first.ready()
		t.Fatalf("%d items gathered, %d batches preparing at once", queued, preparing.Load())
	}
	first.ready()
	// The first batch is still committing (commit is open) when the second is taken.
	second := next()
	slices.Sort(second.batch)
	if !slices.Equal(second.batch, []int{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("second batch %v, want the eight items that gathered", second.batch)
	}
	second.ready()
}

// TestBatcherGathersWhileOneCommits: less than a whole batch waiting is
// taken by the one writer once its batch is stored, as one batch.
func TestBatcherGathersWhileOneCommits(t *testing.T) {
	batches := make(chan []int, 8)
	commit := make(chan struct{})
	b := New(8, 2, func(batch []int, ready func()) error {
		ready()
		batches <- batch
		<-commit
		return nil
	})
	next := func() []int {
		t.Helper()
		select {
		case batch := <-batches:
			slices.Sort(batch)
			return batch
		case <-time.After(5 * time.Second):
			t.Fatal("no batch taken")
			return nil
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { b.Submit(0) })
	if first := next(); !slices.Equal(first, []int{0}) {
		t.Fatalf("first batch %v, want [0]", first)
	}
	if queued, ok := submitQueued(b, &wg, 1, 7, func() bool { return false }); !ok {
		close(commit)
		t.Fatalf("%d items gathered", queued)
	}
	select {
	case batch := <-batches:
		close(commit)
		t.Fatalf("batch %v taken while the first was still being stored", batch)
	case <-time.After(50 * time.Millisecond):
	}
	close(commit)
	if second := next(); !slices.Equal(second, []int{1, 2, 3, 4, 5, 6, 7}) {
		t.Errorf("second batch %v, want the seven items that gathered", second)
	}
}

// submitQueued submits the items from to to, each from a goroutine of wg,
// and waits until all of them wait in b; it gives up after five seconds,
// or as soon as stop says so.
func submitQueued(b *Batcher[int], wg *sync.WaitGroup, from, to int, stop func() bool) (queued int, ok bool) {
	for i := from; i <= to; i++ {
		wg.Go(func() { b.Submit(i) })
	}
	for deadline := time.Now().Add(5 * time.Second); ; runtime.Gosched() {
		b.mu.Lock()
		queued = len(b.pending)
		b.mu.Unlock()
		if queued == to-from+1 {
			return queued, true
		}
		if stop() || time.Now().After(deadline) {
			return queued, false
		}
	}
}
