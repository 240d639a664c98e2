// Package rowcache keeps rows read on hot paths for a second.
package rowcache

import (
	"sync"
	"sync/atomic"
	"time"
)

// cacheTTL bounds how stale a cached row may be. A change made through
// this process drops its entry at once; other replicas see it within cacheTTL.
const cacheTTL = time.Second

// Cache keeps rows read on hot paths (an account per inbound webhook,
// a customer per webhook delivery) for cacheTTL, keyed by id. Only rows
// that were found are kept.
type Cache[T any] struct {
	m sync.Map
	// forgets counts Forget calls: a row loaded while one happened may
	// predate the change it reported, so it is not kept.
	forgets atomic.Uint64
}

type cachedRow[T any] struct {
	row   T
	until time.Time
}

// Get returns the row with id, from the cache or else from load.
func (c *Cache[T]) Get(id string, load func() (T, error)) (T, error) {
	if e, ok := c.m.Load(id); ok && time.Now().Before(e.(cachedRow[T]).until) {
		return e.(cachedRow[T]).row, nil
	}
	before := c.forgets.Load()
	row, err := load()
	if err == nil && c.forgets.Load() == before {
		c.m.Store(id, cachedRow[T]{row, time.Now().Add(cacheTTL)})
	}
	return row, err
}

// Forget drops the row with id, after a change has committed.
func (c *Cache[T]) Forget(id string) {
	c.forgets.Add(1)
	c.m.Delete(id)
}
