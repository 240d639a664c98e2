package sqlstore_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

func newLabel(customerID, name string, tm convo.Time) *convo.Label {
	return &convo.Label{ID: convo.NewID(), CustomerID: customerID, Name: name, Color: "#1f77b4", Detail: "d", TMCreate: tm, TMUpdate: tm, TMDelete: convo.Never}
}

// sortedLabels returns ConversationLabels with each list sorted, for comparing.
func sortedLabels(t *testing.T, db *sqlstore.DB, ids ...string) map[string][]string {
	t.Helper()
	got := read(t, db, func(tx convo.Tx) (map[string][]string, error) { return tx.ConversationLabels(t.Context(), ids) })
	for _, names := range got {
		slices.Sort(names)
	}
	return got
}

func testLabels(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	custA, custB, account := convo.NewID(), convo.NewID(), convo.NewID()
	vip := newLabel(custA, "VIP", at(0))
	billing := newLabel(custA, "billing", at(time.Second))
	gone := newLabel(custA, "old", at(2*time.Second))
	gone.TMDelete = at(time.Hour)
	theirs := newLabel(custB, "vip", at(3*time.Second))
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateLabel, vip, billing, gone, theirs) })
	for _, want := range []*convo.Label{vip, billing, gone, theirs} {
		same(t, read(t, db, func(tx convo.Tx) (*convo.Label, error) { return tx.GetLabel(ctx, want.ID) }), want)
	}
	_, err := readErr(db, func(tx convo.Tx) (*convo.Label, error) { return tx.GetLabel(ctx, convo.NewID()) })
	wantErr(t, err, convo.ENotFound, convo.ReasonLabelNotFound)

	// A name is unique among a customer's live labels, ignoring case.
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.CreateLabel(ctx, newLabel(custA, "vip", at(4*time.Second))) })
	wantErr(t, err, convo.EConflict, convo.ReasonLabelNameTaken)
	err = db.Update(ctx, func(tx convo.Tx) error {
		l, err := tx.GetLabel(ctx, billing.ID)
		if err != nil {
			return err
		}
		l.Name = "Vip"
		return tx.UpdateLabel(ctx, l)
	})
	wantErr(t, err, convo.EConflict, convo.ReasonLabelNameTaken)
	update(t, db, func(tx convo.Tx) error { return tx.CreateLabel(ctx, newLabel(custA, "OLD", at(4*time.Second))) })

	labelIDs := func(ls []*convo.Label) []string {
		out := ids(ls, func(l *convo.Label) string { return l.ID })
		slices.Sort(out)
		return out
	}
	got := labelIDs(read(t, db, func(tx convo.Tx) ([]*convo.Label, error) {
		return tx.GetLiveLabelsByName(ctx, custA, []string{"vip", "BILLING", "nobody"})
	}))
	want := []string{vip.ID, billing.ID}
	slices.Sort(want)
	wantIDs(t, got, want...)
	wantIDs(t, labelIDs(read(t, db, func(tx convo.Tx) ([]*convo.Label, error) { return tx.GetLiveLabelsByName(ctx, custB, []string{"VIP"}) })), theirs.ID)
	list := ids(read(t, db, func(tx convo.Tx) ([]*convo.Label, error) {
		return tx.ListLabels(ctx, convo.LabelListParams{CustomerID: custA, Page: convo.Page{Limit: 10}})
	}), func(l *convo.Label) string { return l.Name })
	wantIDs(t, list, "OLD", "billing", "VIP")

	// Conversations hold labels by id; the list filter matches every name given.
	c1, c2, c3 := newConversation(custA, account, "+15550201", at(0)), newConversation(custA, account, "+15550202", at(time.Second)), newConversation(custA, account, "+15550203", at(2*time.Second))
	update(t, db, func(tx convo.Tx) error {
		if err := createAll(ctx, tx.CreateConversation, c1, c2, c3); err != nil {
			return err
		}
		if err := tx.SetConversationLabels(ctx, c1.ID, []string{vip.ID, billing.ID}); err != nil {
			return err
		}
		return tx.SetConversationLabels(ctx, c2.ID, []string{billing.ID})
	})
	if got, want := sortedLabels(t, db, c1.ID, c2.ID, c3.ID), map[string][]string{c1.ID: {"VIP", "billing"}, c2.ID: {"billing"}}; !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("labels %v, want %v", got, want)
	}
	filtered := func(names ...string) []string {
		return conversationIDs(t, db, convo.ConversationListParams{CustomerID: custA, Labels: names, Page: convo.Page{Limit: 10}})
	}
	wantIDs(t, filtered("BILLING"), c2.ID, c1.ID)
	wantIDs(t, filtered("billing", "vip"), c1.ID)
	wantIDs(t, filtered("vip", "nobody"))
	wantIDs(t, filtered("old")) // the deleted label's name, now another (unused) label's
	wantIDs(t, conversationIDs(t, db, convo.ConversationListParams{CustomerID: custB, Labels: []string{"vip"}, Page: convo.Page{Limit: 10}}))

	// Setting replaces the whole set; a rename shows, a label taken off every conversation is gone.
	update(t, db, func(tx convo.Tx) error { return tx.SetConversationLabels(ctx, c1.ID, []string{vip.ID}) })
	vip.Name, vip.TMUpdate = "Gold", at(time.Minute)
	update(t, db, func(tx convo.Tx) error { return tx.UpdateLabel(ctx, vip) })
	if got, want := sortedLabels(t, db, c1.ID, c2.ID), map[string][]string{c1.ID: {"Gold"}, c2.ID: {"billing"}}; !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("after the set and the rename: %v, want %v", got, want)
	}
	wantIDs(t, filtered("gold"), c1.ID)
	update(t, db, func(tx convo.Tx) error { return tx.UnlabelConversations(ctx, billing.ID) })
	if got := sortedLabels(t, db, c1.ID, c2.ID); !maps.EqualFunc(got, map[string][]string{c1.ID: {"Gold"}}, slices.Equal) {
		t.Errorf("after unlabelling billing: %v", got)
	}
	wantIDs(t, filtered("billing"))
	update(t, db, func(tx convo.Tx) error { return tx.SetConversationLabels(ctx, c1.ID, nil) })
	if got := sortedLabels(t, db, c1.ID); len(got) != 0 {
		t.Errorf("after clearing: %v", got)
	}
}

func testReadMarks(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust, account, agent, other := convo.NewID(), convo.NewID(), convo.NewID(), convo.NewID()
	c1, c2, quiet := newConversation(cust, account, "+15550301", at(0)), newConversation(cust, account, "+15550302", at(time.Second)), newConversation(cust, account, "+15550303", at(2*time.Second))
	in1, in2 := newMessage(cust, c1.ID, account, "", at(time.Minute)), newMessage(cust, c1.ID, account, "", at(2*time.Minute))
	out1 := newMessage(cust, c1.ID, account, "", at(3*time.Minute))
	out1.Direction = convo.DirectionOutgoing
	in3 := newMessage(cust, c1.ID, account, "", at(3*time.Minute)) // the same instant as out1
	in4 := newMessage(cust, c2.ID, account, "", at(time.Minute))
	answer := newMessage(cust, quiet.ID, account, "", at(time.Minute))
	answer.Direction = convo.DirectionOutgoing
	update(t, db, func(tx convo.Tx) error {
		if err := createAll(ctx, tx.CreateConversation, c1, c2, quiet); err != nil {
			return err
		}
		return createTouched(ctx, tx, in1, in2, out1, in3, in4, answer)
	})
	counts := func(agentID string) map[string]int {
		return read(t, db, func(tx convo.Tx) (map[string]int, error) {
			return tx.UnreadCounts(ctx, agentID, []string{c1.ID, c2.ID, quiet.ID, "not-an-id"})
		})
	}
	unread := func(agentID string) []string {
		return conversationIDs(t, db, convo.ConversationListParams{CustomerID: cust, UnreadFor: agentID, Page: convo.Page{Limit: 10}})
	}
	if got, want := counts(agent), map[string]int{c1.ID: 3, c2.ID: 1}; !maps.Equal(got, want) {
		t.Errorf("unread before any mark: %v, want %v", got, want)
	}
	wantIDs(t, unread(agent), c2.ID, c1.ID)
	wantIDs(t, unread(convo.NilID))
	_, err := readErr(db, func(tx convo.Tx) (*convo.ReadMark, error) { return tx.GetReadMark(ctx, agent, c1.ID) })
	wantErr(t, err, convo.ENotFound, convo.ReasonReadMarkNotFound)

	mark := func(agentID string, m *convo.Message, tm convo.Time) *convo.ReadMark {
		var got *convo.ReadMark
		update(t, db, func(tx convo.Tx) (err error) {
			got, err = tx.MarkRead(ctx, &convo.ReadMark{AgentID: agentID, ConversationID: m.ConversationID, MessageID: m.ID, TMMessage: m.TMCreate, TMUpdate: tm})
			return err
		})
		return got
	}
	got := mark(agent, in2, at(time.Hour))
	same(t, got, &convo.ReadMark{AgentID: agent, ConversationID: c1.ID, MessageID: in2.ID, TMMessage: in2.TMCreate, TMUpdate: at(time.Hour)})
	if got, want := counts(agent), map[string]int{c1.ID: 1, c2.ID: 1}; !maps.Equal(got, want) {
		t.Errorf("unread after reading up to in2: %v, want %v", got, want)
	}
	// Backwards is ignored: the mark stays.
	if got := mark(agent, in1, at(2*time.Hour)); got.MessageID != in2.ID || !got.TMUpdate.Equal(at(time.Hour).Time) {
		t.Errorf("a mark moved back: %+v", got)
	}
	// Up to the outgoing message: the incoming one of the same instant is
	// after it or before it by id, as the messages' order has them.
	mark(agent, out1, at(3*time.Hour))
	wantIn3 := 0
	if in3.ID > out1.ID {
		wantIn3 = 1
	}
	if got := counts(agent)[c1.ID]; got != wantIn3 {
		t.Errorf("unread after reading up to out1: %d, want %d", got, wantIn3)
	}
	mark(agent, in3, at(4*time.Hour))
	if got, want := counts(agent), map[string]int{c2.ID: 1}; !maps.Equal(got, want) {
		t.Errorf("unread after reading all of c1: %v, want %v", got, want)
	}
	wantIDs(t, unread(agent), c2.ID)
	// Another agent's state is its own.
	if got, want := counts(other), map[string]int{c1.ID: 3, c2.ID: 1}; !maps.Equal(got, want) {
		t.Errorf("another agent's unread: %v, want %v", got, want)
	}
	// A new incoming message is unread again.
	in5 := newMessage(cust, c1.ID, account, "", at(5*time.Minute))
	update(t, db, func(tx convo.Tx) error { return createTouched(ctx, tx, in5) })
	wantIDs(t, unread(agent), c2.ID, c1.ID)
	if got := counts(agent)[c1.ID]; got != 1 {
		t.Errorf("unread after a new message: %d, want 1", got)
	}
}

// createTouched creates messages and touches their conversations with
// each, as the service does: unread state relies on the touch.
func createTouched(ctx context.Context, tx convo.Tx, msgs ...*convo.Message) error {
	for _, m := range msgs {
		if err := tx.CreateMessage(ctx, m); err != nil {
			return err
		}
		if err := tx.TouchConversations(ctx, []convo.Touch{convo.TouchOf(m)}); err != nil {
			return err
		}
	}
	return nil
}

// testLabelLists: a list of labels follows each conversation's activity as
// messages touch it, in both orders, labelled before or after the touch;
// several labels must all match, whichever is walked; pages never skip nor
// repeat; a label taken off, or deleted, lists nothing more.
func testLabelLists(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust, account := convo.NewID(), convo.NewID()
	billing, vip, other := newLabel(cust, "billing", at(0)), newLabel(cust, "vip", at(0)), newLabel(cust, "other", at(0))
	var cs []*convo.Conversation
	for i := range 6 {
		cs = append(cs, newConversation(cust, account, fmt.Sprintf("+1555040%d", i), at(time.Duration(i)*time.Second)))
	}
	update(t, db, func(tx convo.Tx) error {
		if err := createAll(ctx, tx.CreateLabel, billing, vip, other); err != nil {
			return err
		}
		if err := createAll(ctx, tx.CreateConversation, cs...); err != nil {
			return err
		}
		for i, c := range cs[:5] {
			labels := []string{billing.ID}
			if i%2 == 0 {
				labels = append(labels, vip.ID)
			}
			if err := tx.SetConversationLabels(ctx, c.ID, labels); err != nil {
				return err
			}
		}
		return nil
	})
	list := func(byActivity bool, limit int, names ...string) []string {
		t.Helper()
		var all []string
		var after *convo.Cursor
		for range 10 {
			page := read(t, db, func(tx convo.Tx) ([]*convo.Conversation, error) {
				return tx.ListConversations(ctx, convo.ConversationListParams{CustomerID: cust, Labels: names, ByActivity: byActivity, Page: convo.Page{After: after, Limit: limit}})
			})
			for _, c := range page {
				all = append(all, c.ID)
				at := c.TMCreate
				if byActivity {
					at = c.TMActivity
				}
				after = &convo.Cursor{Time: at, ID: c.ID}
			}
			if len(page) < limit {
				return all
			}
		}
		t.Fatalf("more than 10 pages of %d", limit)
		return nil
	}
	// Messages to cs[1] (outgoing) and cs[3] (incoming), the older first.
	touch := func(c *convo.Conversation, d time.Duration, dir string) {
		m := newMessage(cust, c.ID, account, "", at(time.Hour+d))
		m.Direction = dir
		update(t, db, func(tx convo.Tx) error { return createTouched(ctx, tx, m) })
	}
	touch(cs[3], 0, convo.DirectionIncoming)
	touch(cs[1], time.Minute, convo.DirectionOutgoing)
	// Labelled after its message: the label carries the activity the touch left.
	touch(cs[5], 2*time.Minute, convo.DirectionIncoming)
	update(t, db, func(tx convo.Tx) error {
		return tx.SetConversationLabels(ctx, cs[5].ID, []string{billing.ID, other.ID})
	})
	for _, limit := range []int{100, 2} {
		wantIDs(t, list(true, limit, "billing"), cs[5].ID, cs[1].ID, cs[3].ID, cs[4].ID, cs[2].ID, cs[0].ID)
		wantIDs(t, list(false, limit, "BILLING"), cs[5].ID, cs[4].ID, cs[3].ID, cs[2].ID, cs[1].ID, cs[0].ID)
		wantIDs(t, list(true, limit, "vip"), cs[4].ID, cs[2].ID, cs[0].ID)
		// All must match, in either order of the names.
		wantIDs(t, list(true, limit, "billing", "vip"), cs[4].ID, cs[2].ID, cs[0].ID)
		wantIDs(t, list(true, limit, "vip", "billing"), cs[4].ID, cs[2].ID, cs[0].ID)
		wantIDs(t, list(false, limit, "other", "billing", "billing"), cs[5].ID)
		wantIDs(t, list(true, limit, "vip", "other"))
		wantIDs(t, list(true, limit, "vip", "no such label"))
	}
	// A later message moves a labelled conversation to the head again.
	touch(cs[0], 3*time.Minute, convo.DirectionIncoming)
	wantIDs(t, list(true, 100, "vip"), cs[0].ID, cs[4].ID, cs[2].ID)
	// A message older than the last moves nothing.
	touch(cs[3], -time.Minute, convo.DirectionIncoming)
	wantIDs(t, list(true, 100, "billing"), cs[0].ID, cs[5].ID, cs[1].ID, cs[3].ID, cs[4].ID, cs[2].ID)
	update(t, db, func(tx convo.Tx) error { return tx.SetConversationLabels(ctx, cs[0].ID, []string{billing.ID}) })
	wantIDs(t, list(true, 100, "vip"), cs[4].ID, cs[2].ID)
	update(t, db, func(tx convo.Tx) error { return tx.UnlabelConversations(ctx, vip.ID) })
	wantIDs(t, list(true, 100, "vip"))
	wantIDs(t, list(true, 100, "billing"), cs[0].ID, cs[5].ID, cs[1].ID, cs[3].ID, cs[4].ID, cs[2].ID)
}

// testUnreadKeys: unread state follows the newest incoming message by the
// order of messages, even one that comes in after a later outgoing one,
// and a deleted incoming message is not unread, though it was the newest.
func testUnreadKeys(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust, account, agent := convo.NewID(), convo.NewID(), convo.NewID()
	c := newConversation(cust, account, "+15550501", at(0))
	out := newMessage(cust, c.ID, account, "", at(2*time.Minute))
	out.Direction = convo.DirectionOutgoing
	late := newMessage(cust, c.ID, account, "", at(time.Minute))
	update(t, db, func(tx convo.Tx) error {
		if err := tx.CreateConversation(ctx, c); err != nil {
			return err
		}
		return createTouched(ctx, tx, out, late)
	})
	state := func() (listed []string, count int) {
		t.Helper()
		listed = conversationIDs(t, db, convo.ConversationListParams{CustomerID: cust, UnreadFor: agent, ByActivity: true, Page: convo.Page{Limit: 10}})
		counts := read(t, db, func(tx convo.Tx) (map[string]int, error) { return tx.UnreadCounts(ctx, agent, []string{c.ID}) })
		return listed, counts[c.ID]
	}
	if listed, n := state(); len(listed) != 1 || n != 1 {
		t.Errorf("an incoming message older than the last, no mark: listed %v, count %d; want it, 1", listed, n)
	}
	mark := func(m *convo.Message) {
		update(t, db, func(tx convo.Tx) error {
			_, err := tx.MarkRead(ctx, &convo.ReadMark{AgentID: agent, ConversationID: c.ID, MessageID: m.ID, TMMessage: m.TMCreate, TMUpdate: m.TMCreate})
			return err
		})
	}
	mark(late)
	if listed, n := state(); len(listed) != 0 || n != 0 {
		t.Errorf("read up to the incoming message: listed %v, count %d; want none", listed, n)
	}
	newer := newMessage(cust, c.ID, account, "", at(3*time.Minute))
	update(t, db, func(tx convo.Tx) error { return createTouched(ctx, tx, newer) })
	if listed, n := state(); len(listed) != 1 || n != 1 {
		t.Errorf("a newer incoming message: listed %v, count %d; want it, 1", listed, n)
	}
	update(t, db, func(tx convo.Tx) error {
		newer.TMDelete = at(time.Hour)
		return tx.UpdateMessage(ctx, newer)
	})
	if listed, n := state(); len(listed) != 0 || n != 0 {
		t.Errorf("the newer message deleted: listed %v, count %d; want none", listed, n)
	}
}
