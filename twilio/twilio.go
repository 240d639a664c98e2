// Package twilio speaks the Twilio Programmable Messaging API, the de-facto
// standard of SMS/MMS providers: request signatures, the hooks of inbound
// messages and status reports, and sending messages.
package twilio

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/providerhttp"
)

// DefaultBaseURL is the Twilio API host.
const DefaultBaseURL = "https://api.twilio.com"

// Signature computes X-Twilio-Signature: base64(HMAC-SHA1(auth token, the
// full URL followed by every POST field name and value, sorted by name)).
func Signature(authToken, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vals := append([]string(nil), form[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ValidSignature checks header against the signature of fullURL and form in
// constant time. Twilio signs some callbacks over the URL without its port
// and others with it, so, like Twilio's own validators, the URL is also
// tried without its port, or with the scheme's default port when it has none.
func ValidSignature(authToken, fullURL string, form url.Values, header string) bool {
	if authToken == "" || header == "" {
		return false
	}
	for _, u := range portVariants(fullURL) {
		if hmac.Equal([]byte(Signature(authToken, u, form)), []byte(header)) {
			return true
		}
	}
	return false
}

// portVariants returns fullURL as given, then without its port or, when it
// has none, with the default port of its scheme.
func portVariants(fullURL string) []string {
	u, err := url.Parse(fullURL)
	if err != nil || u.Host == "" {
		return []string{fullURL}
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	switch {
	case u.Port() != "":
	case u.Scheme == "https":
		host = net.JoinHostPort(u.Hostname(), "443")
	default:
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	// Replace only the authority, so the rest of the URL stays byte for byte as signed.
	prefix := u.Scheme + "://"
	if u.User != nil {
		prefix += u.User.String() + "@"
	}
	if !strings.HasPrefix(fullURL, prefix+u.Host) {
		return []string{fullURL}
	}
	return []string{fullURL, prefix + host + fullURL[len(prefix+u.Host):]}
}

// ErrBadSender answers a signed message whose From is no phone number:
// storing it under a number made of its digits alone could file it under
// another person's conversation.
var ErrBadSender = convo.Invalid("INVALID_PEER", "From is not a phone number")

// ParseMessage reads the hook of an inbound message.
func ParseMessage(form url.Values) (*convo.Inbound, error) {
	from, err := convo.ParsePhone(form.Get("From"))
	if err != nil {
		return nil, ErrBadSender
	}
	m := convo.InboundMessage{
		ProviderID: form.Get("MessageSid"),
		Text:       form.Get("Body"),
		InboundPeer: convo.InboundPeer{
			DialogID: from,
			Peer:     convo.Address{Type: convo.AddressTel, Target: from},
			Consent:  consentOf(form.Get("Body"), form.Get("OptOutType")),
		},
	}
	n, _ := strconv.Atoi(form.Get("NumMedia"))
	for i := 0; i < n && i < 10; i++ {
		u := form.Get("MediaUrl" + strconv.Itoa(i))
		if u == "" {
			continue
		}
		m.Medias = append(m.Medias, convo.InboundMedia{Type: mediaType(form.Get("MediaContentType" + strconv.Itoa(i))), URL: u})
	}
	if m.ProviderID == "" {
		return &convo.Inbound{}, nil
	}
	return &convo.Inbound{Messages: []convo.InboundMessage{m}}, nil
}

// mediaType maps a MIME type to a media type.
func mediaType(contentType string) string {
	major, _, _ := strings.Cut(contentType, "/")
	switch major {
	case "image", "video", "audio":
		return major
	}
	return convo.MediaFile
}

// ParseStatus reads a status callback. Twilio's words map onto convo's
// provider statuses: queued, accepted, scheduled and sending are accepted;
// undelivered and canceled are failed, with the ErrorCode Twilio gives.
func ParseStatus(form url.Values) *convo.Inbound {
	r := convo.StatusReport{ProviderID: form.Get("MessageSid"), Detail: form.Get("ErrorCode")}
	switch st := form.Get("MessageStatus"); st {
	case "queued", "accepted", "scheduled", "sending":
		r.Status, r.ProviderStatus = convo.MessageProgressing, convo.ProviderAccepted
	case "sent", "delivered", "read":
		r.Status, r.ProviderStatus = convo.MessageDone, st
	case "failed", "undelivered", "canceled":
		r.Status, r.ProviderStatus = convo.MessageFailed, convo.ProviderFailed
		r.Error = errorOfCode(form.Get("ErrorCode"), st)
	default:
		return &convo.Inbound{}
	}
	return &convo.Inbound{Statuses: []convo.StatusReport{r}}
}

// errorOfCode is the reason shown for a message Twilio reports failed:
// the callback carries only the code, so the common codes' meanings
// (Twilio's error dictionary) are spelled out here.
func errorOfCode(code, status string) *convo.MessageError {
	if code == "" {
		return &convo.MessageError{Code: status, Message: "Twilio reports the message " + status + " without an error code"}
	}
	text, ok := errorTexts[code]
	if !ok {
		text = "Twilio error " + code + " (see twilio.com/docs/api/errors/" + code + ")"
	}
	return &convo.MessageError{Code: code, Message: status + ": " + text}
}

var errorTexts = map[string]string{
	"21211": "invalid 'To' phone number",
	"21408": "permission to send to this region is not enabled",
	"21610": "the recipient has replied STOP and unsubscribed",
	"21614": "'To' number is not a valid mobile number",
	"30001": "queue overflow",
	"30002": "account suspended",
	"30003": "unreachable destination handset",
	"30004": "message blocked by the recipient",
	"30005": "unknown destination handset",
	"30006": "landline or unreachable carrier",
	"30007": "filtered by the carrier",
	"30008": "unknown error",
	"30034": "message from an unregistered A2P 10DLC number",
}

// Client calls the Messages API.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

// ReadHook checks X-Twilio-Signature with the auth token over the public
// URL and the form, and reads a message or a status callback.
func (c *Client) ReadHook(a *convo.Account, h convo.HookRequest) (*convo.Inbound, error) {
	form, err := url.ParseQuery(string(h.Body))
	if err != nil {
		return nil, convo.ErrBadPayload
	}
	if !ValidSignature(a.Token, h.URL, form, h.Header("X-Twilio-Signature")) {
		return nil, convo.ErrBadSignature
	}
	if h.Kind == convo.HookStatus {
		return ParseStatus(form), nil
	}
	if to, err := convo.ParsePhone(form.Get("To")); form.Get("To") != "" && (err != nil || to != a.ProviderData.Number) {
		return nil, convo.Errorf(convo.EForbidden, "NUMBER_MISMATCH", "the message is for another number than this account's")
	}
	return ParseMessage(form)
}

// VerifySubscription: Twilio has no GET handshake.
func (c *Client) VerifySubscription(*convo.Account, url.Values) (string, bool) { return "", false }

// Send creates a message. Acceptance only queues it: the status callback
// later says whether it was sent.
func (c *Client) Send(ctx context.Context, d convo.SendRequest) (convo.SendResult, error) {
	sid := d.Account.ProviderData.AccountSID
	form := url.Values{"From": {d.Conversation.Self.Target}, "To": {d.Conversation.DialogID}}
	if d.Message.Text != "" {
		form.Set("Body", d.Message.Text)
	}
	for _, m := range d.Message.Medias {
		form.Add("MediaUrl", m.Filename)
	}
	if d.StatusCallback != "" {
		form.Set("StatusCallback", d.StatusCallback)
	}
	u := strings.TrimRight(c.BaseURL, "/") + "/2010-04-01/Accounts/" + url.PathEscape(sid) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return convo.SendResult{}, err
	}
	req.SetBasicAuth(sid, d.Account.Token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var answer struct {
		SID    string `json:"sid"`
		Status string `json:"status"`
	}
	if _, err := providerhttp.Do(c.HTTP, req, &answer); err != nil {
		return convo.SendResult{}, markUnsubscribed(err)
	}
	// The answer's status is a status callback's first word.
	res := convo.SendResult{ProviderID: answer.SID, Status: convo.MessageProgressing, ProviderStatus: convo.ProviderAccepted}
	if st := ParseStatus(url.Values{"MessageStatus": {answer.Status}}).Statuses; len(st) == 1 {
		res.Status, res.ProviderStatus = st[0].Status, st[0].ProviderStatus
	}
	return res, nil
}

// DisplayName is not offered for phone numbers.
func (c *Client) DisplayName(context.Context, *convo.Account, string) (string, error) { return "", nil }

var _ convo.Channel = (*Client)(nil)
