package service

import (
	"context"
	"net/url"

	"github.com/convohq/convo"
)

// The inbound path, from a provider's hook to its commit, in reading
// order: ReceiveHook checks a hook with its account's channel; ingest
// queues what it carries for the next batch; storeInbound writes the batch
// in one transaction, where ingestBatch reads the batch's live
// conversations, creates those of new peers (receivePeer), stores the
// messages, starts the flows they trigger and applies status reports;
// the events are written last, together. Each caller returns once its
// own content is committed. Display names of new peers are looked up
// afterwards, by a job (peername.go).
//
// Hooks of concurrent requests are stored together: one transaction, one
// read of the batch's conversations and multi-row writes of its messages
// and events, instead of a few statements per message.

var errNoHook = convo.NotFound(convo.ReasonAccountNotFound, "account")

// ReceiveHook checks one provider hook for an account and stores what it
// carries. It returns once everything is durably committed; slow follow-up
// work (display names, sending) runs later from durable jobs. pathAndQuery
// is the request's path and query, which signatures cover with the public URL.
func (s *Service) ReceiveHook(ctx context.Context, accountID, pathAndQuery string, h convo.HookRequest) error {
	a, ch, err := s.hookAccount(ctx, accountID)
	if err != nil {
		return err
	}
	h.URL = s.config.PublicURL + pathAndQuery
	in, err := ch.ReadHook(a, h)
	if err != nil {
		return err
	}
	in.WithoutNUL()
	s.dropEmpty(a, in)
	if h.Kind == convo.HookStatus {
		// Our own message id rides on the status callback URL, so a report
		// that overtakes the provider's answer to the send still finds it.
		if u, err := url.Parse(h.URL); err == nil {
			for i := range in.Statuses {
				in.Statuses[i].MessageID = u.Query().Get("message_id")
			}
		}
	}
	return s.ingest(a, in)
}

// VerifyHook answers a provider's subscription handshake for an account.
func (s *Service) VerifyHook(ctx context.Context, accountID string, query url.Values) (string, error) {
	a, ch, err := s.hookAccount(ctx, accountID)
	if err != nil {
		return "", err
	}
	challenge, ok := ch.VerifySubscription(a, query)
	if !ok {
		return "", convo.Errorf(convo.EForbidden, "VERIFICATION_FAILED", "the verification request does not match this account")
	}
	return challenge, nil
}

// hookAccount returns the live account behind a hook URL and its channel.
func (s *Service) hookAccount(ctx context.Context, accountID string) (*convo.Account, convo.Channel, error) {
	id, err := convo.ParseID(accountID)
	if err != nil {
		return nil, nil, errNoHook
	}
	a, err := s.cachedAccount(ctx, id)
	if convo.ErrorStatus(err) == convo.ENotFound || (err == nil && a.IsDeleted()) {
		return nil, nil, errNoHook
	} else if err != nil {
		return nil, nil, err
	}
	ch := s.config.Channels[a.Type]
	if ch == nil {
		return nil, nil, errNoHook
	}
	// Without its secrets no signature can be checked: refuse everything.
	if err := a.NotConfigured(); err != nil {
		return nil, nil, err
	}
	return a, ch, nil
}

// cachedAccount returns an account (deleted ones too) from the cache: one
// read serves a burst of hooks, so a batch needs no statement per message.
// The copy returned is the caller's own.
func (s *Service) cachedAccount(ctx context.Context, id string) (*convo.Account, error) {
	a, err := s.accounts.Get(id, func() (a *convo.Account, err error) {
		err = s.store.View(ctx, func(tx convo.Tx) (err error) {
			a, err = tx.GetAccount(ctx, id)
			return err
		})
		return a, err
	})
	if err != nil {
		return nil, err
	}
	own := *a
	return &own, nil
}

const (
	// maxInboundBatch bounds the hooks stored in one transaction.
	maxInboundBatch = 128
	// inboundWriters is how many batches may be stored at once when whole
	// batches wait (see batch.Batcher): PostgreSQL runs their transactions side
	// by side; on SQLite they share a commit.
	inboundWriters = 2
)

// inbound is one checked provider hook waiting to be stored, or a
// looked-up display name (name set, in empty): names travel with hooks
// so that storing one costs no transaction of its own.
type inbound struct {
	account *convo.Account
	in      convo.Inbound
	name    *peerName
}

// ingest stores what a hook carries and returns once it is committed:
// conversations found or created, messages stored once (provider retries
// are skipped), statuses moved forward.
func (s *Service) ingest(a *convo.Account, in *convo.Inbound) error {
	if len(in.Messages)+len(in.Follows)+len(in.Statuses) == 0 {
		return nil
	}
	return s.inbound.Submit(&inbound{account: a, in: *in})
}

// storeInbound stores a batch of hooks in one transaction; it calls
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

// optimisticTx writes the conversations and messages of hooks
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

// ingestBatch stores the display names and hooks of a batch in order.
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
		peer    convo.InboundPeer
	}
	var tokens []convo.ReplyToken // LINE reply tokens, saved once the batch's messages are
	var msgs []received
	var msgEvents []int // where each message's event sits in etx.events
	for _, r := range batch {
		a := r.account
		for _, f := range r.in.Follows {
			conv, job, err := s.receivePeer(ctx, etx, a, f, live, false)
			if err != nil {
				return nil, false, err
			}
			tokens = appendReplyToken(tokens, conv, f, s.now())
			if job != nil {
				claimed = append(claimed, job)
			}
		}
		for _, m := range r.in.Messages {
			conv, job, err := s.receivePeer(ctx, etx, a, m.InboundPeer, live, true)
			if err != nil {
				return nil, false, err
			}
			if job != nil {
				claimed = append(claimed, job)
			}
			msg := s.inboundMessage(a, conv, m)
			if err := s.describeReaction(ctx, etx, msg); err != nil {
				return nil, false, err
			}
			// Emitted now, in arrival order; dropped below if the message was a retry.
			if err := s.emitMessage(ctx, etx, convo.EventMessageCreated, msg); err != nil {
				return nil, false, err
			}
			msgs, msgEvents = append(msgs, received{a, conv, msg, m.InboundPeer}), append(msgEvents, len(etx.events)-1)
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
	// Each conversation's last message, one write per conversation of the
	// batch, not one per message.
	touched := map[string]int{}
	var touches []convo.Touch
	for i, m := range msgs {
		if !stored[i] {
			continue
		}
		if at, ok := touched[m.conv.ID]; ok {
			touches[at] = convo.TouchOf(m.msg)
		} else {
			touched[m.conv.ID] = len(touches)
			touches = append(touches, convo.TouchOf(m.msg))
		}
	}
	if err := tx.TouchConversations(ctx, touches); err != nil {
		return nil, false, err
	}
	// Media are downloaded by jobs of the same commit, after the hook's 200.
	var withMedia []*convo.Message
	for i, m := range msgs {
		if stored[i] && hasPending(m.msg) {
			withMedia = append(withMedia, m.msg)
		}
	}
	// The poll claims them within a second, many per claim, rather than
	// a claim per batch of hooks.
	if err := s.queueMediaFetches(ctx, tx, withMedia); err != nil {
		return nil, false, err
	}
	for i, m := range msgs {
		if !stored[i] {
			continue
		}
		tokens = appendReplyToken(tokens, m.conv, m.peer, m.msg.TMCreate)
		if m.peer.Consent != "" {
			if err := s.setConsent(ctx, etx, m.conv, m.peer.Consent); err != nil {
				return nil, false, err
			}
		}
		if m.peer.Consent == convo.ConsentStop {
			// A STOP is no conversation to answer: a flow's reply could not be
			// sent anyway, and carriers allow none but the provider's confirmation.
			continue
		}
		started, err := s.startActiveflow(ctx, etx, m.account, m.conv, m.msg)
		if err != nil {
			return nil, false, err
		}
		newJobs = newJobs || started
	}
	if len(tokens) > 0 {
		if err := tx.SaveReplyTokens(ctx, tokens); err != nil {
			return nil, false, err
		}
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

// receivePeer finds or creates the live conversation with a peer on an
// account, learning the peer's name when the hook carries one. live
// holds the conversations read or made so far by the batch. For a message
// (not a follow), a conversation that is not open opens again, or, resolved
// on an account whose resolved_inbound is new, is superseded by a new one.
// It returns the display-name lookup it queued, if any, for the caller to start.
func (s *Service) receivePeer(ctx context.Context, tx convo.Tx, a *convo.Account, p convo.InboundPeer, live map[dialogKey]*convo.Conversation, message bool) (*convo.Conversation, *peerLookup, error) {
	peer := p.Peer.Normalized()
	key := dialogKey{a.ID, p.DialogID}
	conv := live[key]
	if conv != nil && message && conv.Status != convo.StatusOpen {
		if conv.Status == convo.StatusResolved && a.ResolvedInbound == convo.ResolvedNew {
			superseded, err := tx.SupersedeConversation(ctx, conv.ID)
			if err != nil {
				return nil, nil, err
			}
			conv = nil
			if !superseded {
				// Changed since the batch read it: superseded by a
				// concurrent batch, reopened or deleted. The dialog's live
				// conversation now, if any, takes the message.
				conv, err = tx.GetLiveConversation(ctx, a.ID, p.DialogID)
				if convo.ErrorStatus(err) == convo.ENotFound {
					conv, err = nil, nil
				} else if err == nil && conv.Status != convo.StatusOpen {
					conv, err = s.reopen(ctx, tx, conv)
				}
				if err != nil {
					return nil, nil, err
				}
				live[key] = conv
			}
		} else {
			fresh, err := s.reopen(ctx, tx, conv)
			if err != nil {
				return nil, nil, err
			}
			conv = fresh
			live[key] = conv
		}
	}
	if conv == nil {
		self := convo.SelfAddress(a)
		if self.Target == "" && p.SelfTarget != "" {
			self.Target = p.SelfTarget
		}
		name, detail := convo.AutoTitle(a.Type, peer)
		var created bool
		var err error
		conv, created, err = s.createLiveConversation(ctx, tx, &convo.Conversation{
			CustomerID: a.CustomerID, AccountID: a.ID, Type: convo.ConversationType(a.Type), DialogID: p.DialogID,
			Name: name, Detail: detail, Self: self, Peer: peer,
		})
		if err != nil {
			return nil, nil, err
		}
		live[key] = conv
		if created {
			lookup, err := s.queuePeerName(ctx, tx, a, conv)
			return conv, lookup, err
		}
	}
	if peer.TargetName != "" && peer.TargetName != conv.Peer.TargetName {
		// Reread (and on PostgreSQL lock) the row before changing it, so a
		// concurrent change, an assignment say, is not overwritten.
		fresh, err := tx.GetConversation(ctx, conv.ID)
		if err != nil {
			return nil, nil, err
		}
		conv = fresh
		live[key] = conv
		if peer.TargetName == conv.Peer.TargetName {
			return conv, nil, nil
		}
		renamePeer(conv, a.Type, peer.TargetName)
		conv.TMUpdate = s.now()
		if err := tx.UpdateConversation(ctx, conv); err != nil {
			return nil, nil, err
		}
		return conv, nil, s.emitConversation(ctx, tx, convo.EventConversationUpdated, conv)
	}
	return conv, nil, nil
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
		AccountID: a.ID, ProviderID: m.ProviderID, Data: m.Data,
	}
	for _, md := range m.Medias {
		msg.Medias = append(msg.Medias, s.inboundMedia(a, md, now))
	}
	return msg
}

// applyStatus moves an outgoing message forward on a provider's report;
// reports that would move it backwards, or name no message of the account,
// change nothing. A report that carries convo's message id finds its
// message even before the send's answer is recorded; one about another part
// of a message sent in several (WhatsApp's media after its text) may only
// fail it.
func (s *Service) applyStatus(ctx context.Context, tx convo.Tx, accountID string, st convo.StatusReport) error {
	var msg *convo.Message
	var err error
	otherPart := false
	if id, perr := convo.ParseID(st.MessageID); perr == nil {
		msg, err = tx.GetMessage(ctx, id)
		if err == nil && msg.AccountID != accountID {
			err = convo.NotFound(convo.ReasonMessageNotFound, "message")
		}
		otherPart = err == nil && msg.ProviderID != "" && st.ProviderID != "" && msg.ProviderID != st.ProviderID
	} else {
		msg, err = tx.GetMessageByProviderID(ctx, accountID, st.ProviderID)
	}
	if convo.ErrorStatus(err) == convo.ENotFound {
		s.logger.Info("status report for an unknown message", "account_id", accountID, "provider_id", st.ProviderID)
		return nil
	} else if err != nil {
		return err
	}
	if msg.Direction != convo.DirectionOutgoing || (otherPart && st.Status != convo.MessageFailed) {
		return nil
	}
	if st.Status == convo.MessageFailed {
		s.logger.Warn("provider reports a message failed", "message_id", msg.ID, "detail", st.Detail)
	}
	before := *msg
	if msg.ProviderID == "" {
		msg.ProviderID = st.ProviderID
	}
	s.moveMessage(msg, st)
	return s.saveMessageMove(ctx, tx, &before, msg)
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
