package service

import (
	"testing"
	"time"

	"github.com/convohq/convo"
)

// BenchmarkMessageEvent builds the webhook body of a message and signs it,
// as each delivery of a conversation_message_created event does.
func BenchmarkMessageEvent(b *testing.B) {
	now := convo.NewTime(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	msg := &convo.Message{ID: convo.NewID(), CustomerID: convo.NewID(), ConversationID: convo.NewID(),
		Direction: convo.DirectionIncoming, Status: convo.MessageDone, ReferenceType: convo.ConversationLine, ReferenceID: convo.NewID(),
		Source:      convo.Address{Type: convo.AddressLine, Target: "U4af4980629e4a2b7f1f6a4f1e6a4f1e6", TargetName: "Ada Lovelace"},
		Destination: convo.Address{Type: convo.AddressLine, TargetName: "Support"},
		Text:        "Hello, is my order on its way?", Medias: []convo.Media{}, TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
	b.ReportAllocs()
	for b.Loop() {
		payload, err := convo.EventPayload(convo.EventMessageCreated, msg)
		if err != nil {
			b.Fatal(err)
		}
		SignWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", msg.ID, now.Time, payload)
	}
}
