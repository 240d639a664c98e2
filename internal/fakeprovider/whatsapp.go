package fakeprovider

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var waIDPattern = regexp.MustCompile(`^\+?[1-9][0-9]{7,14}$`)

// WhatsAppSend is a message the WhatsApp fake accepted.
type WhatsAppSend struct {
	PhoneNumberID string
	Token         string
	To            string
	Type          string
	// Text is text.body; Link is the media link of a media message.
	Text string
	Link string
	// WAMID is the id the fake answered with.
	WAMID string
	// Callback is biz_opaque_callback_data, which Meta echoes in the statuses.
	Callback string
	// Template is the template object of a template message.
	Template map[string]any
}

// WhatsAppAPIVersion is the Graph API version the fake serves unless told
// otherwise (SetAPIVersion): convo's default.
const WhatsAppAPIVersion = "v26.0"

// WhatsApp is the WhatsApp Cloud API of the Graph API.
type WhatsApp struct {
	core
	version string
	numbers map[string]string // phone_number_id -> access token
	sends   []WhatsAppSend
	// businesses are the WhatsApp Business Accounts: their token and templates.
	businesses    map[string]*waBusiness
	templateCalls int
}

type waBusiness struct {
	token     string
	templates []map[string]any
}

func NewWhatsApp(t testing.TB) *WhatsApp {
	f := &WhatsApp{numbers: map[string]string{}, version: WhatsAppAPIVersion, businesses: map[string]*waBusiness{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{version}/{phoneNumberID}/messages", f.versioned(f.messages))
	mux.HandleFunc("GET /{version}/{wabaID}/message_templates", f.versioned(f.listTemplates))
	mux.HandleFunc("GET /{version}/{mediaID}", f.versioned(f.mediaInfo))
	mux.HandleFunc("GET /whatsapp-media/{mediaID}", f.mediaDownload)
	f.start(t, "WhatsApp", mux)
	return f
}

// SetAPIVersion makes the fake serve Graph API version v ("v25.0") alone.
func (f *WhatsApp) SetAPIVersion(v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version = v
}

// versioned refuses a path in another version than the one served, as Meta
// refuses an expired or unknown one.
func (f *WhatsApp) versioned(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		want := f.version
		f.mu.Unlock()
		if v := r.PathValue("version"); v != want {
			f.violate("%s %s: Graph API version %q, want %q", r.Method, r.URL.Path, v, want)
			writeJSON(w, http.StatusBadRequest, graphError(2635, "OAuthException", "(#2635) You are calling a deprecated version of the Graph API. Please update to the latest version: "+want+"."))
			return
		}
		h(w, r)
	}
}

// AddNumber registers a business phone number and the token that may use it.
func (f *WhatsApp) AddNumber(phoneNumberID, token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.numbers[phoneNumberID] = token
}

func (f *WhatsApp) Sent() []WhatsAppSend {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]WhatsAppSend(nil), f.sends...)
}

func graphError(code int, kind, message string) string {
	return fmt.Sprintf(`{"error":{"message":%q,"type":%q,"code":%d,"fbtrace_id":"A%s"}}`, message, kind, code, randomHex(10))
}

func (f *WhatsApp) messages(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("phoneNumberID")
	f.mu.Lock()
	want, known := f.numbers[id]
	f.mu.Unlock()
	token, ok := bearer(r)
	if !ok || token == "" {
		f.violate("messages: no bearer token")
		writeJSON(w, http.StatusUnauthorized, graphError(190, "OAuthException", "An access token is required to request this resource."))
		return
	}
	if !known {
		f.violate("messages: unknown phone_number_id %q", id)
		writeJSON(w, http.StatusBadRequest, graphError(100, "GraphMethodException", "Unsupported post request. Object with ID '"+id+"' does not exist"))
		return
	}
	if token != want {
		f.violate("messages: token %q does not own phone_number_id %s", token, id)
		writeJSON(w, http.StatusUnauthorized, graphError(190, "OAuthException", "Invalid OAuth access token - Cannot parse access token"))
		return
	}
	bad := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		f.violate("messages: %s", msg)
		writeJSON(w, http.StatusBadRequest, graphError(100, "OAuthException", "(#100) Invalid parameter: "+msg))
	}
	if !hasMediaType(r, "application/json") {
		bad("Content-Type %q, want application/json", r.Header.Get("Content-Type"))
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		bad("body: %v", err)
		return
	}
	s := WhatsAppSend{PhoneNumberID: id, Token: token}
	s.To, _ = body["to"].(string)
	s.Type, _ = body["type"].(string)
	if body["messaging_product"] != "whatsapp" {
		bad("messaging_product is %v, want \"whatsapp\"", body["messaging_product"])
		return
	}
	if rt, ok := body["recipient_type"]; ok && rt != "individual" {
		bad("recipient_type is %v", rt)
		return
	}
	if cb, ok := body["biz_opaque_callback_data"]; ok {
		// Meta: an arbitrary string of at most 512 characters.
		if s.Callback, ok = cb.(string); !ok || len([]rune(s.Callback)) > 512 {
			bad("biz_opaque_callback_data must be a string of at most 512 characters")
			return
		}
	}
	if !waIDPattern.MatchString(s.To) {
		bad("to %q is not a phone number", s.To)
		return
	}
	switch s.Type {
	case "text":
		text, _ := body["text"].(map[string]any)
		s.Text, _ = text["body"].(string)
		if s.Text == "" || len([]rune(s.Text)) > 4096 {
			bad("text.body must be 1 to 4096 characters")
			return
		}
	case "template":
		tmpl, _ := body["template"].(map[string]any)
		if msg := f.checkTemplate(tmpl); msg != "" {
			f.violate("messages: template: %s", msg)
			writeJSON(w, http.StatusBadRequest, graphError(132001, "OAuthException", "(#132001) Template name does not exist in the translation: "+msg))
			return
		}
		s.Template = tmpl
	case "image", "video", "audio", "document", "sticker":
		m, _ := body[s.Type].(map[string]any)
		s.Link, _ = m["link"].(string)
		if !isHTTPSURL(s.Link) && !strings.HasPrefix(s.Link, "http://") {
			bad("%s.link %q is not a URL", s.Type, s.Link)
			return
		}
	default:
		bad("type %q", s.Type)
		return
	}
	mode := f.beginSend(r, id)
	switch mode {
	case Refuse:
		writeJSON(w, http.StatusBadRequest, `{"error":{"message":"(#131030) Recipient phone number not in allowed list","type":"OAuthException","code":131030,"error_data":{"messaging_product":"whatsapp","details":"Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again."},"fbtrace_id":"AbCdEf"}}`)
		return
	case Broken:
		writeJSON(w, http.StatusInternalServerError, `{"error":{"message":"An unknown error has occurred.","type":"OAuthException","code":1,"is_transient":true,"fbtrace_id":"AbCdEf"}}`)
		return
	}
	s.WAMID = "wamid.HBgL" + base64.RawStdEncoding.EncodeToString([]byte(randomHex(12)))
	f.mu.Lock()
	f.sends = append(f.sends, s)
	f.mu.Unlock()
	if mode == LoseAnswer {
		writeJSON(w, http.StatusInternalServerError, `{"error":{"message":"An unknown error has occurred.","type":"OAuthException","code":1,"is_transient":true,"fbtrace_id":"AbCdEf"}}`)
		return
	}
	b, _ := json.Marshal(map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": s.To, "wa_id": strings.TrimPrefix(s.To, "+")}},
		"messages":          []map[string]string{{"id": s.WAMID}},
	})
	writeJSON(w, http.StatusOK, string(b))
}
