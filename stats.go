package convo

import "time"

// Backlog is the work waiting in the store, as monitoring reads it.
type Backlog struct {
	// EventsPending counts the events waiting for delivery, first attempt
	// or retry.
	EventsPending int
	// OldestPending is when the event first in the delivery order among
	// them was written; zero when none waits.
	OldestPending Time
	// EventsDead counts the events given up on.
	EventsDead int
	// JobsPending counts the durable jobs not yet done, by kind.
	JobsPending map[string]int
}

// PoolStats are the figures of one database connection pool.
type PoolStats struct {
	// Name tells the pool apart: "reader" or "writer".
	Name string
	// MaxOpen is the most connections it opens; Open those it has, InUse
	// those lent out and Idle those waiting to be.
	MaxOpen, Open, InUse, Idle int
	// Waits counts the connections asked for while none was free, and
	// WaitTime is how long they waited in all.
	Waits    int64
	WaitTime time.Duration
}
