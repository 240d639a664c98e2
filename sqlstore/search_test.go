package sqlstore_test

import (
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

// testSearch: Search finds conversations by name, peer and dialog and
// messages by text as substrings, written by any insert path and kept in
// step with updates; it leaves out deleted rows, other customers' rows and
// conversations the visibility excludes, and pages without repeats.
// testSearch runs on both paths of a search: reading the few conversations
// a customer or agent sees, and walking the search index.
func testSearch(t *testing.T, db *sqlstore.DB) {
	for _, path := range []struct {
		name  string
		scope int
	}{{"few conversations", 500}, {"search index", 0}} {
		t.Run(path.name, func(t *testing.T) {
			defer sqlstore.SetSearchScopeMax(path.scope)()
			testSearchPath(t, db)
		})
	}
}

func testSearchPath(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	word := "Quokka" + convo.NewID()[30:]
	cust, other, account := convo.NewID(), convo.NewID(), convo.NewID()
	agentX, agentY := convo.NewID(), convo.NewID()
	conv := func(dialog, name string, owner string) *convo.Conversation {
		c := newConversation(cust, account, dialog, at(0))
		c.Name = name
		if owner != "" {
			c.OwnerType, c.OwnerID = convo.OwnerAgent, owner
		}
		return c
	}
	mine := conv("+15550201", "about the "+word, agentX)
	free := conv("+15550202", "plain", "")
	theirs := conv("+15550203", "plain", agentY)
	theirs.Peer.TargetName = "Mr " + word
	gone := conv("+15550204", word, "")
	foreign := newConversation(other, account, "+15550205", at(0))
	foreign.Name = word
	update(t, db, func(tx convo.Tx) error {
		return createAll(ctx, tx.CreateConversation, mine, free, theirs, gone, foreign)
	})
	msg := func(c *convo.Conversation, text string) *convo.Message {
		m := newMessage(c.CustomerID, c.ID, account, "", at(time.Second))
		m.Text = text
		return m
	}
	m1, m2, m3 := msg(mine, "one "+word), msg(free, "two "+word+"!"), msg(theirs, "three "+word)
	m4, m5, m6 := msg(gone, word), msg(foreign, word), msg(mine, "nothing to see in ŽLUŤOUČKÝ KŮŇ")
	update(t, db, func(tx convo.Tx) error { return tx.CreateMessage(ctx, m1) })
	update(t, db, func(tx convo.Tx) error { _, err := tx.CreateMessages(ctx, []*convo.Message{m2, m3}); return err })
	update(t, db, func(tx convo.Tx) error { return tx.CreateNewMessages(ctx, []*convo.Message{m4, m5, m6}) })
	imported := *msg(free, "imported "+word)
	if err := db.Import(ctx, nil, []convo.Message{imported}); err != nil {
		t.Fatal(err)
	}
	gone.TMDelete = at(time.Hour)
	update(t, db, func(tx convo.Tx) error { return tx.UpdateConversation(ctx, gone) })

	search := func(p convo.SearchParams) []string {
		t.Helper()
		p.CustomerID = cust
		if p.Query == "" {
			p.Query = word
		}
		return ids(read(t, db, func(tx convo.Tx) ([]*convo.SearchHit, error) { return tx.Search(ctx, p) }), func(h *convo.SearchHit) string {
			if h.Message != nil {
				if h.Conversation == nil || h.Conversation.ID != h.Message.ConversationID {
					t.Errorf("message hit %s comes with conversation %v", h.Message.ID, h.Conversation)
				}
				return h.Message.ID
			}
			return h.Conversation.ID
		})
	}
	all := []string{theirs.ID, mine.ID, imported.ID, m3.ID, m2.ID, m1.ID}
	if got := search(convo.SearchParams{Limit: 10}); !slices.Equal(got, all) {
		t.Errorf("hits %v, want conversations then messages, newest first: %v", got, all)
	}
	if got := search(convo.SearchParams{Query: "QUOKKA" + word[6:] + "!", Limit: 10}); !slices.Equal(got, []string{m2.ID}) {
		t.Errorf("a longer, upper-case query finds %v", got)
	}
	if got := search(convo.SearchParams{Query: "žluťoučký", Limit: 10}); !slices.Equal(got, []string{m6.ID}) {
		t.Errorf("a lower-case query beyond ASCII finds %v", got)
	}
	if got := search(convo.SearchParams{Query: "okk%", Limit: 10}); len(got) != 0 {
		t.Errorf("%% is a wildcard: %v", got)
	}
	if got := search(convo.SearchParams{Kind: convo.SearchConversation, Limit: 10}); !slices.Equal(got, all[:2]) {
		t.Errorf("conversations only: %v", got)
	}
	if got := search(convo.SearchParams{Kind: convo.SearchMessage, Limit: 10}); !slices.Equal(got, all[2:]) {
		t.Errorf("messages only: %v", got)
	}
	if got := search(convo.SearchParams{Visible: &convo.SearchVisibility{OwnerID: agentX}, Limit: 10}); !slices.Equal(got, []string{mine.ID, m1.ID}) {
		t.Errorf("agent X sees %v", got)
	}
	if got := search(convo.SearchParams{Visible: &convo.SearchVisibility{OwnerID: agentX, OrUnassigned: true}, Limit: 10}); !slices.Equal(got, []string{mine.ID, imported.ID, m2.ID, m1.ID}) {
		t.Errorf("agent X with the unassigned sees %v", got)
	}

	// Pages of two, each after the last hit of the one before.
	var walked []string
	var after *convo.Cursor
	for range 10 {
		page := read(t, db, func(tx convo.Tx) ([]*convo.SearchHit, error) {
			return tx.Search(ctx, convo.SearchParams{CustomerID: cust, Query: word, After: after, Limit: 2})
		})
		if len(page) == 0 {
			break
		}
		last := page[len(page)-1]
		after = &convo.Cursor{Time: last.Conversation.TMCreate, ID: last.Conversation.ID}
		if last.Message != nil {
			after = &convo.Cursor{Time: last.Message.TMCreate, ID: last.Message.ID}
		}
		walked = append(walked, ids(page, func(h *convo.SearchHit) string {
			if h.Message != nil {
				return h.Message.ID
			}
			return h.Conversation.ID
		})...)
	}
	if !slices.Equal(walked, all) {
		t.Errorf("pages walk %v, want %v", walked, all)
	}
	if got := search(convo.SearchParams{After: &convo.Cursor{Time: at(time.Millisecond)}, Limit: 10}); !slices.Equal(got, all[:2]) {
		t.Errorf("before a time: %v", got)
	}

	// Changes reach the index: a new text, a new name, a deleted message.
	m1.Text, mine.Name = "rewritten", "renamed"
	m3.TMDelete = at(time.Hour)
	update(t, db, func(tx convo.Tx) error {
		return errors.Join(tx.UpdateMessage(ctx, m1), tx.UpdateMessage(ctx, m3), tx.UpdateConversation(ctx, mine))
	})
	if got := search(convo.SearchParams{Limit: 10}); !slices.Equal(got, []string{theirs.ID, imported.ID, m2.ID}) {
		t.Errorf("after the changes: %v", got)
	}
	if got := search(convo.SearchParams{Query: "ewritte", Limit: 10}); !slices.Equal(got, []string{m1.ID}) {
		t.Errorf("the new text finds %v", got)
	}
	if got := search(convo.SearchParams{Query: "enamed", Limit: 10}); !slices.Equal(got, []string{mine.ID}) {
		t.Errorf("the new name finds %v", got)
	}
}

// testSearchConcurrentWrites: Updates committed together (one SQLite
// transaction, each in a savepoint) are each found or not by their own
// outcome: a failed Update's message and conversation are never hits, and
// a message written and rewritten in the same commit is found once, by its
// new text.
func testSearchConcurrentWrites(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	word := "Wombat" + convo.NewID()[30:]
	cust, account := convo.NewID(), convo.NewID()
	failed := errors.New("fails on purpose")
	const writers = 24
	var (
		mu   sync.Mutex
		kept []string
		wg   sync.WaitGroup
	)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newConversation(cust, account, "+1555030"+strconv.Itoa(i), at(0))
			c.Name = word + " conversation"
			m := newMessage(cust, c.ID, account, "", at(time.Second))
			m.Text = "first " + word
			err := db.Update(ctx, func(tx convo.Tx) error {
				if err := tx.CreateConversation(ctx, c); err != nil {
					return err
				}
				if err := tx.CreateMessage(ctx, m); err != nil {
					return err
				}
				switch i % 3 {
				case 0:
					return failed
				case 1:
					m.Text = "second " + word
					return tx.UpdateMessage(ctx, m)
				}
				return nil
			})
			if err != nil && !errors.Is(err, failed) {
				t.Error(err)
			}
			if err == nil {
				mu.Lock()
				kept = append(kept, c.ID, m.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var found []string
	var after *convo.Cursor
	for range writers {
		page := read(t, db, func(tx convo.Tx) ([]*convo.SearchHit, error) {
			return tx.Search(ctx, convo.SearchParams{CustomerID: cust, Query: word, After: after, Limit: 10})
		})
		if len(page) == 0 {
			break
		}
		for _, h := range page {
			after = &convo.Cursor{Time: h.Conversation.TMCreate, ID: h.Conversation.ID}
			if h.Message != nil {
				after = &convo.Cursor{Time: h.Message.TMCreate, ID: h.Message.ID}
			}
			found = append(found, after.ID)
		}
	}
	slices.Sort(found)
	slices.Sort(kept)
	if !slices.Equal(found, kept) || len(kept) != 2*writers*2/3 {
		t.Errorf("found %d hits %v, want the %d rows of the Updates that succeeded %v", len(found), found, len(kept), kept)
	}
	second := read(t, db, func(tx convo.Tx) ([]*convo.SearchHit, error) {
		return tx.Search(ctx, convo.SearchParams{CustomerID: cust, Query: "second " + word, Limit: 50})
	})
	first := read(t, db, func(tx convo.Tx) ([]*convo.SearchHit, error) {
		return tx.Search(ctx, convo.SearchParams{CustomerID: cust, Query: "first " + word, Limit: 50})
	})
	if len(second) != writers/3 || len(first) != writers/3 {
		t.Errorf("the rewritten messages are found %d times by their new text and %d times by the old, want %d and 0 more",
			len(second), len(first)-writers/3, writers/3)
	}
}
