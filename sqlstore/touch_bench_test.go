package sqlstore

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// BenchmarkTouch touches a conversation with a new incoming message, as
// each inbound message does, for a conversation without labels and for one
// with two, whose label rows take the new activity too: the write a label
// costs per message. On SQLite, and on PostgreSQL when the tests have one.
func BenchmarkTouch(b *testing.B) {
	backends := []func(testing.TB) testdb.Backend{testdb.SQLite}
	if os.Getenv(testdb.PostgresEnv) != "" {
		backends = append(backends, testdb.Postgres)
	}
	for _, backend := range backends {
		be := backend(b)
		b.Run(be.Name, func(b *testing.B) {
			ctx := b.Context()
			db, err := Open(ctx, be.DSN, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			customer, now := convo.NewID(), convo.NewTime(time.Now())
			labels := []*convo.Label{
				{ID: convo.NewID(), CustomerID: customer, Name: "billing", TMCreate: now, TMUpdate: now, TMDelete: convo.Never},
				{ID: convo.NewID(), CustomerID: customer, Name: "vip", TMCreate: now, TMUpdate: now, TMDelete: convo.Never},
			}
			convs := make([]*convo.Conversation, 2000)
			err = db.Update(ctx, func(tx convo.Tx) error {
				for _, l := range labels {
					if err := tx.CreateLabel(ctx, l); err != nil {
						return err
					}
				}
				for i := range convs {
					convs[i] = &convo.Conversation{ID: convo.NewID(), CustomerID: customer, OwnerID: convo.NilID, AccountID: customer, DialogID: fmt.Sprint(i),
						Status: convo.StatusOpen, SnoozedUntil: convo.Never, TMLastMessage: convo.Never, TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
					if err := tx.CreateConversation(ctx, convs[i]); err != nil {
						return err
					}
					if i%2 == 1 {
						if err := tx.SetConversationLabels(ctx, convs[i].ID, []string{labels[0].ID, labels[1].ID}); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range []struct {
				name     string
				labelled int
			}{{"no_labels", 0}, {"two_labels", 1}} {
				b.Run(c.name, func(b *testing.B) {
					// The touches alone, in one transaction left uncommitted:
					// a commit costs more than a touch and varies more.
					sqlTx, err := db.writer.BeginTx(ctx, nil)
					if err != nil {
						b.Fatal(err)
					}
					defer sqlTx.Rollback()
					t := db.tx(detached{sqlQuerier{sqlTx}})
					i := 0
					for b.Loop() {
						i++
						conv := convs[(2*i+c.labelled)%len(convs)]
						at := convo.NewTime(time.Now())
						touch := convo.Touch{ConversationID: conv.ID, Message: convo.LastMessage{ID: convo.NewID(), Direction: convo.DirectionIncoming, TMCreate: at}}
						if err := t.TouchConversations(ctx, []convo.Touch{touch}); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
