package convo

// Maximum lengths, in bytes, of what convo stores from API input; longer
// input is refused with 400 TOO_LONG naming the field (the README lists
// them). Provider input is bounded by the 1 MiB body of a hook instead.
const (
	// MaxText bounds free text: names, details, a customer's address, a
	// message's text, a flow's name.
	MaxText = 4096
	// MaxUsername bounds an agent's username.
	MaxUsername = 255
	// MaxEmail is the longest email address SMTP allows.
	MaxEmail = 254
	// MaxPhone bounds a phone number as a person writes it.
	MaxPhone = 64
	// MaxURL bounds a URL: a webhook, a media file.
	MaxURL = 2048
	// MaxSecret bounds a signing secret or verify token.
	MaxSecret = 512
	// MaxToken bounds a provider's access token (Meta's run to a few hundred bytes).
	MaxToken = 4096
	// MaxProviderRef bounds a provider's identifier: an account SID, a phone number id.
	MaxProviderRef = 128
	// MaxAddressField bounds each field of an address (type, target, names, detail).
	MaxAddressField = 1024
	// MaxTagIDs and MaxAddresses bound an agent's lists.
	MaxTagIDs    = 100
	MaxAddresses = 20
	// MaxFlowActions bounds a flow's actions, and MaxFlowActionsJSON the
	// size of all of them written as JSON.
	MaxFlowActions     = 1000
	MaxFlowActionsJSON = 256 << 10
)

// ReasonTooLong is the reason of input beyond its maximum length.
const ReasonTooLong = "TOO_LONG"

// CheckLen refuses a value of field longer than max bytes.
func CheckLen(field, v string, max int) error {
	if len(v) > max {
		return Invalid(ReasonTooLong, "%s is longer than %d bytes", field, max)
	}
	return nil
}

// CheckAddressLen refuses an address (named field) with a field too long.
func CheckAddressLen(field string, a Address) error {
	for _, f := range []struct{ name, v string }{{"type", a.Type}, {"target", a.Target}, {"target_name", a.TargetName}, {"name", a.Name}, {"detail", a.Detail}} {
		if err := CheckLen(field+"."+f.name, f.v, MaxAddressField); err != nil {
			return err
		}
	}
	return nil
}
