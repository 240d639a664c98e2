package convo

import (
	"errors"
	"strings"
	"unicode"
)

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
// a phone-like target (tel, whatsapp) is written as ParsePhone writes it,
// and left as given (trimmed) when it is no phone number, for the caller's
// validation to refuse.
func (a Address) Normalized() Address {
	a.Type = strings.TrimSpace(a.Type)
	a.Target = strings.TrimSpace(a.Target)
	if a.Type == AddressTel || a.Type == AddressWhatsApp {
		if n, err := ParsePhone(a.Target); err == nil {
			a.Target = n
		}
	}
	return a
}

// ErrNotPhone is the error of ParsePhone.
var ErrNotPhone = errors.New("not a phone number")

// ParsePhone writes a phone number as ASCII digits with an optional leading
// '+'. It drops the formatting people type (spaces, '-', '.', '(' and ')'),
// reads any Unicode decimal digit as its ASCII digit (fullwidth '０' is 0)
// and refuses anything else, so that a number is never silently shortened
// into another person's.
func ParsePhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case (r == '+' || r == '＋') && i == 0:
			b.WriteByte('+')
		case r == '-' || r == '.' || r == '(' || r == ')' || unicode.IsSpace(r) || r == 0:
			// NUL too: API input holding one is refused before, and a
			// provider's is stored with it removed.
		default:
			d, ok := decimalDigit(r)
			if !ok {
				return "", ErrNotPhone
			}
			b.WriteByte('0' + d)
		}
	}
	if n := b.String(); n != "" && n != "+" {
		return n, nil
	}
	return "", ErrNotPhone
}

// decimalDigit returns the value of a Unicode decimal digit (category Nd).
// Unicode keeps every script's digits 0 to 9 contiguous and in order, and
// each range of the Nd table starts at a zero, so the value is the offset
// from the range's start modulo 10.
func decimalDigit(r rune) (byte, bool) {
	for _, rg := range unicode.Nd.R16 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return byte((r - rune(rg.Lo)) % 10), true
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return byte((r - rune(rg.Lo)) % 10), true
		}
	}
	return 0, false
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
