package sqlstore_test

import (
	"sync"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

func testLoginThrottles(t *testing.T, stores []*sqlstore.DB) {
	ctx := t.Context()
	db := stores[0]
	user, addr := "user:"+convo.NewID(), "addr:"+convo.NewID()
	count := func(db *sqlstore.DB, key string, tm, since convo.Time) *convo.LoginThrottle {
		var l *convo.LoginThrottle
		update(t, db, func(tx convo.Tx) (err error) { l, err = tx.CountLoginFailure(ctx, key, tm, since); return err })
		return l
	}
	get := func(keys ...string) map[string]*convo.LoginThrottle {
		got := read(t, db, func(tx convo.Tx) ([]*convo.LoginThrottle, error) { return tx.GetLoginThrottles(ctx, keys) })
		m := map[string]*convo.LoginThrottle{}
		for _, l := range got {
			m[l.Key] = l
		}
		return m
	}
	if got := get(user, addr); len(got) != 0 {
		t.Fatalf("throttles of fresh keys: %v", got)
	}
	if l := count(db, user, at(0), at(-time.Minute)); l.Failures != 1 || !l.LastFailure.Equal(at(0).Time) || !l.BlockedUntil.IsZero() {
		t.Fatalf("first failure: %+v", l)
	}
	// Concurrent failures from several processes are each counted.
	var wg sync.WaitGroup
	for _, s := range stores {
		for range 3 {
			wg.Go(func() { count(s, user, at(time.Second), at(-time.Minute)) })
		}
	}
	wg.Wait()
	if l := get(user)[user]; l == nil || l.Failures != 1+3*len(stores) {
		t.Fatalf("after %d concurrent failures: %+v, want %d", 3*len(stores), l, 1+3*len(stores))
	}
	update(t, db, func(tx convo.Tx) error { return tx.BlockLogins(ctx, user, at(time.Hour)) })
	if l := get(user)[user]; !l.BlockedUntil.Equal(at(time.Hour).Time) {
		t.Errorf("blocked until %v, want %v", l.BlockedUntil, at(time.Hour))
	}
	// While blocked (or soon after) the count goes on; once both the last
	// failure and the block lie before since, it starts again.
	if l := count(db, user, at(50*time.Minute), at(35*time.Minute)); l.Failures != 2+3*len(stores) {
		t.Errorf("a failure during the block counted %d, want %d", l.Failures, 2+3*len(stores))
	}
	if l := count(db, user, at(3*time.Hour), at(2*time.Hour)); l.Failures != 1 {
		t.Errorf("a failure long after: count %d, want 1", l.Failures)
	}
	count(db, addr, at(0), at(-time.Minute))
	update(t, db, func(tx convo.Tx) error { return tx.ClearLoginThrottle(ctx, user) })
	if got := get(user, addr); got[user] != nil || got[addr] == nil || got[addr].Failures != 1 {
		t.Errorf("after clearing the user: %v", got)
	}
	var n int
	update(t, db, func(tx convo.Tx) (err error) { n, err = tx.PruneLoginThrottles(ctx, at(time.Minute)); return err })
	if n < 1 || get(addr)[addr] != nil {
		t.Errorf("pruning removed %d throttles, and left %v", n, get(addr))
	}
}
