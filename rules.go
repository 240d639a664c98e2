package convo

import (
	"regexp"
	"slices"
	"strings"
)

// ConversationType returns the conversation type of an account type.
func ConversationType(accountType string) string {
	switch accountType {
	case AccountSMS:
		return ConversationMessage
	case AccountLine:
		return ConversationLine
	case AccountWhatsApp:
		return ConversationWhatsApp
	}
	return ""
}

// PeerAddressType returns the address type of peers reached through an account type.
func PeerAddressType(accountType string) string {
	switch accountType {
	case AccountSMS:
		return AddressTel
	case AccountLine:
		return AddressLine
	case AccountWhatsApp:
		return AddressWhatsApp
	}
	return ""
}

// ChannelLabel is the human name of an account type used in automatic titles.
func ChannelLabel(accountType string) string {
	switch accountType {
	case AccountSMS:
		return "SMS"
	case AccountLine:
		return "LINE"
	case AccountWhatsApp:
		return "WhatsApp"
	}
	return accountType
}

// SelfAddress is the business's own address on an account.
func SelfAddress(a *Account) Address {
	switch a.Type {
	case AccountLine:
		return Address{Type: AddressLine, TargetName: "Me"}
	case AccountWhatsApp:
		target, _ := ParsePhone(a.ProviderData.DisplayPhoneNumber)
		if target != "" && target[0] != '+' {
			target = "+" + target
		}
		return Address{Type: AddressWhatsApp, Target: target}
	case AccountSMS:
		return Address{Type: AddressTel, Target: a.ProviderData.Number}
	}
	return Address{}
}

var lineIDPattern = regexp.MustCompile(`^[UCR][0-9a-f]{32}$`)

// PeerForAccount validates and normalises a peer address for an account and
// returns it with the conversation's dialog id.
func PeerForAccount(accountType string, peer Address) (Address, string, error) {
	if peer.Type == "" {
		peer.Type = PeerAddressType(accountType)
	}
	peer = peer.Normalized()
	if peer.Type != PeerAddressType(accountType) {
		return peer, "", Invalid("INVALID_PEER", "peer.type must be %q for a %s account", PeerAddressType(accountType), accountType)
	}
	if peer.Type == AddressTel || peer.Type == AddressWhatsApp {
		if _, err := ParsePhone(peer.Target); err != nil {
			return peer, "", Invalid("INVALID_PEER", "peer.target must be a phone number: digits, a leading + and spaces, -, ., ( or ) only")
		}
	}
	switch accountType {
	case AccountSMS:
		if !IsE164(peer.Target) {
			return peer, "", Invalid("INVALID_PEER", "peer.target must be an E.164 phone number like +14155550100")
		}
		return peer, peer.Target, nil
	case AccountWhatsApp:
		peer.Target = strings.TrimPrefix(peer.Target, "+")
		if len(peer.Target) < 8 || len(peer.Target) > 15 {
			return peer, "", Invalid("INVALID_PEER", "peer.target must be a WhatsApp id (the phone number's digits)")
		}
		return peer, peer.Target, nil
	case AccountLine:
		if !lineIDPattern.MatchString(peer.Target) {
			return peer, "", Invalid("INVALID_PEER", "peer.target must be a LINE userId, groupId or roomId")
		}
		return peer, peer.Target, nil
	}
	return peer, "", Invalid("INVALID_ACCOUNT_TYPE", "unknown account type %q", accountType)
}

// AutoTitle returns the automatic name and detail of a conversation with peer
// on an account type: "<Label> · <peer>" and "<Label> conversation".
func AutoTitle(accountType string, peer Address) (name, detail string) {
	label := ChannelLabel(accountType)
	return label + " · " + PeerLabel(peer), label + " conversation"
}

// PeerLabel names a peer for people: "name (number)" when both are known and
// the target is a phone number, else the name, else the target, else Unknown.
// A LINE userId is never shown beside a name.
func PeerLabel(peer Address) string {
	name, target := strings.TrimSpace(peer.TargetName), strings.TrimSpace(peer.Target)
	readable := peer.Type == AddressTel || peer.Type == AddressWhatsApp
	switch {
	case name != "" && target != "" && readable:
		return name + " (" + target + ")"
	case name != "":
		return name
	case target != "":
		return target
	}
	return "Unknown"
}

// endpointTypes are the address types an agent is reached at: convo's
// channels and those VoIPbin's agent addresses use.
var endpointTypes = []string{AddressTel, AddressWhatsApp, AddressLine, AddressEmail, AddressAgent, "sip", "extension", "conference", "web_session"}

// CheckEndpoint validates and normalises an address an agent is reached at
// (named field, such as "addresses[0]"): a known type, a target, a phone
// number where the type is one, and no field too long.
func CheckEndpoint(field string, a Address) (Address, error) {
	if err := CheckAddressLen(field, a); err != nil {
		return a, err
	}
	a = a.Normalized()
	if !slices.Contains(endpointTypes, a.Type) {
		return a, Invalid("INVALID_ADDRESS", "%s.type must be one of %s", field, strings.Join(endpointTypes, ", "))
	}
	if a.Target == "" {
		return a, Invalid("INVALID_ADDRESS", "%s.target is required", field)
	}
	if a.Type == AddressTel || a.Type == AddressWhatsApp {
		if _, err := ParsePhone(a.Target); err != nil {
			return a, Invalid("INVALID_ADDRESS", "%s.target must be a phone number: digits, a leading + and spaces, -, ., ( or ) only", field)
		}
	}
	return a, nil
}
