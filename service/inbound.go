package service

import (
	"context"

	"github.com/convohq/convo"
)

// Inbound webhooks of concurrent requests are stored together: one
// transaction, one read of the batch's conversations and multi-row writes
// of its messages and events, instead of a few statements per message.
// Every request still returns only once its own content is committed.

const (
	// maxInboundBatch bounds the webhooks stored in one transaction.
	maxInboundBatch = 128
	// inboundWriters is how many batches may be stored at once when whole
	// batches wait (see batch.Batcher): PostgreSQL runs their transactions side
	// by side; on SQLite they share a commit.
	inboundWriters = 2
)

// inbound is one checked provider webhook waiting to be stored, or a
// looked-up display name (name set, in empty): names travel with webhooks
// so that storing one costs no transaction of its own.
type inbound struct {
	account *convo.Account
	in      convo.Inbound
	name    *peerName
}

// ingest stores what a webhook carries and returns once it is committed:
// conversations found or created, messages stored once (provider retries
// are skipped), statuses moved forward.
func (s *Service) ingest(a *convo.Account, in *convo.Inbound) error {
	if len(in.Messages)+len(in.Follows)+len(in.Statuses) == 0 {
		return nil
	}
	return s.inbound.Submit(&inbound{account: a, in: *in})
}

// storeInbound stores a batch of webhooks in one transaction; it calls
// ready once only the commit remains. It first writes new conversations
// and messages without waiting to learn whether each was new (see
// optimisticTx); when one was not, it stores the batch again, checking.
func (s *Service) storeInbound(batch []*inbound, ready func()) error {
	ctx := context.Background()
	var claimed []*peerLookup
	var newJobs bool
	store := func(optimistic bool) error {
		return s.update(ctx, func(tx convo.Tx) (err error) {
			if optimistic {
				tx = optimisticTx{tx}
			}
			claimed, newJobs, err = s.ingestBatch(ctx, tx, batch)
			ready()
			return err
		})
	}
	err := store(true)
	if convo.ErrorStatus(err) == convo.EConflict {
		// A provider's retry of a stored message, or a conversation another
		// batch created meanwhile.
		err = store(false)
	}
	if err != nil {
		return err
	}
	for _, l := range claimed {
		s.startPeerLookup(ctx, l)
	}
	if newJobs {
		s.jobs.Wake()
	}
	return nil
}

// optimisticTx writes the conversations and messages of inbound webhooks
// as new, each without a round trip of its own: a clash with one stored
// already fails the transaction (EConflict) instead of being reported.
// Clashes are rare: a provider's retry, or a new peer's messages arriving
// in two batches at once.
type optimisticTx struct{ convo.Tx }

func (o optimisticTx) CreateConversation(ctx context.Context, c *convo.Conversation) error {
	return o.Tx.CreateNewConversation(ctx, c)
}

func (o optimisticTx) CreateMessages(ctx context.Context, ms []*convo.Message) ([]bool, error) {
	stored := make([]bool, len(ms))
	for i := range stored {
		stored[i] = true
	}
	return stored, o.Tx.CreateNewMessages(ctx, ms)
}

// dialogKey identifies a live conversation: (account id, dialog id).
type dialogKey struct{ accountID, dialogID string }

// ingestBatch stores the display names and webhooks of a batch in order.
// It returns the lookups it queued claimed, to start once committed, and
// whether it queued other jobs for the job poll.
func (s *Service) ingestBatch(ctx context.Context, tx convo.Tx, batch []*inbound) (claimed []*peerLookup, newJobs bool, err error) {
	if err := lockNamed(ctx, tx, batch); err != nil {
		return nil, false, err
	}
	live, err := liveConversations(ctx, tx, batch)
	if err != nil {
		return nil, false, err
	}
	// Events are written together at the end, in the order they were made.
	etx := &eventBuffer{Tx: tx}
	if err := s.storePeerNames(ctx, etx, batch, live); err != nil {
		return nil, false, err
	}
	type received struct {
		account *convo.Account
		conv    *convo.Conversation
		msg     *convo.Message
	}
	var msgs []received
	var msgEvents []int // where each message's event sits in etx.events
	for _, r := range batch {
		a := r.account
		for _, f := range r.in.Follows {
			_, job, err := s.receivePeer(ctx, etx, a, f, live)
			if err != nil {
				return nil, false, err
			}
			if job != nil {
				claimed = append(claimed, job)
			}
		}
		for _, m := range r.in.Messages {
			conv, job, err := s.receivePeer(ctx, etx, a, m.InboundPeer, live)
			if err != nil {
				return nil, false, err
			}
			if job != nil {
				claimed = append(claimed, job)
			}
			msg := s.inboundMessage(a, conv, m)
			// Emitted now, in arrival order; dropped below if the message was a retry.
			if err := s.emitMessage(ctx, etx, convo.EventMessageCreated, msg); err != nil {
				return nil, false, err
			}
			msgs, msgEvents = append(msgs, received{a, conv, msg}), append(msgEvents, len(etx.events)-1)
		}
	}
	list := make([]*convo.Message, len(msgs))
	for i, m := range msgs {
		list[i] = m.msg
	}
	stored, err := tx.CreateMessages(ctx, list)
	if err != nil {
		return nil, false, err
	}
	retried := map[int]bool{}
	for i := range msgs {
		if !stored[i] {
			retried[msgEvents[i]] = true // a provider retry of a message already stored
		}
	}
	if len(retried) > 0 {
		kept := etx.events[:0]
		for i, e := range etx.events {
			if !retried[i] {
				kept = append(kept, e)
			}
		}
		etx.events = kept
	}
	for i, m := range msgs {
		if !stored[i] {
			continue
		}
		started, err := s.startActiveflow(ctx, etx, m.account, m.conv, m.msg)
		if err != nil {
			return nil, false, err
		}
		newJobs = newJobs || started
	}
	for _, r := range batch {
		for _, st := range r.in.Statuses {
			if err := s.applyStatus(ctx, etx, r.account.ID, st); err != nil {
				return nil, false, err
			}
		}
	}
	return claimed, newJobs, etx.flush(ctx)
}

// liveConversations reads the live conversations of every peer in a batch,
// and of the dialogs its display names go to, one query per account.
func liveConversations(ctx context.Context, tx convo.Tx, batch []*inbound) (map[dialogKey]*convo.Conversation, error) {
	dialogs := map[string][]string{}
	seen := map[dialogKey]bool{}
	add := func(accountID, dialogID string) {
		k := dialogKey{accountID, dialogID}
		if !seen[k] {
			seen[k] = true
			dialogs[accountID] = append(dialogs[accountID], dialogID)
		}
	}
	for _, r := range batch {
		if r.name != nil {
			add(r.account.ID, r.name.dialogID)
		}
		for _, f := range r.in.Follows {
			add(r.account.ID, f.DialogID)
		}
		for _, m := range r.in.Messages {
			add(r.account.ID, m.DialogID)
		}
	}
	live := make(map[dialogKey]*convo.Conversation, len(seen))
	for accountID, ids := range dialogs {
		convs, err := tx.GetLiveConversations(ctx, accountID, ids)
		if err != nil {
			return nil, err
		}
		for _, c := range convs {
			live[dialogKey{c.AccountID, c.DialogID}] = c
		}
	}
	return live, nil
}

// inboundMessage is the stored form of a message a peer sent to account a.
func (s *Service) inboundMessage(a *convo.Account, conv *convo.Conversation, m convo.InboundMessage) *convo.Message {
	now := s.now()
	msg := &convo.Message{
		ID: convo.NewID(), CustomerID: a.CustomerID, ConversationID: conv.ID,
		Direction: convo.DirectionIncoming, Status: convo.MessageDone,
		ReferenceType: conv.Type, ReferenceID: a.ID, Source: conv.Peer, Destination: conv.Self,
		Text: m.Text, Medias: make([]convo.Media, 0, len(m.Medias)),
		TMCreate: now, TMUpdate: now, TMDelete: convo.Never,
		AccountID: a.ID, ProviderID: m.ProviderID,
	}
	for _, md := range m.Medias {
		msg.Medias = append(msg.Medias, convo.Media{ID: convo.NewID(), CustomerID: a.CustomerID, Type: md.Type, Filename: md.URL,
			TMCreate: now, TMUpdate: now, TMDelete: convo.Never})
	}
	return msg
}

// eventBuffer holds the events a use case emits and writes them in one
// multi-row statement on flush. Nothing in ingest reads events back, and
// their ids keep the order in which they were made.
type eventBuffer struct {
	convo.Tx
	events []*convo.Event
}

func (b *eventBuffer) CreateEvent(_ context.Context, e *convo.Event) error {
	b.events = append(b.events, e)
	return nil
}

func (b *eventBuffer) flush(ctx context.Context) error {
	err := b.Tx.CreateEvents(ctx, b.events)
	b.events = nil
	return err
}
