// Package batch gathers items submitted by concurrent callers and writes
// them in batches, one transaction each.
package batch

import "sync"

// Batcher gathers items submitted by concurrent callers and writes them in
// batches, one transaction each. One writer takes whatever gathered while
// its last batch was stored: a large batch costs less per item than two
// smaller ones whose commits overlap (measured on both databases). When a
// whole batch waits, which one writer no longer keeps up with, more start,
// and they take turns to prepare: the next batch is taken as soon as the
// one before needs only its commit. Each caller returns once its own item
// is committed. A batch that fails is written again item by item, so a bad
// item fails only its caller (unless the database is unavailable, which
// fails them all).
type Batcher[T any] struct {
	// write stores a batch in one transaction and calls ready once the
	// batch needs only its commit (at the latest, when it returns).
	write func(batch []T, ready func()) error
	// maxBatch bounds a batch; maxWriters bounds the batches written at once.
	maxBatch, maxWriters int
	// FailsAll, when set, tells errors that would fail every item alike
	// (an unavailable database): a batch failing so is not written again
	// item by item. Set it before the first Submit.
	FailsAll func(error) bool

	mu        sync.Mutex
	turn      *sync.Cond // signalled when preparing ends
	pending   []*batchItem[T]
	writers   int
	preparing bool // a writer is running a batch's statements
}

type batchItem[T any] struct {
	item T
	done chan error
}

// New returns a Batcher that writes batches of at most maxBatch items,
// at most maxWriters at once, with write.
func New[T any](maxBatch, maxWriters int, write func(batch []T, ready func()) error) *Batcher[T] {
	b := &Batcher[T]{write: write, maxBatch: maxBatch, maxWriters: maxWriters}
	b.turn = sync.NewCond(&b.mu)
	return b
}

// Submit queues item and waits until it is written. Once queued, the
// outcome is awaited whatever the caller's context: it may be committed.
func (b *Batcher[T]) Submit(item T) error {
	it := &batchItem[T]{item: item, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, it)
	// A busy writer takes what is pending once its batch is done.
	if b.writers == 0 || b.writers < b.maxWriters && len(b.pending) >= b.maxBatch {
		b.writers++
		go b.drain()
	}
	b.mu.Unlock()
	return <-it.done
}

// Waiting reports whether items wait for a writer.
func (b *Batcher[T]) Waiting() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending) > 0
}

// drain writes batches until nothing waits.
func (b *Batcher[T]) drain() {
	for {
		b.mu.Lock()
		for b.preparing && len(b.pending) > 0 {
			b.turn.Wait()
		}
		if len(b.pending) == 0 {
			b.writers--
			b.mu.Unlock()
			return
		}
		n := min(len(b.pending), b.maxBatch)
		batch := b.pending[:n:n]
		b.pending = append([]*batchItem[T](nil), b.pending[n:]...)
		b.preparing = true
		b.mu.Unlock()
		var once sync.Once
		ready := func() {
			once.Do(func() {
				b.mu.Lock()
				b.preparing = false
				b.mu.Unlock()
				b.turn.Signal()
			})
		}
		b.writeBatch(batch, ready)
	}
}

// writeBatch writes batch and tells each caller its outcome; ready is
// called by the first write at the latest when it returns.
func (b *Batcher[T]) writeBatch(batch []*batchItem[T], ready func()) {
	items := make([]T, len(batch))
	for i, it := range batch {
		items[i] = it.item
	}
	err := b.write(items, ready)
	ready()
	// Item by item, an unavailable database would fail each in turn.
	if err != nil && len(batch) > 1 && (b.FailsAll == nil || !b.FailsAll(err)) {
		for _, it := range batch {
			b.writeBatch([]*batchItem[T]{it}, func() {})
		}
		return
	}
	for _, it := range batch {
		it.done <- err
	}
}
