package webhook

import (
	"testing"
	"time"

	"encoding/base64"
	"net/http"

	"github.com/convohq/convo"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
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
		Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", msg.ID, now.Time, payload)
	}
}

func TestSignWebhookVerifies(t *testing.T) {
	body := []byte(`{"type":"conversation_created","data":{"id":"x"}}`)
	at := time.Now()
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, c := range []struct {
		secret string
		key    []byte
	}{
		{"plain text secret", []byte("plain text secret")},
		{"whsec_" + base64.StdEncoding.EncodeToString(key), key},
	} {
		h := http.Header{}
		for k, v := range Sign(c.secret, "evt-1", at, body) {
			h.Set(k, v)
		}
		wh, _ := standardwebhooks.NewWebhookRaw(c.key)
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("secret %q: %v", c.secret, err)
		}
		if h.Get("webhook-id") != "evt-1" {
			t.Errorf("secret %q: webhook-id %q", c.secret, h.Get("webhook-id"))
		}
	}
}
