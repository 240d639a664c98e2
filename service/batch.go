package service

import "sync"

// batcher gathers items submitted by concurrent callers and writes them in
// batches, one transaction each: while one batch commits, the next one
// gathers. Each caller returns once its own item is committed. A batch that
// fails is written again item by item, so a bad item fails only its caller.
type batcher[T any] struct {
	// write stores a batch in one transaction.
	write func(batch []T) error
	// maxBatch bounds a batch; maxWriters bounds the batches written at once.
	maxBatch, maxWriters int

	mu      sync.Mutex
	pending []*batchItem[T]
	writers int
}

type batchItem[T any] struct {
	item T
	done chan error
}

func newBatcher[T any](maxBatch, maxWriters int, write func([]T) error) *batcher[T] {
	return &batcher[T]{write: write, maxBatch: maxBatch, maxWriters: maxWriters}
}

// submit queues item and waits until it is written. Once queued, the
// outcome is awaited whatever the caller's context: it may be committed.
func (b *batcher[T]) submit(item T) error {
	it := &batchItem[T]{item: item, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, it)
	if b.writers < b.maxWriters {
		b.writers++
		go b.drain()
	}
	b.mu.Unlock()
	return <-it.done
}

// drain writes batches until nothing waits.
func (b *batcher[T]) drain() {
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.writers--
			b.mu.Unlock()
			return
		}
		n := min(len(b.pending), b.maxBatch)
		batch := b.pending[:n:n]
		b.pending = append([]*batchItem[T](nil), b.pending[n:]...)
		b.mu.Unlock()
		b.writeBatch(batch)
	}
}

// writeBatch writes batch and tells each caller its outcome.
func (b *batcher[T]) writeBatch(batch []*batchItem[T]) {
	items := make([]T, len(batch))
	for i, it := range batch {
		items[i] = it.item
	}
	err := b.write(items)
	if err != nil && len(batch) > 1 {
		for _, it := range batch {
			b.writeBatch([]*batchItem[T]{it})
		}
		return
	}
	for _, it := range batch {
		it.done <- err
	}
}
