package convo

import (
	"context"
	"time"
)

// WhatsAppWindow is how long after a customer's last message WhatsApp lets
// a business send free-form messages (the customer service window);
// afterwards only an approved template may be sent.
const WhatsAppWindow = 24 * time.Hour

// ReasonWhatsAppWindowClosed refuses a free-form send on a WhatsApp
// conversation whose customer service window is closed.
const ReasonWhatsAppWindowClosed = "WHATSAPP_WINDOW_CLOSED"

// WindowClosed is the refusal of a free-form send on conversation c at now,
// or nil when c is not WhatsApp's or its window is open. Meta would accept
// the send and fail it later (error 131047): refusing at once tells the
// sender while they can still pick a template.
func WindowClosed(c *Conversation, now Time) error {
	if c.Type != ConversationWhatsApp {
		return nil
	}
	exp := c.WhatsAppWindowExpires
	switch {
	case exp.IsNever():
		return Errorf(EPrecondition, ReasonWhatsAppWindowClosed, "the WhatsApp customer service window is closed: the customer has sent no message yet; send a template")
	case !now.Before(exp.Time):
		return Errorf(EPrecondition, ReasonWhatsAppWindowClosed, "the WhatsApp customer service window closed at %s UTC (24 hours after the customer's last message); send a template", exp.String())
	}
	return nil
}

// PartLog remembers which parts of one outgoing message the provider has
// accepted, and the provider's id of each.
type PartLog interface {
	// Accepted returns the provider's id of part i if it was accepted.
	Accepted(ctx context.Context, i int) (providerID string, ok bool, err error)
	// Accept durably records that the provider accepted part i.
	Accept(ctx context.Context, i int, providerID string) error
}

// Template is a message template in Meta's shape, as sent: its name, its
// language code and the components that fill its parameters.
type Template struct {
	Name       string           `json:"name"`
	Language   TemplateLanguage `json:"language"`
	Components []map[string]any `json:"components,omitempty"`
}

// TemplateLanguage is a template's language as Meta names it ({"code": "en_US"}).
type TemplateLanguage struct {
	Code string `json:"code"`
}

// MessageTemplate is one approved template of a business, as Meta lists it.
type MessageTemplate struct {
	ID         string           `json:"id"`
	Name       string           `json:"name"`
	Language   string           `json:"language"`
	Status     string           `json:"status"`
	Category   string           `json:"category"`
	Components []map[string]any `json:"components"`
}

// TemplateLister lists the approved message templates of an account's business.
type TemplateLister interface {
	ListTemplates(ctx context.Context, a *Account) ([]MessageTemplate, error)
}
