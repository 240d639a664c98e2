package convo

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Channel talks to one provider's API on behalf of accounts of one type.
type Channel interface {
	// Send hands an outgoing message to the conversation's peer. A failure
	// is a *ChannelError saying whether trying again may help.
	Send(ctx context.Context, d SendRequest) (SendResult, error)
	// DisplayName looks up the name of a peer by dialog id; "" when the
	// provider has none to give.
	DisplayName(ctx context.Context, a *Account, dialogID string) (string, error)
	// ReadHook checks a hook's signature with the account's secrets and
	// returns what it carries. A bad signature is an EUnauthorized *Error.
	ReadHook(a *Account, h HookRequest) (*Inbound, error)
	// VerifySubscription answers a provider's subscription handshake (a GET
	// on the hook URL) with the challenge to echo, or false.
	VerifySubscription(a *Account, query url.Values) (string, bool)
}

// Hook kinds: the account's main hook and the SMS status callback.
const (
	HookMessage = "message"
	HookStatus  = "status"
)

// HookRequest is one hook request as a provider sent it.
type HookRequest struct {
	Kind string
	// URL is the full public URL the provider called (signatures cover it).
	URL    string
	Header func(name string) string
	Body   []byte
}

// ErrBadSignature is the answer to a hook whose signature does not check out.
var ErrBadSignature = Errorf(EUnauthorized, "INVALID_SIGNATURE", "the request signature is missing or wrong")

// ErrBadPayload is the answer to a signed hook that cannot be read (its
// message keeps the providers' word, which clients have seen).
var ErrBadPayload = Errorf(EInvalid, "INVALID_PAYLOAD", "the webhook payload cannot be read")

// SendRequest is everything a channel needs to send one message.
type SendRequest struct {
	Account      *Account
	Conversation *Conversation
	Message      *Message
	// StatusCallback is where the provider reports later status (SMS).
	StatusCallback string
	// ReplyToken, when set, offers the conversation's reply token (LINE).
	ReplyToken ReplyTokenSource
	// Parts, when set, remembers the parts of a message that takes several
	// provider calls (WhatsApp's text, then each media) the provider has
	// accepted, so that a retry sends only the others.
	Parts PartLog
}

// SendResult is a provider's answer to a send: its id of the message, the
// status that answer means (done, or progressing when a later status
// report decides) and the provider's own word for it (ProviderAccepted…).
type SendResult struct {
	ProviderID     string
	Status         string
	ProviderStatus string
	// LineSendMethod is LineReply or LinePush on LINE, "" elsewhere.
	LineSendMethod string
}

// ChannelError is a provider failure. Temporary failures (network errors,
// 5xx, 429) may be retried; others are refusals.
type ChannelError struct {
	Temporary bool
	// HTTPStatus is the provider's status code, 0 for transport errors.
	HTTPStatus int
	// Detail is the provider's explanation, for the log.
	Detail string
	// Code and Message are the provider's own error code and text, shown on
	// the failed message; empty when the provider gave none.
	Code    string
	Message string
	// PeerOptedOut: the provider refuses because the peer opted out of the
	// account's messages (Twilio's 21610).
	PeerOptedOut bool
}

// MessageErrorOf is the reason shown on a message whose send failed with
// err: the provider's code and text when it gave them, convo's otherwise.
func MessageErrorOf(err error) *MessageError {
	var ce *ChannelError
	if !errors.As(err, &ce) {
		return &MessageError{Code: ReasonSendFailed, Message: "the message could not be sent"}
	}
	if ce.Code != "" || ce.Message != "" {
		return &MessageError{Code: ce.Code, Message: ce.Message}
	}
	switch {
	case ce.HTTPStatus == 0:
		return &MessageError{Code: ReasonProviderUnreachable, Message: "the provider could not be reached: " + ce.Detail}
	case ce.Temporary:
		return &MessageError{Code: ReasonProviderUnavailable, Message: fmt.Sprintf("the provider answered %d after every retry", ce.HTTPStatus)}
	}
	return &MessageError{Code: ReasonProviderRefused, Message: fmt.Sprintf("the provider refused the message (%d): %s", ce.HTTPStatus, ce.Detail)}
}

// Error implements the error interface.
func (e *ChannelError) Error() string {
	return fmt.Sprintf("provider error (status %d, temporary %t): %s", e.HTTPStatus, e.Temporary, e.Detail)
}

// Inbound is what one provider hook carries, normalised.
type Inbound struct {
	Messages []InboundMessage
	// Follows are peers that started following (LINE) without a message.
	Follows []InboundPeer
	// Statuses are provider reports about outgoing messages.
	Statuses []StatusReport
}

// InboundPeer is a peer as a hook identifies it.
type InboundPeer struct {
	DialogID string
	Peer     Address
	// SelfTarget, when set, is the business address the provider reports (WhatsApp display number).
	SelfTarget string
	// ReplyToken is the token LINE gives to answer this event once, for free.
	ReplyToken string
	// Consent is ConsentStop or ConsentStart when the message is an SMS
	// opt-out or opt-in keyword; "" otherwise.
	Consent string
}

// InboundMessage is one message received from a peer.
type InboundMessage struct {
	InboundPeer
	// ProviderID identifies the message at the provider; retries repeat it.
	ProviderID string
	Text       string
	Medias     []InboundMedia
	// Data is the structure of a message that is not plain text (a button
	// reply, a reaction…), stored as the message's data; nil for others.
	Data map[string]any
}

// InboundMedia is an attachment of an inbound message.
type InboundMedia struct {
	Type string
	URL  string
}

// StatusReport is a provider's later word on an outgoing message.
type StatusReport struct {
	ProviderID string
	// MessageID is convo's id of the message when the report carries it.
	MessageID string
	// Status is MessageDone, MessageFailed or MessageProgressing.
	Status string
	// ProviderStatus is the provider's own word (ProviderSent…); "" when
	// the report says nothing the message does not already show.
	ProviderStatus string
	// At is when the provider says it happened; zero for "when received".
	At Time
	// Error is the provider's reason for a failure.
	Error  *MessageError
	Detail string
}

// WithoutNUL removes NUL characters from every string in. PostgreSQL
// cannot store them in text, and a provider's message refused for one
// would be retried forever; SQLite stores the same, so both agree.
func (in *Inbound) WithoutNUL() {
	for i := range in.Messages {
		m := &in.Messages[i]
		m.InboundPeer.withoutNUL()
		m.ProviderID, m.Text = StripNUL(m.ProviderID), StripNUL(m.Text)
		for j := range m.Medias {
			m.Medias[j].Type, m.Medias[j].URL = StripNUL(m.Medias[j].Type), StripNUL(m.Medias[j].URL)
		}
	}
	for i := range in.Follows {
		in.Follows[i].withoutNUL()
	}
	for i := range in.Statuses {
		s := &in.Statuses[i]
		s.ProviderID, s.MessageID, s.Status, s.Detail = StripNUL(s.ProviderID), StripNUL(s.MessageID), StripNUL(s.Status), StripNUL(s.Detail)
		s.ProviderStatus = StripNUL(s.ProviderStatus)
		if s.Error != nil {
			s.Error = &MessageError{Code: StripNUL(s.Error.Code), Message: StripNUL(s.Error.Message)}
		}
	}
}

func (p *InboundPeer) withoutNUL() {
	p.DialogID, p.SelfTarget, p.ReplyToken = StripNUL(p.DialogID), StripNUL(p.SelfTarget), StripNUL(p.ReplyToken)
	p.Peer = p.Peer.WithoutNUL()
}

// WithoutNUL returns a with NUL characters removed from every field.
func (a Address) WithoutNUL() Address {
	return Address{Type: StripNUL(a.Type), Target: StripNUL(a.Target), TargetName: StripNUL(a.TargetName),
		Name: StripNUL(a.Name), Detail: StripNUL(a.Detail)}
}

// StripNUL returns s without NUL characters.
func StripNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "")
}
