package sqlstore_test

import (
	"maps"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// TestOptOutsAndReplyTokens checks the SMS opt-outs and the LINE reply
// tokens on every backend: an opt-out is per account and peer, and a
// reply token is taken once, even by concurrent replicas.
func TestOptOutsAndReplyTokens(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		db := open(t, b.DSN)
		ctx := t.Context()

		t.Run("opt-outs", func(t *testing.T) {
			acc, other := convo.NewID(), convo.NewID()
			alice, bob := "+15550000001", "+15550000002"
			set := func(account, dialog string, out bool) bool {
				var changed bool
				update(t, db, func(tx convo.Tx) (err error) {
					changed, err = tx.SetPeerOptOut(ctx, account, dialog, out, at(0))
					return err
				})
				return changed
			}
			if !set(acc, alice, true) || set(acc, alice, true) {
				t.Error("a first opt-out should change the peer, a second nothing")
			}
			set(other, bob, true)
			key := func(account, dialog string) convo.PeerKey { return convo.PeerKey{AccountID: account, DialogID: dialog} }
			got := read(t, db, func(tx convo.Tx) (map[convo.PeerKey]bool, error) {
				return tx.PeersOptedOut(ctx, []convo.PeerKey{key(acc, alice), key(acc, bob), key(other, alice), key(other, bob), key("not-an-id", alice)})
			})
			want := map[convo.PeerKey]bool{key(acc, alice): true, key(other, bob): true}
			if !maps.Equal(got, want) {
				t.Errorf("opted out %v, want %v", got, want)
			}
			if !set(acc, alice, false) || set(acc, alice, false) {
				t.Error("an opt-in should change an opted-out peer once")
			}
			got = read(t, db, func(tx convo.Tx) (map[convo.PeerKey]bool, error) {
				return tx.PeersOptedOut(ctx, []convo.PeerKey{key(acc, alice)})
			})
			if len(got) != 0 {
				t.Errorf("after the opt-in %v", got)
			}
		})

		t.Run("reply tokens", func(t *testing.T) {
			conv, stale := convo.NewID(), convo.NewID()
			update(t, db, func(tx convo.Tx) error {
				return tx.SaveReplyTokens(ctx, []convo.ReplyToken{
					{ConversationID: conv, Token: "first", TMReceive: at(time.Second)},
					{ConversationID: conv, Token: "second", TMReceive: at(2 * time.Second)},
					{ConversationID: stale, Token: "old", TMReceive: at(0)},
				})
			})
			// An older token arriving late does not replace a newer one.
			update(t, db, func(tx convo.Tx) error {
				return tx.SaveReplyTokens(ctx, []convo.ReplyToken{{ConversationID: conv, Token: "late", TMReceive: at(0)}})
			})
			update(t, db, func(tx convo.Tx) error {
				got, err := tx.ClaimReplyToken(ctx, stale, at(time.Second))
				if got != "" {
					t.Errorf("an expired token was handed out: %q", got)
				}
				return err
			})
			dbs := replicas(t, db, b.DSN)
			sync := rendezvous(int32(len(dbs)))
			tokens := make(chan string, len(dbs))
			done := make(chan error, len(dbs))
			for _, r := range dbs {
				go func() {
					done <- r.Update(ctx, func(tx convo.Tx) error {
						sync()
						token, err := tx.ClaimReplyToken(ctx, conv, at(time.Second))
						tokens <- token
						return err
					})
				}()
			}
			var got []string
			for range dbs {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			close(tokens)
			for tok := range tokens {
				if tok != "" {
					got = append(got, tok)
				}
			}
			if len(got) != 1 || got[0] != "second" {
				t.Errorf("concurrent claims got %q, want the newest token once", got)
			}
		})
	})
}
