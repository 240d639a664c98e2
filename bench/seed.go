package bench

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	mathrand "math/rand/v2"
	"strconv"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

// seedSpec describes the rows seedConversations writes for one customer account.
type seedSpec struct {
	CustomerID, AccountID string
	// Conversations is how many LINE conversations to write, each with
	// MessagesPerConversation messages (alternately incoming and outgoing).
	Conversations, MessagesPerConversation int
	// Agents own nine conversations in ten, in turn; the tenth is in the
	// unassigned queue (all are when Agents is empty).
	Agents []string
	// Labels put labels on conversations at random, label k on a share
	// LabelShares[k] of them.
	Labels      []string
	LabelShares []float64
	// Conversation i (0 is the oldest) is created at First + i*Interval; its
	// messages follow it at even steps within the interval (at most a minute apart).
	First    time.Time
	Interval time.Duration
	// Progress, when set, is called after each transaction with the rows
	// written so far and the rows to write in all.
	Progress func(done, total int)
}

// seedResult is what the caller of seedConversations needs to query what it wrote.
type seedResult struct {
	// Sample holds up to 1000 conversation ids spread evenly over the seed.
	Sample []string
	// FirstAgentOpen is the activity of each open conversation of
	// Agents[0], oldest first: where the pages of its inbox start.
	FirstAgentOpen []convo.Time
}

// seedStatus draws a conversation's status: most are resolved, as in an
// inbox that has run for a while.
func seedStatus(rng *mathrand.Rand) string {
	switch r := rng.Float64(); {
	case r < 0.80:
		return convo.StatusResolved
	case r < 0.95:
		return convo.StatusOpen
	case r < 0.98:
		return convo.StatusPending
	}
	return convo.StatusSnoozed
}

// seedRowsPerTx is the rows written in one transaction.
const seedRowsPerTx = 50_000

// seedConversations imports conversations and their messages the way the
// service would have stored them: UUIDv7 ids, automatic titles, peers
// already named. It writes no events or jobs, and leaves the tables
// without planner statistics, as a bulk import or a restore does.
func seedConversations(ctx context.Context, store *sqlstore.DB, s seedSpec) (*seedResult, error) {
	if s.Conversations <= 0 || s.MessagesPerConversation < 0 || s.Interval <= 0 {
		return nil, errors.New("bench: seed: nothing to write")
	}
	perConv := 1 + s.MessagesPerConversation
	total := s.Conversations * perConv
	batch := max(seedRowsPerTx/perConv, 1)
	gap := min(s.Interval/time.Duration(perConv), time.Minute)
	res := &seedResult{}
	sampleEvery := max(s.Conversations/1000, 1)
	rng := mathrand.New(mathrand.NewPCG(uint64(time.Now().UnixNano()), 7))
	providerBase := randomBase()
	self := convo.Address{Type: convo.AddressLine, TargetName: "Me"}
	texts := []string{"Hi, is my order on its way?", "Thanks, that helps a lot.", "Could you send me the invoice again?",
		"We open at 9:00 tomorrow.", "Your parcel left our warehouse this morning.", "Sure, I will check and come back to you."}
	done := 0
	for first := 0; first < s.Conversations; first += batch {
		last := min(first+batch, s.Conversations)
		convs := make([]convo.Conversation, 0, last-first)
		msgs := make([]convo.Message, 0, (last-first)*s.MessagesPerConversation)
		var labels []sqlstore.ImportedLabel
		var marks []convo.ReadMark
		for i := first; i < last; i++ {
			created := convo.NewTime(s.First.Add(time.Duration(i) * s.Interval))
			var dialog [16]byte
			binary.BigEndian.PutUint64(dialog[:8], rng.Uint64())
			binary.BigEndian.PutUint64(dialog[8:], rng.Uint64())
			peer := convo.Address{Type: convo.AddressLine, Target: "U" + hex.EncodeToString(dialog[:]), TargetName: "Peer " + strconv.Itoa(i)}
			name, detail := convo.AutoTitle(convo.AccountLine, peer)
			c := convo.Conversation{ID: convo.NewID(), CustomerID: s.CustomerID, OwnerID: convo.NilID, AccountID: s.AccountID,
				Name: name, Detail: detail, Type: convo.ConversationLine, DialogID: peer.Target, Self: self, Peer: peer,
				Status: convo.StatusOpen, SnoozedUntil: convo.Never, TMLastMessage: convo.Never,
				TMCreate: created, TMUpdate: created, TMDelete: convo.Never, TMActivity: created}
			if len(s.Agents) > 0 && i%10 != 0 {
				c.OwnerType, c.OwnerID = convo.OwnerAgent, s.Agents[(i/10)%len(s.Agents)]
			}
			if c.Status = seedStatus(rng); c.Status == convo.StatusSnoozed {
				c.SnoozedUntil = convo.NewTime(time.Now().Add(time.Duration(1+rng.IntN(7*24)) * time.Hour))
			}
			for k, id := range s.Labels {
				if rng.Float64() < s.LabelShares[k] {
					labels = append(labels, sqlstore.ImportedLabel{ConversationID: c.ID, LabelID: id})
				}
			}
			from := len(msgs)
			for j := range s.MessagesPerConversation {
				at := convo.NewTime(created.Add(time.Duration(j+1) * gap))
				m := convo.Message{ID: convo.NewID(), CustomerID: s.CustomerID, ConversationID: c.ID,
					Direction: convo.DirectionIncoming, Status: convo.MessageDone, ReferenceType: convo.ConversationLine, ReferenceID: s.AccountID,
					Source: peer, Destination: self, Text: texts[(i+j)%len(texts)], Medias: []convo.Media{},
					TMCreate: at, TMUpdate: at, TMDelete: convo.Never, AccountID: s.AccountID,
					ProviderID: strconv.FormatUint(providerBase+uint64(i)*uint64(perConv)+uint64(j), 10)}
				if j%2 == 1 {
					m.Direction, m.Source, m.Destination = convo.DirectionOutgoing, self, peer
				}
				msgs = append(msgs, m)
				c.TMUpdate = at
				last := convo.TouchOf(&m).Message
				c.TMLastMessage, c.LastMessage, c.TMActivity = at, &last, at
			}
			if c.OwnerID != convo.NilID && s.MessagesPerConversation > 0 {
				if m, ok := seedReadMark(rng, &c, msgs[from:]); ok {
					marks = append(marks, m)
				}
			}
			if c.OwnerID == s.Agents0() && c.Status == convo.StatusOpen {
				res.FirstAgentOpen = append(res.FirstAgentOpen, c.TMActivity)
			}
			convs = append(convs, c)
			if i%sampleEvery == 0 && len(res.Sample) < 1000 {
				res.Sample = append(res.Sample, c.ID)
			}
		}
		if err := store.ImportBatch(ctx, sqlstore.ImportBatch{Conversations: convs, Messages: msgs, Labels: labels, ReadMarks: marks}); err != nil {
			return nil, err
		}
		done += len(convs) + len(msgs)
		if s.Progress != nil {
			s.Progress(done, total)
		}
	}
	return res, nil
}

// Agents0 is the first agent, or no one.
func (s seedSpec) Agents0() string {
	if len(s.Agents) == 0 {
		return ""
	}
	return s.Agents[0]
}

// seedReadMark draws the owner's read mark of c: resolved conversations are
// mostly read to the end, live ones less often; some were read part way,
// some never opened.
func seedReadMark(rng *mathrand.Rand, c *convo.Conversation, msgs []convo.Message) (convo.ReadMark, bool) {
	read := 0.5
	if c.Status == convo.StatusResolved {
		read = 0.9
	}
	at := len(msgs) - 1
	switch r := rng.Float64(); {
	case r < read:
	case r < read+(1-read)/3 && at > 0:
		at = rng.IntN(at)
	default:
		return convo.ReadMark{}, false
	}
	m := &msgs[at]
	return convo.ReadMark{AgentID: c.OwnerID, ConversationID: c.ID, MessageID: m.ID, TMMessage: m.TMCreate, TMUpdate: m.TMCreate}, true
}
