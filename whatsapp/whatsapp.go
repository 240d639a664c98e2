// Package whatsapp speaks the WhatsApp Cloud API (Meta Graph API): the
// verification, signatures and payloads of its hooks (Meta calls them
// webhooks) and sending messages.
package whatsapp

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/providerhttp"
)

// DefaultBaseURL is the Graph API host.
const DefaultBaseURL = "https://graph.facebook.com"

// DefaultAPIVersion is the Graph API version convo speaks unless told
// otherwise (CONVO_WHATSAPP_API_VERSION): Meta retires each version about
// two years after the next, so it must be changeable without a release.
const DefaultAPIVersion = "v26.0"

// APIVersion is the version a Client without one speaks.
//
// Deprecated: use Client.APIVersion, which follows the setting.
const APIVersion = DefaultAPIVersion

// ValidAPIVersion reports whether v looks like a Graph API version ("v26.0").
func ValidAPIVersion(v string) bool {
	major, minor, ok := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	digits := func(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
	return strings.HasPrefix(v, "v") && ok && digits(major) && digits(minor)
}

// Verify answers Meta's subscription handshake: it returns the challenge to
// echo when mode is "subscribe" and token equals the account's verify token.
func Verify(verifyToken string, q url.Values) (string, bool) {
	if verifyToken == "" || q.Get("hub.mode") != "subscribe" {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("hub.verify_token")), []byte(verifyToken)) != 1 {
		return "", false
	}
	return q.Get("hub.challenge"), true
}

// ValidSignature reports whether header (X-Hub-Signature-256) is
// "sha256=" + hex(HMAC-SHA256(app secret, body)), compared in constant time.
func ValidSignature(appSecret string, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if appSecret == "" || !ok {
		return false
	}
	want, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), want)
}

type media struct {
	ID       string `json:"id"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
}

type hookBody struct {
	Entry []struct {
		Changes []struct {
			Value struct {
				Metadata struct {
					DisplayPhoneNumber string `json:"display_phone_number"`
					PhoneNumberID      string `json:"phone_number_id"`
				} `json:"metadata"`
				Contacts []struct {
					WaID    string `json:"wa_id"`
					Profile struct {
						Name string `json:"name"`
					} `json:"profile"`
				} `json:"contacts"`
				Messages []hookMessage `json:"messages"`
				Statuses []struct {
					ID        string `json:"id"`
					Status    string `json:"status"`
					Timestamp string `json:"timestamp"`
					// BizOpaqueCallbackData echoes what the send set: convo's message id.
					BizOpaqueCallbackData string `json:"biz_opaque_callback_data"`
					Errors                []struct {
						Code      int    `json:"code"`
						Title     string `json:"title"`
						Message   string `json:"message"`
						ErrorData struct {
							Details string `json:"details"`
						} `json:"error_data"`
					} `json:"errors"`
				} `json:"statuses"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

// ErrWrongPhoneNumber means a payload names another phone number than the account's.
var ErrWrongPhoneNumber = fmt.Errorf("whatsapp: payload is for another phone_number_id")

// Parse reads a hook body for the account with phoneNumberID. Media URLs
// point at the Graph API media object under baseURL, in DefaultAPIVersion.
func Parse(body []byte, phoneNumberID, baseURL string) (*convo.Inbound, error) {
	return parse(body, phoneNumberID, baseURL, DefaultAPIVersion)
}

func parse(body []byte, phoneNumberID, baseURL, version string) (*convo.Inbound, error) {
	var w hookBody
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("whatsapp: hook body: %w", err)
	}
	in := &convo.Inbound{}
	for _, e := range w.Entry {
		for _, ch := range e.Changes {
			v := ch.Value
			if v.Metadata.PhoneNumberID != phoneNumberID {
				return nil, ErrWrongPhoneNumber
			}
			names := map[string]string{}
			for _, c := range v.Contacts {
				names[c.WaID] = c.Profile.Name
			}
			for _, m := range v.Messages {
				waID, err := convo.ParsePhone(m.From)
				if err != nil {
					return nil, convo.ErrBadPayload
				}
				im := convo.InboundMessage{ProviderID: m.ID, InboundPeer: convo.InboundPeer{
					DialogID:   waID,
					Peer:       convo.Address{Type: convo.AddressWhatsApp, Target: waID, TargetName: names[m.From]},
					SelfTarget: e164(v.Metadata.DisplayPhoneNumber),
				}}
				mediaURL := func(id string) string {
					return strings.TrimRight(baseURL, "/") + "/" + version + "/" + url.PathEscape(id)
				}
				for kind, md := range map[string]*media{convo.MediaImage: m.Image, convo.MediaVideo: m.Video, convo.MediaAudio: m.Audio, convo.MediaFile: m.Document, convo.MediaSticker: m.Sticker} {
					if md != nil && md.ID != "" {
						im.Medias = append(im.Medias, convo.InboundMedia{Type: kind, URL: mediaURL(md.ID)})
						im.Text = strings.TrimSpace(md.Caption + " " + md.Filename)
					}
				}
				switch {
				case m.Type == "text":
					im.Text = m.Text.Body
				case m.Location != nil:
					im.Text = strings.TrimSpace(m.Location.Name + " " + m.Location.Address)
					im.Medias = append(im.Medias, convo.InboundMedia{Type: convo.MediaLocation, URL: fmt.Sprintf("geo:%g,%g", m.Location.Latitude, m.Location.Longitude)})
				case len(im.Medias) == 0:
					im.Text, im.Data = m.structured()
				}
				in.Messages = append(in.Messages, im)
			}
			for _, s := range v.Statuses {
				r := convo.StatusReport{ProviderID: s.ID, MessageID: s.BizOpaqueCallbackData, Status: convo.MessageDone, ProviderStatus: s.Status}
				if sec, err := strconv.ParseInt(s.Timestamp, 10, 64); err == nil && sec > 0 {
					r.At = convo.NewTime(time.Unix(sec, 0))
				}
				switch s.Status {
				case "failed":
					r.Status, r.ProviderStatus = convo.MessageFailed, convo.ProviderFailed
					for _, e := range s.Errors {
						r.Detail += fmt.Sprintf("%d %s; ", e.Code, e.Title)
					}
					if len(s.Errors) > 0 {
						e := s.Errors[0]
						r.Error = &convo.MessageError{Code: strconv.Itoa(e.Code), Message: cmp.Or(e.ErrorData.Details, e.Message, e.Title)}
					}
				case convo.ProviderSent, convo.ProviderDelivered, convo.ProviderRead:
				default:
					continue
				}
				in.Statuses = append(in.Statuses, r)
			}
		}
	}
	return in, nil
}

// Client calls the WhatsApp Cloud API.
type Client struct {
	BaseURL string
	// APIVersion is the Graph API version in every path; "" is DefaultAPIVersion.
	APIVersion string
	HTTP       *http.Client
}

// url is the Graph API address of path (which starts with "/") in the client's version.
func (c *Client) url(path string) string {
	v := c.APIVersion
	if v == "" {
		v = DefaultAPIVersion
	}
	return strings.TrimRight(c.BaseURL, "/") + "/" + v + path
}

// ReadHook checks X-Hub-Signature-256 with the app secret and reads the
// payload, which must be for the account's phone number.
func (c *Client) ReadHook(a *convo.Account, h convo.HookRequest) (*convo.Inbound, error) {
	if h.Kind != convo.HookMessage {
		return nil, convo.NotFound("ROUTE_NOT_FOUND", "hook")
	}
	if !ValidSignature(a.ProviderData.AppSecret, h.Body, h.Header("X-Hub-Signature-256")) {
		return nil, convo.ErrBadSignature
	}
	in, err := parse(h.Body, a.ProviderData.PhoneNumberID, c.BaseURL, cmp.Or(c.APIVersion, DefaultAPIVersion))
	if err == ErrWrongPhoneNumber {
		return nil, convo.Errorf(convo.EForbidden, "PHONE_NUMBER_MISMATCH", "the payload is for another phone_number_id than this account's")
	} else if err != nil {
		return nil, convo.ErrBadPayload
	}
	return in, nil
}

// VerifySubscription answers Meta's GET handshake with the account's verify token.
func (c *Client) VerifySubscription(a *convo.Account, q url.Values) (string, bool) {
	return Verify(a.Secret, q)
}

// Send delivers the text, then each media link, to the peer's wa_id; the
// first answer's wamid identifies the message. Each call is a part: with
// d.Parts, parts accepted by an earlier try are skipped and each accepted
// one is recorded before the next, so a retry never repeats a part.
func (c *Client) Send(ctx context.Context, d convo.SendRequest) (convo.SendResult, error) {
	var bodies []map[string]any
	// Meta echoes biz_opaque_callback_data in the statuses of each part, so
	// a status finds its message even before this answer is recorded.
	base := func() map[string]any {
		return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": d.Conversation.DialogID,
			"biz_opaque_callback_data": d.Message.ID}
	}
	if t := templateBody(d.Message); t != nil {
		// A template is the whole message; its text is only convo's rendering.
		b := base()
		b["type"], b["template"] = t["type"], t["template"]
		bodies = append(bodies, b)
	} else if d.Message.Text != "" {
		b := base()
		b["type"], b["text"] = "text", map[string]any{"body": d.Message.Text}
		bodies = append(bodies, b)
	}
	for _, m := range d.Message.Medias {
		kind := map[string]string{convo.MediaImage: "image", convo.MediaVideo: "video", convo.MediaAudio: "audio", convo.MediaSticker: "sticker"}[m.Type]
		if kind == "" {
			kind = "document"
		}
		b := base()
		b["type"], b[kind] = kind, map[string]any{"link": m.Filename}
		bodies = append(bodies, b)
	}
	var res convo.SendResult
	parts := d.Parts
	if len(bodies) < 2 {
		parts = nil // one call: nothing to keep apart
	}
	for i, body := range bodies {
		if parts != nil {
			id, ok, err := parts.Accepted(ctx, i)
			if err != nil {
				return res, err
			}
			if ok {
				if res.ProviderID == "" {
					res.ProviderID = id
				}
				continue
			}
		}
		j, _ := json.Marshal(body)
		u := c.url("/" + url.PathEscape(d.Account.ProviderData.PhoneNumberID) + "/messages")
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(j))
		if err != nil {
			return res, err
		}
		req.Header.Set("Authorization", "Bearer "+d.Account.Token)
		req.Header.Set("Content-Type", "application/json")
		var answer struct {
			Messages []struct {
				ID string `json:"id"`
			} `json:"messages"`
		}
		if _, err := providerhttp.Do(c.HTTP, req, &answer); err != nil {
			return res, err
		}
		var id string
		if len(answer.Messages) > 0 {
			id = answer.Messages[0].ID
		}
		if res.ProviderID == "" {
			res.ProviderID = id
		}
		if parts != nil {
			if err := parts.Accept(ctx, i, id); err != nil {
				return res, err
			}
		}
	}
	res.Status, res.ProviderStatus = convo.MessageDone, convo.ProviderAccepted
	return res, nil
}

// DisplayName is not offered by the Cloud API; names arrive with messages.
func (c *Client) DisplayName(context.Context, *convo.Account, string) (string, error) { return "", nil }

var _ convo.Channel = (*Client)(nil)

// e164 writes a phone number Meta reports as digits ("16505551111") in
// E.164 form, as convo shows business numbers.
func e164(number string) string {
	n, _ := convo.ParsePhone(number)
	if n != "" && n[0] != '+' {
		n = "+" + n
	}
	return n
}
