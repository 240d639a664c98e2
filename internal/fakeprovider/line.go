package fakeprovider

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	lineToPattern    = regexp.MustCompile(`^[UCR][0-9a-f]{32}$`)
	retryKeyPattern  = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	lineUserPattern  = regexp.MustCompile(`^U[0-9a-f]{32}$`)
	lineGroupPattern = regexp.MustCompile(`^C[0-9a-f]{32}$`)
)

// LinePushMessage is one message object of a push request.
type LinePushMessage struct {
	Type               string `json:"type"`
	Text               string `json:"text,omitempty"`
	OriginalContentURL string `json:"originalContentUrl,omitempty"`
	PreviewImageURL    string `json:"previewImageUrl,omitempty"`
	Duration           int64  `json:"duration,omitempty"`
}

// LinePush is a push request the fake accepted.
type LinePush struct {
	Token    string
	RetryKey string
	To       string
	Messages []LinePushMessage
	// ID is the sentMessages id the fake answered with.
	ID string
}

// Line is the LINE Messaging API.
type Line struct {
	core
	tokens   map[string]bool
	profiles map[string]string // userId -> displayName
	groups   map[string]string // groupId -> groupName
	// profileGate, when set, holds profile lookups until it is closed.
	profileGate  chan struct{}
	profileCalls int
	pushes       []LinePush
	acceptedKeys map[string]LinePush
	lineQuota
}

func NewLine(t testing.TB) *Line {
	f := &Line{tokens: map[string]bool{}, profiles: map[string]string{}, groups: map[string]string{}, acceptedKeys: map[string]LinePush{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/bot/message/push", f.push)
	mux.HandleFunc("POST /v2/bot/message/reply", f.reply)
	mux.HandleFunc("GET /v2/bot/message/quota", f.quota)
	mux.HandleFunc("GET /v2/bot/message/quota/consumption", f.consumption)
	mux.HandleFunc("GET /v2/bot/profile/{userId}", f.profile)
	mux.HandleFunc("GET /v2/bot/group/{groupId}/summary", f.groupSummary)
	mux.HandleFunc("GET /v2/bot/message/{messageId}/content", f.content)
	f.start(t, "LINE", mux)
	return f
}

// AddChannel makes a channel access token valid.
func (f *Line) AddChannel(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[token] = true
}

// AddProfile gives a user a display name.
func (f *Line) AddProfile(userID, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.profiles[userID] = name
}

// AddGroup gives a group a name.
func (f *Line) AddGroup(groupID, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups[groupID] = name
}

// HoldProfiles makes profile lookups wait until the returned func is called.
func (f *Line) HoldProfiles() (release func()) {
	gate := make(chan struct{})
	f.mu.Lock()
	f.profileGate = gate
	f.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(gate) }) }
}

func (f *Line) Sent() []LinePush {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]LinePush(nil), f.pushes...)
}

func (f *Line) ProfileLookups() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.profileCalls
}

// authorized checks the channel access token as LINE does.
func (f *Line) authorized(w http.ResponseWriter, r *http.Request) (string, bool) {
	token, ok := bearer(r)
	f.mu.Lock()
	valid := ok && f.tokens[token]
	f.mu.Unlock()
	if !valid {
		f.violate("%s %s: Authorization %q is not a valid channel access token", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		writeJSON(w, http.StatusUnauthorized, `{"message":"Authentication failed. Confirm that the access token in the authorization header is valid."}`)
		return "", false
	}
	return token, true
}

// sendRequest checks what push and reply share: the channel token and a
// JSON body. bad records a violation of the API's rules and answers as
// LINE refuses a body.
func (f *Line) sendRequest(w http.ResponseWriter, r *http.Request, what string) (token string, bad func(string, ...any), ok bool) {
	if token, ok = f.authorized(w, r); !ok {
		return "", nil, false
	}
	bad = func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		f.violate("%s: %s", what, msg)
		writeJSON(w, http.StatusBadRequest, fmt.Sprintf(`{"message":"The request body has 1 error(s)","details":[{"message":%q}]}`, msg))
	}
	if !hasMediaType(r, "application/json") {
		bad("Content-Type %q, want application/json", r.Header.Get("Content-Type"))
		return "", nil, false
	}
	return token, bad, true
}

func (f *Line) push(w http.ResponseWriter, r *http.Request) {
	token, bad, ok := f.sendRequest(w, r, "push")
	if !ok {
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
		Messages []LinePushMessage `json:"messages"`
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
	if msg := checkLineMessages(body.Messages); msg != "" {
		bad("%s", msg)
		return
	}
	mode := f.beginSend(r, token)
	switch mode {
	case Refuse:
		writeJSON(w, http.StatusBadRequest, `{"message":"Failed to send messages"}`)
		return
	case Broken:
		writeJSON(w, http.StatusInternalServerError, `{"message":"An error occurred in the server. Please try again later."}`)
		return
	}
	f.mu.Lock()
	if prev, ok := f.acceptedKeys[key]; ok {
		f.mu.Unlock()
		// LINE answers a retry of an accepted push with 409 and sends nothing.
		w.Header().Set("X-Line-Accepted-Request-Id", prev.ID)
		writeJSON(w, http.StatusConflict, fmt.Sprintf(`{"message":"The retry key is already accepted","sentMessages":[{"id":%q,"quoteToken":"q"}]}`, prev.ID))
		return
	}
	f.mu.Unlock()
	if f.overQuota(w, token, len(body.Messages)) {
		return
	}
	f.mu.Lock()
	first := 530000000000000000 + ids.Add(int64(len(body.Messages)))
	p := LinePush{Token: token, RetryKey: key, To: body.To, Messages: body.Messages, ID: fmt.Sprint(first)}
	f.pushes = append(f.pushes, p)
	f.acceptedKeys[key] = p
	f.mu.Unlock()
	if mode == LoseAnswer {
		writeJSON(w, http.StatusInternalServerError, `{"message":"An error occurred in the server. Please try again later."}`)
		return
	}
	w.Header().Set("X-Line-Request-Id", randomHex(16))
	sent := make([]string, len(body.Messages))
	for i := range sent {
		sent[i] = fmt.Sprintf(`{"id":"%d","quoteToken":"%s"}`, first+int64(i), randomHex(8))
	}
	writeJSON(w, http.StatusOK, `{"sentMessages":[`+strings.Join(sent, ",")+`]}`)
}

// waitGate holds a lookup while profiles are held.
func (f *Line) waitGate(r *http.Request) {
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

func (f *Line) profile(w http.ResponseWriter, r *http.Request) {
	f.lookup(w, r, "userId", lineUserPattern, "profile lookup", f.profiles, func(id, name string) map[string]string {
		return map[string]string{"userId": id, "displayName": name, "pictureUrl": "https://profile.line-scdn.net/" + id, "language": "en"}
	})
}

func (f *Line) groupSummary(w http.ResponseWriter, r *http.Request) {
	f.lookup(w, r, "groupId", lineGroupPattern, "group summary", f.groups, func(id, name string) map[string]string {
		return map[string]string{"groupId": id, "groupName": name, "pictureUrl": "https://profile.line-scdn.net/" + id}
	})
}

// lookup answers LINE's name lookups (a user's profile, a group's summary):
// the id in path value key must match pattern, and names maps ids to names.
func (f *Line) lookup(w http.ResponseWriter, r *http.Request, key string, pattern *regexp.Regexp, what string, names map[string]string, render func(id, name string) map[string]string) {
	if _, ok := f.authorized(w, r); !ok {
		return
	}
	id := r.PathValue(key)
	if !pattern.MatchString(id) {
		f.violate("%s of %q, which is not a %s", what, id, key)
	}
	f.waitGate(r)
	f.mu.Lock()
	name, ok := names[id]
	f.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, `{"message":"Not found"}`)
		return
	}
	b, _ := json.Marshal(render(id, name))
	writeJSON(w, http.StatusOK, string(b))
}
