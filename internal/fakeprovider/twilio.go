package fakeprovider

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"
)

var e164Pattern = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// TwilioSend is a message the Twilio fake accepted.
type TwilioSend struct {
	AccountSID     string
	From, To, Body string
	MediaURLs      []string
	StatusCallback string
	// SID is the MessageSid the fake answered with.
	SID string
}

type twilioAccount struct {
	token   string
	numbers map[string]bool
}

// Twilio is Twilio's Programmable Messaging API.
type Twilio struct {
	core
	accounts map[string]*twilioAccount
	sends    []TwilioSend
	// sendStatus is the status a send is answered with ("queued" unless set).
	sendStatus string
	// unsubscribed holds "from to" pairs whose recipient replied STOP.
	unsubscribed map[string]bool
}

// Unsubscribe makes Twilio refuse sends from number to peer with error
// 21610, as it does once peer replied STOP to number.
func (f *Twilio) Unsubscribe(number, peer string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unsubscribed == nil {
		f.unsubscribed = map[string]bool{}
	}
	f.unsubscribed[number+" "+peer] = true
}

func NewTwilio(t testing.TB) *Twilio {
	f := &Twilio{accounts: map[string]*twilioAccount{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", f.messages)
	mux.HandleFunc("GET /2010-04-01/Accounts/{sid}/Messages/{messageSid}/Media/{mediaSid}", f.serveMedia)
	f.start(t, "Twilio", mux)
	return f
}

// AddNumber registers an account (SID and auth token) owning number.
func (f *Twilio) AddNumber(sid, token, number string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.accounts[sid]
	if a == nil {
		a = &twilioAccount{token: token, numbers: map[string]bool{}}
		f.accounts[sid] = a
	}
	a.token = token
	a.numbers[number] = true
}

// SetSendStatus makes later sends answered with status, e.g. "sent" as
// Twilio answers a message that left at once (the default is "queued",
// which leaves the message progressing until a status callback).
func (f *Twilio) SetSendStatus(status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sendStatus = status
}

func (f *Twilio) Sent() []TwilioSend {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]TwilioSend(nil), f.sends...)
}

func twilioError(status, code int, message string) string {
	return fmt.Sprintf(`{"code":%d,"message":%q,"more_info":"https://www.twilio.com/docs/errors/%d","status":%d}`, code, message, code, status)
}

func (f *Twilio) messages(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	user, pass, ok := r.BasicAuth()
	f.mu.Lock()
	a := f.accounts[sid]
	valid := ok && a != nil && user == sid && pass == a.token
	f.mu.Unlock()
	if !valid {
		f.violate("Messages.json: basic auth %q:%q does not match account %s", user, pass, sid)
		writeJSON(w, http.StatusUnauthorized, twilioError(401, 20003, "Authenticate"))
		return
	}
	bad := func(code int, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		f.violate("Messages.json: %s", msg)
		writeJSON(w, http.StatusBadRequest, twilioError(400, code, msg))
	}
	if !hasMediaType(r, "application/x-www-form-urlencoded") {
		bad(20001, "Content-Type %q, want application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
		return
	}
	if err := r.ParseForm(); err != nil {
		bad(20001, "form: %v", err)
		return
	}
	form := r.PostForm
	s := TwilioSend{AccountSID: sid, From: form.Get("From"), To: form.Get("To"), Body: form.Get("Body"),
		MediaURLs: form["MediaUrl"], StatusCallback: form.Get("StatusCallback")}
	if !e164Pattern.MatchString(s.To) {
		bad(21211, "Invalid 'To' Phone Number: %s", s.To)
		return
	}
	f.mu.Lock()
	owns := a.numbers[s.From]
	f.mu.Unlock()
	if !owns {
		bad(21606, "The From phone number %s is not a valid, SMS-capable inbound phone number or short code for your account.", s.From)
		return
	}
	if s.Body == "" && len(s.MediaURLs) == 0 {
		bad(21619, "A text message body or media urls must be specified.")
		return
	}
	for _, m := range s.MediaURLs {
		if u, err := url.Parse(m); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
			bad(21620, "Invalid media URL(s): %s", m)
			return
		}
	}
	if cb := s.StatusCallback; cb != "" {
		if u, err := url.Parse(cb); err != nil || !u.IsAbs() {
			bad(21609, "Invalid StatusCallback url: %s", cb)
			return
		}
	}
	mode := f.beginSend(r, sid)
	f.mu.Lock()
	stopped := f.unsubscribed[s.From+" "+s.To]
	f.mu.Unlock()
	if stopped {
		writeJSON(w, http.StatusBadRequest, twilioError(400, 21610, "Attempt to send to unsubscribed recipient"))
		return
	}
	switch mode {
	case Refuse:
		writeJSON(w, http.StatusBadRequest, twilioError(400, 21610, "Attempt to send to unsubscribed recipient"))
		return
	case Broken:
		writeJSON(w, http.StatusInternalServerError, twilioError(500, 20500, "Internal Server Error"))
		return
	}
	s.SID = "SM" + randomHex(16)
	f.mu.Lock()
	f.sends = append(f.sends, s)
	status := cmp.Or(f.sendStatus, "queued")
	f.mu.Unlock()
	if mode == LoseAnswer {
		writeJSON(w, http.StatusInternalServerError, twilioError(500, 20500, "Internal Server Error"))
		return
	}
	now := time.Now().UTC().Format(time.RFC1123Z)
	b, _ := json.Marshal(map[string]any{
		"account_sid": sid, "api_version": "2010-04-01", "body": s.Body, "date_created": now, "date_sent": nil,
		"date_updated": now, "direction": "outbound-api", "error_code": nil, "error_message": nil, "from": s.From,
		"messaging_service_sid": nil, "num_media": fmt.Sprint(len(s.MediaURLs)), "num_segments": "1", "price": nil,
		"price_unit": "USD", "sid": s.SID, "status": status, "to": s.To,
		"uri": "/2010-04-01/Accounts/" + sid + "/Messages/" + s.SID + ".json",
	})
	writeJSON(w, http.StatusCreated, string(b))
}
