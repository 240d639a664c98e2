package convo

import (
	"context"
	"strings"
	"time"
)

// What an inbound SMS says about the peer's consent (InboundPeer.Consent).
const (
	// ConsentStop: the peer asked to receive no more messages.
	ConsentStop = "stop"
	// ConsentStart: the peer asked to receive messages again.
	ConsentStart = "start"
)

// ReasonPeerOptedOut (EPrecondition) refuses a send to a peer who opted
// out of the account's messages.
const ReasonPeerOptedOut = "PEER_OPTED_OUT"

// SMSConsentKeyword reads the industry's opt-out and opt-in keywords (CTIA;
// the ones Twilio honours on long codes) in a whole message, trimmed and
// in any case: ConsentStop, ConsentStart or "" for any other text.
func SMSConsentKeyword(text string) string {
	switch strings.ToUpper(strings.TrimSpace(text)) {
	case "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT":
		return ConsentStop
	case "START", "YES", "UNSTOP":
		return ConsentStart
	}
	return ""
}

// PeerKey names a peer of an account: the dialog id of their conversations.
type PeerKey struct{ AccountID, DialogID string }

// ErrPeerOptedOut is the answer to a send to a peer who opted out.
func ErrPeerOptedOut() error {
	return Errorf(EPrecondition, ReasonPeerOptedOut, "the peer opted out of this account's messages (they sent STOP); they must send START to receive messages again")
}

// ReplyToken is the newest reply token LINE gave for a conversation, and
// when convo received it.
type ReplyToken struct {
	ConversationID string
	Token          string
	TMReceive      Time
}

// ReplyTokenSource takes a conversation's reply token if it arrived within
// maxAge, once: a second call, or a concurrent one, gets "".
type ReplyTokenSource func(ctx context.Context, maxAge time.Duration) (string, error)

// How LINE was asked to deliver an outgoing message (Message.LineSendMethod).
const (
	// LineReply: with the reply token of the peer's event; free of quota.
	LineReply = "reply"
	// LinePush: by the push API; counts against the monthly quota.
	LinePush = "push"
)

// Quota is a channel's monthly message allowance and what is used of it
// (LINE's quota and consumption endpoints).
type Quota struct {
	AccountID string `json:"account_id"`
	// Type is "limited" (Value is the month's limit) or "none" (no limit;
	// Value is null).
	Type       string `json:"type"`
	Value      *int64 `json:"value"`
	TotalUsage int64  `json:"total_usage"`
}

// QuotaReader is a channel that can tell an account's quota.
type QuotaReader interface {
	Quota(ctx context.Context, a *Account) (*Quota, error)
}
