package sqlstore

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/convohq/convo"
)

// BenchmarkClaimEvents claims deliveries from a queue of 2,000 events in
// 200 streams on SQLite, as dispatcher passes do: with the same limit
// every time, and with the limit the deliveries in flight leave, which
// changes from one pass to the next.
func BenchmarkClaimEvents(b *testing.B) {
	ctx := b.Context()
	db, err := Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "claim.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	customer := convo.NewID()
	var queued []*convo.Event
	for i := range 2000 {
		stream := convo.NewID()
		if i >= 200 {
			stream = queued[i%200].StreamID
		}
		queued = append(queued, &convo.Event{ID: convo.NewID(), CustomerID: customer, Type: convo.EventMessageCreated, StreamID: stream, ConversationID: stream,
			Payload: []byte(`{}`), NextAttemptAt: convo.NewTime(time.Unix(0, 0)), TMCreate: convo.NewTime(time.Unix(0, 0)), TMDelivered: convo.Never})
	}
	if err := db.Update(ctx, func(tx convo.Tx) error { return tx.CreateEvents(ctx, queued) }); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		limit func(i int) int
	}{
		{"same_limit", func(int) int { return 64 }},
		{"changing_limit", func(i int) int { return 64 + i%7 }},
	} {
		b.Run(c.name, func(b *testing.B) {
			// The claims' statements alone, in one transaction left uncommitted:
			// a commit costs more than a claim and varies more.
			sqlTx, err := db.writer.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer sqlTx.Rollback()
			t := db.tx(detached{sqlQuerier{sqlTx}})
			i := 0
			for b.Loop() {
				i++
				now := time.Now()
				// A lease that has already ended leaves the heads claimable again.
				claimed, err := t.ClaimEvents(ctx, convo.ClaimEventsParams{Now: convo.NewTime(now), LeaseUntil: convo.NewTime(now.Add(-time.Second)), Limit: c.limit(i)})
				if err != nil {
					b.Fatal(err)
				}
				if len(claimed) != c.limit(i) {
					b.Fatalf("claimed %d events, want %d (one per stream, up to the limit)", len(claimed), c.limit(i))
				}
			}
		})
	}
}
