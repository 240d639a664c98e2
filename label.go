package convo

import (
	"regexp"
	"slices"
	"strings"
)

// Label is a name a customer's agents put on conversations to sort their
// work (billing, vip, ...). A name is unique, ignoring case, among the
// customer's live labels; a conversation holds labels by id, so a renamed
// label shows its new name everywhere and a deleted one leaves them all.
type Label struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	Name       string `json:"name"`
	// Color is how an inbox shows the label, "#rrggbb" in lower case.
	Color    string `json:"color"`
	Detail   string `json:"detail"`
	TMCreate Time   `json:"tm_create"`
	TMUpdate Time   `json:"tm_update"`
	TMDelete Time   `json:"tm_delete"`
}

const (
	// MaxLabelName bounds a label's name, in bytes: a word or two on a chip.
	MaxLabelName = 64
	// MaxConversationLabels bounds the labels of one conversation.
	MaxConversationLabels = 50
	// DefaultLabelColor is the color of a label created without one: a
	// neutral grey that reads on light and dark themes.
	DefaultLabelColor = "#808080"
)

var labelColor = regexp.MustCompile(`^#[0-9a-f]{6}$`)

// NormalizeLabelColor returns c as stored ("#rrggbb", lower case), or ok
// false when c is not such a color.
func NormalizeLabelColor(c string) (string, bool) {
	c = strings.ToLower(strings.TrimSpace(c))
	return c, labelColor.MatchString(c)
}

// CheckLabelName refuses a label name (already trimmed) that is empty,
// too long, or holds a comma: names travel comma-free so that a client
// may join them, and as repeated query parameters.
func CheckLabelName(field, name string) error {
	switch {
	case name == "":
		return Invalid(ReasonInvalidLabelName, "%s must not be empty", field)
	case strings.Contains(name, ","):
		return Invalid(ReasonInvalidLabelName, "%s must not contain a comma", field)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return Invalid(ReasonInvalidLabelName, "%s must not contain control characters", field)
	}
	return CheckLen(field, name, MaxLabelName)
}

// SortLabelNames sorts names as a conversation renders them: ignoring
// case, then by bytes, so the order is stable.
func SortLabelNames(names []string) {
	slices.SortFunc(names, func(a, b string) int {
		if c := strings.Compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
}

// LabelListParams selects the live labels of a customer.
type LabelListParams struct {
	CustomerID string
	Page
}

// ReadMark is how far an agent has read a conversation: up to and
// including MessageID, which sits at TMMessage (its tm_create) in the
// conversation's order of messages.
type ReadMark struct {
	AgentID        string
	ConversationID string
	MessageID      string
	TMMessage      Time
	TMUpdate       Time
}

// ReadState is an agent's read state of a conversation as the API and the
// agent's realtime streams show it: its mark and what is unread after it.
type ReadState struct {
	ConversationID string `json:"conversation_id"`
	AgentID        string `json:"agent_id"`
	// MessageID is the last message read; the nil UUID when none is.
	MessageID   string `json:"message_id"`
	UnreadCount int    `json:"unread_count"`
}
