package fakeprovider

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// fakeMedium is a medium a fake holds for convo to download.
type fakeMedium struct {
	contentType string
	data        []byte
	// owner is who may download it: the LINE channel token, the WhatsApp
	// access token, the Twilio AccountSid.
	owner string
}

// mediaFiles is what the three fakes share to serve media.
type mediaFiles struct {
	files map[string]fakeMedium
	// fetches counts the downloads of each medium (key as added).
	fetches map[string]int
	// failNext answers that many downloads 500 before serving again.
	failNext int
	// enforceAuth (Twilio) requires the account's credentials on media.
	enforceAuth bool
	// gate, when set, holds downloads until it is closed.
	gate chan struct{}
}

// HoldMedia holds media downloads until release is called.
func (f *core) HoldMedia() (release func()) {
	gate := make(chan struct{})
	f.mu.Lock()
	f.media.gate = gate
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			f.media.gate = nil
			f.mu.Unlock()
			close(gate)
		})
	}
}

func (f *core) addMedium(key, owner, contentType string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.media.files == nil {
		f.media.files, f.media.fetches = map[string]fakeMedium{}, map[string]int{}
	}
	f.media.files[key] = fakeMedium{contentType: contentType, data: data, owner: owner}
}

// MediaFetches is how many times convo downloaded the medium added as key.
func (f *core) MediaFetches(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.media.fetches[key]
}

// FailMedia answers the next n media downloads 500, as in an outage.
func (f *core) FailMedia(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.media.failNext = n
}

// FailuresLeft is how many downloads FailMedia still has to fail.
func (f *core) FailuresLeft() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.media.failNext
}

// serveMedium answers a download of key by a caller proven to be who (""
// when the request carries no credential the provider checks).
func (f *core) serveMedium(w http.ResponseWriter, r *http.Request, key, who string, authRequired bool, unauthorized func()) {
	f.mu.Lock()
	gate := f.media.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	f.mu.Lock()
	m, ok := f.media.files[key]
	failing := f.media.failNext > 0
	if failing {
		f.media.failNext--
	}
	if ok && !failing && (who == m.owner || !authRequired) {
		f.media.fetches[key]++
	}
	f.mu.Unlock()
	switch {
	case authRequired && ok && who != m.owner:
		unauthorized()
	case failing:
		http.Error(w, "internal error", http.StatusInternalServerError)
	case !ok:
		writeJSON(w, http.StatusNotFound, `{"message":"Not found"}`)
	default:
		w.Header().Set("Content-Type", m.contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(m.data)))
		w.Write(m.data)
	}
}

// AddContent makes message messageID's content downloadable with the
// channel token (LINE's GET /v2/bot/message/{messageId}/content).
func (f *Line) AddContent(messageID, token, contentType string, data []byte) {
	f.addMedium(messageID, token, contentType, data)
}

func (f *Line) content(w http.ResponseWriter, r *http.Request) {
	token, ok := f.authorized(w, r)
	if !ok {
		return
	}
	f.serveMedium(w, r, r.PathValue("messageId"), token, true, func() {
		writeJSON(w, http.StatusNotFound, `{"message":"Not found"}`)
	})
}

// AddMedia makes media mediaID retrievable with token, as Meta keeps a
// medium sent to a business number: GET /{version}/{media-id} answers its
// download URL, which also needs the token.
func (f *WhatsApp) AddMedia(mediaID, token, contentType string, data []byte) {
	f.addMedium(mediaID, token, contentType, data)
}

func (f *WhatsApp) graphToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	token, ok := bearer(r)
	f.mu.Lock()
	valid := false
	for _, t := range f.numbers {
		valid = valid || (ok && t == token)
	}
	f.mu.Unlock()
	if !valid {
		f.violate("%s %s: Authorization %q is not a valid access token", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		writeJSON(w, http.StatusUnauthorized, graphError(190, "OAuthException", "Invalid OAuth access token."))
		return "", false
	}
	return token, true
}

func (f *WhatsApp) mediaInfo(w http.ResponseWriter, r *http.Request) {
	token, ok := f.graphToken(w, r)
	if !ok {
		return
	}
	id := r.PathValue("mediaID")
	f.mu.Lock()
	m, found := f.media.files[id]
	f.mu.Unlock()
	if !found || m.owner != token {
		writeJSON(w, http.StatusBadRequest, graphError(100, "GraphMethodException", "Unsupported get request."))
		return
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"messaging_product":"whatsapp","url":"%s/whatsapp-media/%s?ext=1","mime_type":%q,"sha256":"x","file_size":%d,"id":%q}`,
		f.URL(), id, m.contentType, len(m.data), id))
}

func (f *WhatsApp) mediaDownload(w http.ResponseWriter, r *http.Request) {
	token, ok := f.graphToken(w, r)
	if !ok {
		return
	}
	f.serveMedium(w, r, r.PathValue("mediaID"), token, true, func() {
		writeJSON(w, http.StatusNotFound, graphError(100, "GraphMethodException", "Not found."))
	})
}

// AddMedia makes a medium of an inbound MMS downloadable and returns its
// MediaUrl, as Twilio puts it in the hook.
func (f *Twilio) AddMedia(sid, contentType string, data []byte) string {
	mediaSID := "ME" + randomHex(16)
	f.addMedium(mediaSID, sid, contentType, data)
	return f.URL() + "/2010-04-01/Accounts/" + sid + "/Messages/MM" + randomHex(16) + "/Media/" + mediaSID
}

// EnforceMediaAuth makes media need the account's SID and auth token
// (Twilio's "Enforce HTTP Auth on Media URLs").
func (f *Twilio) EnforceMediaAuth() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.media.enforceAuth = true
}

func (f *Twilio) serveMedia(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	user, pass, hasAuth := r.BasicAuth()
	f.mu.Lock()
	acc := f.accounts[sid]
	enforce := f.media.enforceAuth
	f.mu.Unlock()
	who := ""
	if hasAuth && acc != nil && user == sid && pass == acc.token {
		who = sid
	} else if hasAuth {
		f.violate("GET %s: basic auth %q is not the account's SID and auth token", r.URL.Path, user)
	}
	f.serveMedium(w, r, strings.TrimSuffix(r.PathValue("mediaSid"), ".json"), who, enforce, func() {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		writeJSON(w, http.StatusUnauthorized, twilioError(401, 20003, "Authenticate"))
	})
}
