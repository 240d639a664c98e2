package service

import (
	"context"

	"github.com/convohq/convo"
)

// partLog is a message's record of the parts its provider accepted, for a
// channel that sends a message in several calls (WhatsApp: the text, then
// each media): a retry after a failed part sends only the parts not yet
// accepted, so the peer never gets the text twice.
type partLog struct {
	s         *Service
	messageID string
	accepted  map[int]string // read on first use
}

func (s *Service) partLog(messageID string) *partLog {
	return &partLog{s: s, messageID: messageID}
}

func (p *partLog) Accepted(ctx context.Context, i int) (string, bool, error) {
	if p.accepted == nil {
		err := p.s.store.View(ctx, func(tx convo.Tx) (err error) {
			p.accepted, err = tx.MessageParts(ctx, p.messageID)
			return err
		})
		if err != nil {
			return "", false, err
		}
	}
	id, ok := p.accepted[i]
	return id, ok, nil
}

// Accept records a part the provider accepted before the next is sent; it
// waits out a database outage, since sending the part again would repeat
// it, as recording a whole send does (runSend).
func (p *partLog) Accept(ctx context.Context, i int, providerID string) error {
	providerID = convo.StripNUL(providerID)
	err := p.s.outage.Retry(p.s.jobs.Stopping(), "record a sent part", func() error {
		return p.s.store.Update(ctx, func(tx convo.Tx) error {
			return tx.RecordMessagePart(ctx, p.messageID, i, providerID, p.s.now())
		})
	})
	if err == nil && p.accepted != nil {
		p.accepted[i] = providerID
	}
	return err
}
