package convo

import (
	"strconv"
	"strings"
	"time"
)

// Account types.
const (
	AccountSMS      = "sms"
	AccountLine     = "line"
	AccountWhatsApp = "whatsapp"
)

// Account is one configured channel endpoint of a customer.
type Account struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	Type       string `json:"type"`
	Name       string `json:"name"`
	Detail     string `json:"detail"`
	// Secret and Token are provider credentials; write-only.
	Secret        string       `json:"-"`
	Token         string       `json:"-"`
	ProviderData  ProviderData `json:"provider_data"`
	MessageFlowID string       `json:"message_flow_id"`
	// ResolvedInbound is what an inbound message does to a resolved
	// conversation: ResolvedReopen or ResolvedNew.
	ResolvedInbound string `json:"resolved_inbound"`
	// AutoResolveAfter resolves an open or pending conversation with no
	// message for this long; 0 is off.
	AutoResolveAfter Duration `json:"auto_resolve_after"`
	// HookURL is where the provider posts inbound traffic for this account.
	HookURL string `json:"hook_url"`
	// Configured is false while the account lacks a setting its provider
	// needs (see Missing); derived, never stored.
	Configured bool `json:"configured"`
	TMCreate   Time `json:"tm_create"`
	TMUpdate   Time `json:"tm_update"`
	TMDelete   Time `json:"tm_delete"`
}

// ProviderData is the per-type configuration of an account. AppSecret is
// write-only and never rendered.
type ProviderData struct {
	PhoneNumberID      string `json:"phone_number_id,omitempty"`
	DisplayPhoneNumber string `json:"display_phone_number,omitempty"`
	AccountSID         string `json:"account_sid,omitempty"`
	Number             string `json:"number,omitempty"`
	// BusinessAccountID is the WhatsApp Business Account (WABA) whose
	// message templates a WhatsApp account lists; optional.
	BusinessAccountID string `json:"business_account_id,omitempty"`
	AppSecret         string `json:"-"`
}

// IsDeleted reports whether the account was deleted.
func (a *Account) IsDeleted() bool { return !a.TMDelete.IsNever() }

// Missing lists the settings an account lacks before convo can send through
// it or check its provider's signatures. VoIPbin's clients create SMS and
// WhatsApp accounts without provider_data, so such an account is stored and
// stays not configured until an update completes it. A LINE account's two
// settings are both in VoIPbin's body and are required at creation.
func (a *Account) Missing() []string {
	var missing []string
	need := func(name, value string) {
		if value == "" {
			missing = append(missing, name)
		}
	}
	p := a.ProviderData
	switch a.Type {
	case AccountSMS:
		need("token", a.Token)
		need("provider_data.account_sid", p.AccountSID)
		need("provider_data.number", p.Number)
	case AccountWhatsApp:
		need("token", a.Token)
		need("secret", a.Secret)
		need("provider_data.phone_number_id", p.PhoneNumberID)
		need("provider_data.app_secret", p.AppSecret)
	case AccountLine:
		need("token", a.Token)
		need("secret", a.Secret)
	}
	return missing
}

// NotConfigured is the answer to a send through, or a hook for, an account
// that lacks a setting; nil when the account is configured.
func (a *Account) NotConfigured() error {
	missing := a.Missing()
	if len(missing) == 0 {
		return nil
	}
	return Errorf(EPrecondition, ReasonAccountNotConfigured, "the account is not configured: it needs %s", strings.Join(missing, ", "))
}

// Conversation types.
const (
	ConversationMessage  = "message"
	ConversationLine     = "line"
	ConversationWhatsApp = "whatsapp"
)

// Owner types.
const (
	OwnerNone  = ""
	OwnerAgent = "agent"
)

// Conversation is the thread between one business address and one peer.
type Conversation struct {
	ID         string  `json:"id"`
	CustomerID string  `json:"customer_id"`
	OwnerType  string  `json:"owner_type"`
	OwnerID    string  `json:"owner_id"`
	AccountID  string  `json:"account_id"`
	Name       string  `json:"name"`
	Detail     string  `json:"detail"`
	Type       string  `json:"type"`
	DialogID   string  `json:"dialog_id"`
	Self       Address `json:"self"`
	Peer       Address `json:"peer"`
	// Status is one of StatusOpen, StatusPending, StatusSnoozed, StatusResolved.
	Status string `json:"status"`
	// SnoozedUntil is when a snoozed conversation opens again; Never otherwise.
	SnoozedUntil Time `json:"snoozed_until"`
	// TMLastMessage and LastMessage describe the newest message, either
	// direction (Never and nil while there is none). They are written only
	// by Tx.TouchConversations, never by UpdateConversation.
	TMLastMessage Time         `json:"tm_last_message"`
	LastMessage   *LastMessage `json:"last_message"`
	TMCreate      Time         `json:"tm_create"`
	TMUpdate      Time         `json:"tm_update"`
	TMDelete      Time         `json:"tm_delete"`
	// TMActivity orders lists by last message: TMLastMessage, or TMCreate
	// while there is no message. Never rendered.
	TMActivity Time `json:"-"`
	// Labels are the names of its live labels, sorted (SortLabelNames);
	// nil until read with the conversation, which every rendering does.
	Labels []string `json:"labels"`
	// PeerOptedOut is true while the peer has opted out of the account's
	// messages (SMS STOP): sends are refused.
	PeerOptedOut bool `json:"peer_opted_out"`
	// UnreadCount is the number of incoming messages after the calling
	// agent's read mark; 0 for an access key and in events, which are
	// nobody's in particular.
	UnreadCount int `json:"unread_count"`
	// WhatsAppWindowExpires is when WhatsApp's customer service window
	// closes: the last incoming message's time plus WhatsAppWindow. Never
	// while no message came in, and on other types of conversation. Like
	// the last message it is written only by Tx.TouchConversations.
	WhatsAppWindowExpires Time `json:"whatsapp_window_expires"`
}

// Conversation statuses.
const (
	StatusOpen     = "open"
	StatusPending  = "pending"
	StatusSnoozed  = "snoozed"
	StatusResolved = "resolved"
)

// ValidConversationStatus reports whether s is a conversation status.
func ValidConversationStatus(s string) bool {
	switch s {
	case StatusOpen, StatusPending, StatusSnoozed, StatusResolved:
		return true
	}
	return false
}

// What an inbound message does to a resolved conversation (account setting
// resolved_inbound).
const (
	// ResolvedReopen opens the conversation again.
	ResolvedReopen = "reopen"
	// ResolvedNew leaves it resolved and starts a new conversation with the peer.
	ResolvedNew = "new"
)

// LastMessageText is how many characters (runes) of a message's text the
// conversation's last_message keeps.
const LastMessageText = 140

// LastMessage is the newest message of a conversation, in short.
type LastMessage struct {
	ID        string `json:"id"`
	Direction string `json:"direction"`
	Text      string `json:"text"`
	TMCreate  Time   `json:"tm_create"`
}

// Touch is a message that may be its conversation's newest.
type Touch struct {
	ConversationID string
	Message        LastMessage
	// WindowExpires, when set, is the WhatsApp window an incoming message
	// opens; it moves the conversation's forward only.
	WindowExpires Time
}

// TouchOf is the touch of m on its conversation, its text cut to
// LastMessageText runes.
func TouchOf(m *Message) Touch {
	text := m.Text
	if n := 0; len(text) > LastMessageText {
		for i := range text {
			if n == LastMessageText {
				text = text[:i]
				break
			}
			n++
		}
	}
	t := Touch{ConversationID: m.ConversationID, Message: LastMessage{ID: m.ID, Direction: m.Direction, Text: text, TMCreate: m.TMCreate}}
	if m.Direction == DirectionIncoming && m.ReferenceType == ConversationWhatsApp {
		t.WindowExpires = NewTime(m.TMCreate.Add(WhatsAppWindow))
	}
	return t
}

// IsDeleted reports whether the conversation was deleted.
func (c *Conversation) IsDeleted() bool { return !c.TMDelete.IsNever() }

// Message directions and statuses.
const (
	DirectionIncoming = "incoming"
	DirectionOutgoing = "outgoing"

	MessageProgressing = "progressing"
	MessageDone        = "done"
	MessageFailed      = "failed"
)

// Message is one message of a conversation, in either direction.
type Message struct {
	ID             string  `json:"id"`
	CustomerID     string  `json:"customer_id"`
	ConversationID string  `json:"conversation_id"`
	Direction      string  `json:"direction"`
	Status         string  `json:"status"`
	ReferenceType  string  `json:"reference_type"`
	ReferenceID    string  `json:"reference_id"`
	Source         Address `json:"source"`
	Destination    Address `json:"destination"`
	Text           string  `json:"text"`
	Medias         []Media `json:"medias"`
	// Sender is who sent an outgoing message; nil (null) for an incoming one,
	// whose peer is its Source, and for one sent before senders were kept.
	Sender *MessageSender `json:"sender"`
	// ProviderStatus is the provider's word on an outgoing message (accepted,
	// sent, delivered, read, failed); "" before it has said anything, and on
	// incoming messages. Status keeps VoIPbin's meaning beside it.
	ProviderStatus string `json:"provider_status"`
	TMDelivered    Time   `json:"tm_delivered"`
	TMRead         Time   `json:"tm_read"`
	// Error is why the message failed; nil unless it did.
	Error *MessageError `json:"error"`
	// Data is what a message holds besides text and medias: an incoming
	// reply's or reaction's structure, an outgoing template; nil otherwise.
	Data     map[string]any `json:"data"`
	TMCreate Time           `json:"tm_create"`
	TMUpdate Time           `json:"tm_update"`
	TMDelete Time           `json:"tm_delete"`
	// AccountID is the account the message went through.
	AccountID string `json:"-"`
	// ProviderID is the provider's id of the message (LINE message id, wamid,
	// MessageSid); with AccountID it identifies a provider retry. Empty when unknown.
	ProviderID string `json:"-"`
	// LineSendMethod is how LINE was asked to deliver an outgoing LINE
	// message, LineReply or LinePush; "" before it was sent and elsewhere.
	LineSendMethod string `json:"line_send_method"`
}

// Provider statuses of outgoing messages, in the order they happen.
const (
	ProviderAccepted  = "accepted"
	ProviderSent      = "sent"
	ProviderDelivered = "delivered"
	ProviderRead      = "read"
	ProviderFailed    = "failed"
)

// ProviderStatusRank orders provider statuses so that one only moves
// forward: reports arrive out of order (a read before its delivered), and
// a failure is final. Unknown statuses rank below all.
func ProviderStatusRank(s string) int {
	switch s {
	case ProviderAccepted:
		return 1
	case ProviderSent:
		return 2
	case ProviderDelivered:
		return 3
	case ProviderRead:
		return 4
	case ProviderFailed:
		return 5
	}
	return 0
}

// MessageError is why a message failed: the provider's own code and text
// (Meta's 131047, Twilio's 21610), or convo's reason when no provider said.
type MessageError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Sender types of outgoing messages.
const (
	SenderAgent     = "agent"
	SenderFlow      = "flow"
	SenderAccessKey = "accesskey"
	SenderSystem    = "system"
)

// MessageSender is who sent an outgoing message: the agent whose request
// sent it, the activeflow whose conversation_send did (ID: the activeflow),
// the access key whose request did, or convo itself (SenderSystem, NilID).
type MessageSender struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Media types.
const (
	MediaImage    = "image"
	MediaVideo    = "video"
	MediaAudio    = "audio"
	MediaFile     = "file"
	MediaLocation = "location"
	MediaSticker  = "sticker"
)

// Media is an attachment of a message; Filename holds its URL (the
// provider's for an inbound medium, the sender's for a URL sent), or the
// file's name for an upload. Media convo holds carry Status and URL.
type Media struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	Type       string `json:"type"`
	Filename   string `json:"filename"`
	// Status is MediaPending, MediaStored or MediaFailed for a medium convo
	// downloads or holds; "" for one it only links to (a location, a URL).
	Status string `json:"status,omitempty"`
	// URL is convo's stable URL of the medium (GET /v1.0/medias/{id}).
	URL         string        `json:"url,omitempty"`
	ContentType string        `json:"content_type,omitempty"`
	Size        int64         `json:"size,omitempty"`
	Error       *MessageError `json:"error,omitempty"`
	TMCreate    Time          `json:"tm_create"`
	TMUpdate    Time          `json:"tm_update"`
	TMDelete    Time          `json:"tm_delete"`
}

// MessageStatusRank orders statuses so that a status only moves forward:
// progressing, then done (accepted), then failed, because providers may
// report a failure after accepting a message but never the reverse.
func MessageStatusRank(s string) int {
	switch s {
	case MessageProgressing:
		return 0
	case MessageDone:
		return 1
	case MessageFailed:
		return 2
	}
	return -1
}

// Duration is a span of time written on the wire as a duration string
// ("48h", "90m"); zero is "" (not set).
type Duration time.Duration

// String renders d in its shortest whole unit: hours, minutes or seconds.
func (d Duration) String() string {
	td := time.Duration(d)
	switch {
	case td <= 0:
		return ""
	case td%time.Hour == 0:
		return strconv.FormatInt(int64(td/time.Hour), 10) + "h"
	case td%time.Minute == 0:
		return strconv.FormatInt(int64(td/time.Minute), 10) + "m"
	}
	return strconv.FormatInt(int64(td/time.Second), 10) + "s"
}

// MarshalJSON renders d as a JSON string.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// Bounds of auto_resolve_after.
const (
	MinAutoResolve = time.Minute
	MaxAutoResolve = 365 * 24 * time.Hour
)

// ParseAutoResolve reads an auto_resolve_after setting: "" is off,
// otherwise a Go duration ("48h", "90m") of whole seconds within bounds.
func ParseAutoResolve(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < MinAutoResolve || d > MaxAutoResolve || d%time.Second != 0 {
		return 0, Invalid(ReasonInvalidAutoResolve, "auto_resolve_after must be a duration such as \"48h\" or \"90m\", from 1m to 8760h, or \"\" for off")
	}
	return Duration(d), nil
}
