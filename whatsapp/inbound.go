package whatsapp

import (
	"fmt"
	"strings"
)

// hookMessage is one message of a hook, of any type Meta sends.
type hookMessage struct {
	ID   string `json:"id"`
	From string `json:"from"`
	Type string `json:"type"`
	Text struct {
		Body string `json:"body"`
	} `json:"text"`
	Image    *media `json:"image"`
	Video    *media `json:"video"`
	Audio    *media `json:"audio"`
	Document *media `json:"document"`
	Sticker  *media `json:"sticker"`
	Location *struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
		Name      string  `json:"name"`
		Address   string  `json:"address"`
	} `json:"location"`
	// Button is a template's quick reply button.
	Button *struct {
		Text    string `json:"text"`
		Payload string `json:"payload"`
	} `json:"button"`
	Interactive *struct {
		Type        string `json:"type"`
		ButtonReply *reply `json:"button_reply"`
		ListReply   *reply `json:"list_reply"`
	} `json:"interactive"`
	Reaction *struct {
		MessageID string `json:"message_id"`
		// Emoji is absent when the user takes a reaction back.
		Emoji string `json:"emoji"`
	} `json:"reaction"`
	// Contacts are Meta's contact cards, kept as they come.
	Contacts []map[string]any `json:"contacts"`
	Order    *struct {
		CatalogID    string           `json:"catalog_id"`
		Text         string           `json:"text"`
		ProductItems []map[string]any `json:"product_items"`
	} `json:"order"`
	Errors []map[string]any `json:"errors"`
}

// reply is the choice of an interactive button or list row.
type reply struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

// structured reads a message that is neither text, media nor location: its
// readable text and its structure for the message's data. Types convo does
// not know are stored as unsupported, so that a message never goes missing.
func (m *hookMessage) structured() (string, map[string]any) {
	switch {
	case m.Interactive != nil && m.Interactive.ButtonReply != nil:
		r := m.Interactive.ButtonReply
		return r.Title, map[string]any{"type": "button_reply", "reply_id": r.ID, "title": r.Title}
	case m.Interactive != nil && m.Interactive.ListReply != nil:
		r := m.Interactive.ListReply
		return r.Title, map[string]any{"type": "list_reply", "reply_id": r.ID, "title": r.Title, "description": r.Description}
	case m.Button != nil:
		return m.Button.Text, map[string]any{"type": "button", "reply_id": m.Button.Payload, "title": m.Button.Text}
	case m.Reaction != nil:
		// The service names the message reacted to (see ReactionText).
		return "", map[string]any{"type": "reaction", "emoji": m.Reaction.Emoji, "provider_message_id": m.Reaction.MessageID}
	case m.Type == "contacts" && len(m.Contacts) > 0:
		var names []string
		cards := make([]any, 0, len(m.Contacts))
		for _, c := range m.Contacts {
			n, _ := c["name"].(map[string]any)
			name, _ := n["formatted_name"].(string)
			phones, _ := c["phones"].([]any)
			for _, p := range phones {
				if p, ok := p.(map[string]any); ok {
					phone, _ := p["phone"].(string)
					name = strings.TrimSpace(name + " " + phone)
				}
			}
			names = append(names, name)
			cards = append(cards, c)
		}
		return "Contact: " + strings.Join(names, ", "), map[string]any{"type": "contacts", "contacts": cards}
	case m.Order != nil:
		return orderText(m.Order.ProductItems, m.Order.Text), map[string]any{"type": "order", "catalog_id": m.Order.CatalogID, "text": m.Order.Text, "product_items": m.Order.ProductItems}
	case m.Type == "text" || m.Type == "":
		return "", nil
	}
	errors := make([]any, 0, len(m.Errors))
	for _, e := range m.Errors {
		errors = append(errors, e)
	}
	return "unsupported message", map[string]any{"type": "unsupported", "message_type": m.Type, "errors": errors}
}

// orderText sums an order up: each product's quantity and id, the total
// when every item is priced in one currency, and the user's note.
func orderText(items []map[string]any, note string) string {
	parts := make([]string, 0, len(items))
	total, currency, priced := 0.0, "", true
	for _, it := range items {
		q, _ := it["quantity"].(float64)
		parts = append(parts, fmt.Sprintf("%g × %v", q, it["product_retailer_id"]))
		price, ok := it["item_price"].(float64)
		cur, _ := it["currency"].(string)
		if !ok || (currency != "" && cur != currency) {
			priced = false
		}
		total, currency = total+q*price, cur
	}
	text := fmt.Sprintf("Order of %d product(s): %s", len(items), strings.Join(parts, ", "))
	if priced && len(items) > 0 {
		text += fmt.Sprintf("; total %.2f %s", total, currency)
	}
	if note != "" {
		text += " — " + note
	}
	return text
}
