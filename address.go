package convo

import "strings"

// Address types used by convo.
const (
	AddressTel      = "tel"
	AddressLine     = "line"
	AddressWhatsApp = "whatsapp"
	AddressEmail    = "email"
	AddressAgent    = "agent"
)

// Address is one party of a conversation or message. All five keys are always
// rendered, as strings.
type Address struct {
	Type       string `json:"type"`
	Target     string `json:"target"`
	TargetName string `json:"target_name"`
	Name       string `json:"name"`
	Detail     string `json:"detail"`
}

// Normalized returns a copy of a with its target normalised for its type:
// phone-like targets (tel, whatsapp) keep digits and one leading '+'.
func (a Address) Normalized() Address {
	a.Type = strings.TrimSpace(a.Type)
	a.Target = strings.TrimSpace(a.Target)
	if a.Type == AddressTel || a.Type == AddressWhatsApp {
		a.Target = NormalizePhone(a.Target)
	}
	return a
}

// NormalizePhone trims s and keeps its digits and one leading '+'.
func NormalizePhone(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// IsE164 reports whether s is '+' followed by 8 to 15 digits, the first not 0.
func IsE164(s string) bool {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
