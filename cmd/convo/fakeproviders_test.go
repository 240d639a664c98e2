package main

// Fake LINE, WhatsApp Cloud API and Twilio servers for the end-to-end tests.
// Each checks what convo sends the way the real API does (credentials,
// paths, body fields), answers in the real API's shape, records what it
// accepted, and can be switched to refuse, break or answer slowly. A
// request that breaks the real API's rules is recorded as a violation and
// fails the test when it ends.

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeMode is how a fake answers send requests.
type fakeMode int

const (
	// fakeAccept accepts as the provider does.
	fakeAccept fakeMode = iota
	// fakeRefuse answers 400 with the provider's error body (a refusal).
	fakeRefuse
	// fakeBroken answers 500 (an outage).
	fakeBroken
	// fakeLoseAnswer accepts the message, then answers 500 as if the
	// answer were lost on the way back.
	fakeLoseAnswer
)

// fakeCore is what the three fakes share.
type fakeCore struct {
	name string
	srv  *httptest.Server

	mu    sync.Mutex
	mode  fakeMode
	delay time.Duration
	// modes overrides mode per account (LINE token, phone_number_id, AccountSid).
	modes      map[string]fakeMode
	sendCalls  map[string]int
	violations []string
}

// start serves mux; when t ends the fake closes and every violation it
// recorded fails t (cleanups run on the test goroutine).
func (f *fakeCore) start(t *testing.T, name string, mux *http.ServeMux) {
	f.name = name
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.violate("unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.Close()
		f.report(t)
	})
}

// report fails t with every violation recorded so far.
func (f *fakeCore) report(t testing.TB) {
	t.Helper()
	f.mu.Lock()
	v := f.violations
	f.violations = nil
	f.mu.Unlock()
	for _, s := range v {
		t.Errorf("fake %s: convo sent a request the real API refuses: %s", f.name, s)
	}
}

func (f *fakeCore) violate(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.violations = append(f.violations, fmt.Sprintf(format, args...))
}

// URL is the base URL to configure in convo.
func (f *fakeCore) URL() string { return f.srv.URL }

// setMode switches how later sends are answered.
func (f *fakeCore) setMode(m fakeMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = m
}

// setModeFor switches how later sends of one account are answered (key:
// the LINE channel token, the WhatsApp phone_number_id, the Twilio AccountSid).
func (f *fakeCore) setModeFor(key string, m fakeMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.modes == nil {
		f.modes = map[string]fakeMode{}
	}
	f.modes[key] = m
}

// setDelay makes later sends wait d before answering.
func (f *fakeCore) setDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// close takes the fake off the network: connections are refused.
func (f *fakeCore) close() { f.srv.Close() }

// calls is the number of send requests received for an account (key as
// for setModeFor), whatever the answer.
func (f *fakeCore) calls(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sendCalls[key]
}

// beginSend counts a well-formed send request of an account, waits the
// configured delay and returns the mode to answer in.
func (f *fakeCore) beginSend(r *http.Request, key string) fakeMode {
	f.mu.Lock()
	if f.sendCalls == nil {
		f.sendCalls = map[string]int{}
	}
	f.sendCalls[key]++
	mode, delay := f.mode, f.delay
	if m, ok := f.modes[key]; ok {
		mode = m
	}
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
	}
	return mode
}

func writeFakeJSON(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprint(w, body)
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	return strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func hasMediaType(r *http.Request, want string) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == want
}

func isHTTPSURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != ""
}

func randomHexString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var fakeIDs atomic.Int64

// ---------------------------------------------------------------- LINE

var (
	lineToPattern    = regexp.MustCompile(`^[UCR][0-9a-f]{32}$`)
	retryKeyPattern  = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	lineUserPattern  = regexp.MustCompile(`^U[0-9a-f]{32}$`)
	lineGroupPattern = regexp.MustCompile(`^C[0-9a-f]{32}$`)
)

// linePushMessage is one message object of a push request.
type linePushMessage struct {
	Type               string `json:"type"`
	Text               string `json:"text,omitempty"`
	OriginalContentURL string `json:"originalContentUrl,omitempty"`
	PreviewImageURL    string `json:"previewImageUrl,omitempty"`
}

// linePush is a push request the fake accepted.
type linePush struct {
	Token    string
	RetryKey string
	To       string
	Messages []linePushMessage
	// ID is the sentMessages id the fake answered with.
	ID string
}

// fakeLine is the LINE Messaging API.
type fakeLine struct {
	fakeCore
	tokens   map[string]bool
	profiles map[string]string // userId -> displayName
	groups   map[string]string // groupId -> groupName
	// profileGate, when set, holds profile lookups until it is closed.
	profileGate  chan struct{}
	profileCalls int
	pushes       []linePush
	acceptedKeys map[string]linePush
}

func newFakeLine(t *testing.T) *fakeLine {
	f := &fakeLine{tokens: map[string]bool{}, profiles: map[string]string{}, groups: map[string]string{}, acceptedKeys: map[string]linePush{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/bot/message/push", f.push)
	mux.HandleFunc("GET /v2/bot/profile/{userId}", f.profile)
	mux.HandleFunc("GET /v2/bot/group/{groupId}/summary", f.groupSummary)
	f.start(t, "LINE", mux)
	return f
}

// addChannel makes a channel access token valid.
func (f *fakeLine) addChannel(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[token] = true
}

// addProfile gives a user a display name.
func (f *fakeLine) addProfile(userID, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.profiles[userID] = name
}

// addGroup gives a group a name.
func (f *fakeLine) addGroup(groupID, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups[groupID] = name
}

// holdProfiles makes profile lookups wait until the returned func is called.
func (f *fakeLine) holdProfiles() (release func()) {
	gate := make(chan struct{})
	f.mu.Lock()
	f.profileGate = gate
	f.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(gate) }) }
}

func (f *fakeLine) sent() []linePush {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]linePush(nil), f.pushes...)
}

func (f *fakeLine) profileLookups() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.profileCalls
}

// authorized checks the channel access token as LINE does.
func (f *fakeLine) authorized(w http.ResponseWriter, r *http.Request) (string, bool) {
	token, ok := bearer(r)
	f.mu.Lock()
	valid := ok && f.tokens[token]
	f.mu.Unlock()
	if !valid {
		f.violate("%s %s: Authorization %q is not a valid channel access token", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		writeFakeJSON(w, http.StatusUnauthorized, `{"message":"Authentication failed. Confirm that the access token in the authorization header is valid."}`)
		return "", false
	}
	return token, true
}

func (f *fakeLine) push(w http.ResponseWriter, r *http.Request) {
	token, ok := f.authorized(w, r)
	if !ok {
		return
	}
	bad := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		f.violate("push: %s", msg)
		writeFakeJSON(w, http.StatusBadRequest, fmt.Sprintf(`{"message":"The request body has 1 error(s)","details":[{"message":%q}]}`, msg))
	}
	if !hasMediaType(r, "application/json") {
		bad("Content-Type %q, want application/json", r.Header.Get("Content-Type"))
		return
	}
	// LINE makes the retry key optional; convo must send it, or a push
	// retried after a lost answer reaches the user twice.
	key := r.Header.Get("X-Line-Retry-Key")
	if !retryKeyPattern.MatchString(key) {
		bad("X-Line-Retry-Key %q is not a UUID", key)
		return
	}
	var body struct {
		To       string            `json:"to"`
		Messages []linePushMessage `json:"messages"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		bad("body: %v", err)
		return
	}
	if !lineToPattern.MatchString(body.To) {
		bad("to %q is not a userId, groupId or roomId", body.To)
		return
	}
	if len(body.Messages) < 1 || len(body.Messages) > 5 {
		bad("%d messages, want 1 to 5", len(body.Messages))
		return
	}
	for i, m := range body.Messages {
		switch m.Type {
		case "text":
			if m.Text == "" || len([]rune(m.Text)) > 5000 {
				bad("messages[%d].text must be 1 to 5000 characters", i)
				return
			}
		case "image":
			if !isHTTPSURL(m.OriginalContentURL) || !isHTTPSURL(m.PreviewImageURL) {
				bad("messages[%d]: image URLs must be HTTPS", i)
				return
			}
		default:
			bad("messages[%d].type %q is not supported here", i, m.Type)
			return
		}
	}
	mode := f.beginSend(r, token)
	switch mode {
	case fakeRefuse:
		writeFakeJSON(w, http.StatusBadRequest, `{"message":"Failed to send messages"}`)
		return
	case fakeBroken:
		writeFakeJSON(w, http.StatusInternalServerError, `{"message":"An error occurred in the server. Please try again later."}`)
		return
	}
	f.mu.Lock()
	if prev, ok := f.acceptedKeys[key]; ok {
		f.mu.Unlock()
		// LINE answers a retry of an accepted push with 409 and sends nothing.
		w.Header().Set("X-Line-Accepted-Request-Id", prev.ID)
		writeFakeJSON(w, http.StatusConflict, fmt.Sprintf(`{"message":"The retry key is already accepted","sentMessages":[{"id":%q,"quoteToken":"q"}]}`, prev.ID))
		return
	}
	first := 530000000000000000 + fakeIDs.Add(int64(len(body.Messages)))
	p := linePush{Token: token, RetryKey: key, To: body.To, Messages: body.Messages, ID: fmt.Sprint(first)}
	f.pushes = append(f.pushes, p)
	f.acceptedKeys[key] = p
	f.mu.Unlock()
	if mode == fakeLoseAnswer {
		writeFakeJSON(w, http.StatusInternalServerError, `{"message":"An error occurred in the server. Please try again later."}`)
		return
	}
	w.Header().Set("X-Line-Request-Id", randomHexString(16))
	sent := make([]string, len(body.Messages))
	for i := range sent {
		sent[i] = fmt.Sprintf(`{"id":"%d","quoteToken":"%s"}`, first+int64(i), randomHexString(8))
	}
	writeFakeJSON(w, http.StatusOK, `{"sentMessages":[`+strings.Join(sent, ",")+`]}`)
}

// waitGate holds a lookup while profiles are held.
func (f *fakeLine) waitGate(r *http.Request) {
	f.mu.Lock()
	f.profileCalls++
	gate := f.profileGate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
}

func (f *fakeLine) profile(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.authorized(w, r); !ok {
		return
	}
	id := r.PathValue("userId")
	if !lineUserPattern.MatchString(id) {
		f.violate("profile lookup of %q, which is not a userId", id)
	}
	f.waitGate(r)
	f.mu.Lock()
	name, ok := f.profiles[id]
	f.mu.Unlock()
	if !ok {
		writeFakeJSON(w, http.StatusNotFound, `{"message":"Not found"}`)
		return
	}
	b, _ := json.Marshal(map[string]string{"userId": id, "displayName": name, "pictureUrl": "https://profile.line-scdn.net/" + id, "language": "en"})
	writeFakeJSON(w, http.StatusOK, string(b))
}

func (f *fakeLine) groupSummary(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.authorized(w, r); !ok {
		return
	}
	id := r.PathValue("groupId")
	if !lineGroupPattern.MatchString(id) {
		f.violate("group summary of %q, which is not a groupId", id)
	}
	f.waitGate(r)
	f.mu.Lock()
	name, ok := f.groups[id]
	f.mu.Unlock()
	if !ok {
		writeFakeJSON(w, http.StatusNotFound, `{"message":"Not found"}`)
		return
	}
	b, _ := json.Marshal(map[string]string{"groupId": id, "groupName": name, "pictureUrl": "https://profile.line-scdn.net/" + id})
	writeFakeJSON(w, http.StatusOK, string(b))
}

// ---------------------------------------------------------------- WhatsApp

var waIDPattern = regexp.MustCompile(`^\+?[1-9][0-9]{7,14}$`)

// waSend is a message the WhatsApp fake accepted.
type waSend struct {
	PhoneNumberID string
	Token         string
	To            string
	Type          string
	// Text is text.body; Link is the media link of a media message.
	Text string
	Link string
	// WAMID is the id the fake answered with.
	WAMID string
}

// fakeWhatsApp is the WhatsApp Cloud API of the Graph API.
type fakeWhatsApp struct {
	fakeCore
	numbers map[string]string // phone_number_id -> access token
	sends   []waSend
}

func newFakeWhatsApp(t *testing.T) *fakeWhatsApp {
	f := &fakeWhatsApp{numbers: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v19.0/{phoneNumberID}/messages", f.messages)
	f.start(t, "WhatsApp", mux)
	return f
}

// addNumber registers a business phone number and the token that may use it.
func (f *fakeWhatsApp) addNumber(phoneNumberID, token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.numbers[phoneNumberID] = token
}

func (f *fakeWhatsApp) sent() []waSend {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]waSend(nil), f.sends...)
}

func graphError(code int, kind, message string) string {
	return fmt.Sprintf(`{"error":{"message":%q,"type":%q,"code":%d,"fbtrace_id":"A%s"}}`, message, kind, code, randomHexString(10))
}

func (f *fakeWhatsApp) messages(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("phoneNumberID")
	f.mu.Lock()
	want, known := f.numbers[id]
	f.mu.Unlock()
	token, ok := bearer(r)
	if !ok || token == "" {
		f.violate("messages: no bearer token")
		writeFakeJSON(w, http.StatusUnauthorized, graphError(190, "OAuthException", "An access token is required to request this resource."))
		return
	}
	if !known {
		f.violate("messages: unknown phone_number_id %q", id)
		writeFakeJSON(w, http.StatusBadRequest, graphError(100, "GraphMethodException", "Unsupported post request. Object with ID '"+id+"' does not exist"))
		return
	}
	if token != want {
		f.violate("messages: token %q does not own phone_number_id %s", token, id)
		writeFakeJSON(w, http.StatusUnauthorized, graphError(190, "OAuthException", "Invalid OAuth access token - Cannot parse access token"))
		return
	}
	bad := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		f.violate("messages: %s", msg)
		writeFakeJSON(w, http.StatusBadRequest, graphError(100, "OAuthException", "(#100) Invalid parameter: "+msg))
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
	s := waSend{PhoneNumberID: id, Token: token}
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
	case fakeRefuse:
		writeFakeJSON(w, http.StatusBadRequest, `{"error":{"message":"(#131030) Recipient phone number not in allowed list","type":"OAuthException","code":131030,"error_data":{"messaging_product":"whatsapp","details":"Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again."},"fbtrace_id":"AbCdEf"}}`)
		return
	case fakeBroken:
		writeFakeJSON(w, http.StatusInternalServerError, `{"error":{"message":"An unknown error has occurred.","type":"OAuthException","code":1,"is_transient":true,"fbtrace_id":"AbCdEf"}}`)
		return
	}
	s.WAMID = "wamid.HBgL" + base64.RawStdEncoding.EncodeToString([]byte(randomHexString(12)))
	f.mu.Lock()
	f.sends = append(f.sends, s)
	f.mu.Unlock()
	if mode == fakeLoseAnswer {
		writeFakeJSON(w, http.StatusInternalServerError, `{"error":{"message":"An unknown error has occurred.","type":"OAuthException","code":1,"is_transient":true,"fbtrace_id":"AbCdEf"}}`)
		return
	}
	b, _ := json.Marshal(map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": s.To, "wa_id": strings.TrimPrefix(s.To, "+")}},
		"messages":          []map[string]string{{"id": s.WAMID}},
	})
	writeFakeJSON(w, http.StatusOK, string(b))
}

// ---------------------------------------------------------------- Twilio

var e164Pattern = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// twilioSend is a message the Twilio fake accepted.
type twilioSend struct {
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

// fakeTwilio is Twilio's Programmable Messaging API.
type fakeTwilio struct {
	fakeCore
	accounts map[string]*twilioAccount
	sends    []twilioSend
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	f := &fakeTwilio{accounts: map[string]*twilioAccount{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", f.messages)
	f.start(t, "Twilio", mux)
	return f
}

// addNumber registers an account (SID and auth token) owning number.
func (f *fakeTwilio) addNumber(sid, token, number string) {
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

func (f *fakeTwilio) sent() []twilioSend {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]twilioSend(nil), f.sends...)
}

func twilioError(status, code int, message string) string {
	return fmt.Sprintf(`{"code":%d,"message":%q,"more_info":"https://www.twilio.com/docs/errors/%d","status":%d}`, code, message, code, status)
}

func (f *fakeTwilio) messages(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	user, pass, ok := r.BasicAuth()
	f.mu.Lock()
	a := f.accounts[sid]
	valid := ok && a != nil && user == sid && pass == a.token
	f.mu.Unlock()
	if !valid {
		f.violate("Messages.json: basic auth %q:%q does not match account %s", user, pass, sid)
		writeFakeJSON(w, http.StatusUnauthorized, twilioError(401, 20003, "Authenticate"))
		return
	}
	bad := func(code int, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		f.violate("Messages.json: %s", msg)
		writeFakeJSON(w, http.StatusBadRequest, twilioError(400, code, msg))
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
	s := twilioSend{AccountSID: sid, From: form.Get("From"), To: form.Get("To"), Body: form.Get("Body"),
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
	switch mode {
	case fakeRefuse:
		writeFakeJSON(w, http.StatusBadRequest, twilioError(400, 21610, "Attempt to send to unsubscribed recipient"))
		return
	case fakeBroken:
		writeFakeJSON(w, http.StatusInternalServerError, twilioError(500, 20500, "Internal Server Error"))
		return
	}
	s.SID = "SM" + randomHexString(16)
	f.mu.Lock()
	f.sends = append(f.sends, s)
	f.mu.Unlock()
	if mode == fakeLoseAnswer {
		writeFakeJSON(w, http.StatusInternalServerError, twilioError(500, 20500, "Internal Server Error"))
		return
	}
	now := time.Now().UTC().Format(time.RFC1123Z)
	b, _ := json.Marshal(map[string]any{
		"account_sid": sid, "api_version": "2010-04-01", "body": s.Body, "date_created": now, "date_sent": nil,
		"date_updated": now, "direction": "outbound-api", "error_code": nil, "error_message": nil, "from": s.From,
		"messaging_service_sid": nil, "num_media": fmt.Sprint(len(s.MediaURLs)), "num_segments": "1", "price": nil,
		"price_unit": "USD", "sid": s.SID, "status": "queued", "to": s.To,
		"uri": "/2010-04-01/Accounts/" + sid + "/Messages/" + s.SID + ".json",
	})
	writeFakeJSON(w, http.StatusCreated, string(b))
}

// ---------------------------------------------------------------- server options

// withProviders points convo's provider clients at the fakes.
func withProviders(l *fakeLine, wa *fakeWhatsApp, tw *fakeTwilio) serverOption {
	return func(m *Main) {
		m.Config.LineAPIURL, m.Config.WhatsAppAPIURL, m.Config.TwilioAPIURL = l.URL(), wa.URL(), tw.URL()
	}
}

// withSending sets how long a send request waits for the provider and the
// delays between retries of a provider outage.
func withSending(wait time.Duration, retryDelays ...time.Duration) serverOption {
	return func(m *Main) {
		m.Config.SendWait = wait
		m.Config.RetryDelays = retryDelays
	}
}
