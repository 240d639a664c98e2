package service

// isTemplate reports whether a message's data is a WhatsApp template, the
// one kind of message that may be sent outside the customer service window.
func isTemplate(data map[string]any) bool {
	return data != nil && data["type"] == "template"
}
