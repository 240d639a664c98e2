package fakeprovider

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// AddTemplates registers a WhatsApp Business Account, the token that may
// read it, and its templates in Meta's listing shape (id, name, language,
// status, category, components). Sends may use any template registered
// with the status APPROVED.
func (f *WhatsApp) AddTemplates(wabaID, token string, templates ...map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.businesses[wabaID]
	if b == nil {
		b = &waBusiness{token: token}
		f.businesses[wabaID] = b
	}
	b.templates = append(b.templates, templates...)
}

// TemplateCalls counts the template listings the fake answered.
func (f *WhatsApp) TemplateCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.templateCalls
}

// listTemplates answers GET /{waba}/message_templates as Meta does: the
// token must be the business's, status filters, fields and limit are
// honoured, and pages carry cursors and a next link.
func (f *WhatsApp) listTemplates(w http.ResponseWriter, r *http.Request) {
	token, ok := bearer(r)
	if !ok || token == "" {
		f.violate("message_templates: no bearer token")
		writeJSON(w, http.StatusUnauthorized, graphError(190, "OAuthException", "An access token is required to request this resource."))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.templateCalls++
	b := f.businesses[r.PathValue("wabaID")]
	if b == nil || b.token != token {
		// Meta answers a WABA the token cannot see as a missing object.
		writeJSON(w, http.StatusBadRequest, graphError(100, "GraphMethodException", "Unsupported get request. Object with ID '"+r.PathValue("wabaID")+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation"))
		return
	}
	status := r.URL.Query().Get("status")
	var fields []string
	if v := r.URL.Query().Get("fields"); v != "" {
		fields = strings.Split(v, ",")
	}
	data := []map[string]any{}
	for _, t := range b.templates {
		if status != "" && t["status"] != status {
			continue
		}
		out := map[string]any{"id": t["id"]}
		for k, v := range t {
			if len(fields) == 0 || contains(fields, k) {
				out[k] = v
			}
		}
		data = append(data, out)
	}
	body, _ := json.Marshal(map[string]any{"data": data, "paging": map[string]any{"cursors": map[string]string{"before": "MAZDZD", "after": "MjQZD"}}})
	writeJSON(w, http.StatusOK, string(body))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

var placeholder = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// checkTemplate checks a template send as Meta does: an approved template
// of that name and language exists, and the body's parameters fill its
// placeholders exactly. It returns what is wrong, "" when nothing is.
func (f *WhatsApp) checkTemplate(t map[string]any) string {
	name, _ := t["name"].(string)
	lang, _ := t["language"].(map[string]any)
	code, _ := lang["code"].(string)
	if name == "" || code == "" {
		return "template.name and template.language.code are required"
	}
	f.mu.Lock()
	var known map[string]any
	for _, b := range f.businesses {
		for _, x := range b.templates {
			if x["name"] == name && x["language"] == code && x["status"] == "APPROVED" {
				known = x
			}
		}
	}
	f.mu.Unlock()
	if known == nil {
		return fmt.Sprintf("%s (%s)", name, code)
	}
	want := 0
	for _, c := range asObjects(known["components"]) {
		if c["type"] == "BODY" {
			text, _ := c["text"].(string)
			want = len(placeholder.FindAllString(text, -1))
		}
	}
	got := 0
	comps, ok := t["components"].([]any)
	if t["components"] != nil && !ok {
		return "template.components must be an array"
	}
	for _, c := range asObjects(comps) {
		typ, _ := c["type"].(string)
		switch strings.ToLower(typ) {
		case "header", "body", "button":
		default:
			return fmt.Sprintf("component type %q", typ)
		}
		if strings.ToLower(typ) != "body" {
			continue
		}
		for _, p := range asObjects(c["parameters"]) {
			if _, ok := p["type"].(string); !ok {
				return "a body parameter has no type"
			}
			got++
		}
	}
	if got != want {
		return fmt.Sprintf("(#132000) number of parameters (%d) does not match the expected number of params (%d)", got, want)
	}
	return ""
}

// asObjects reads a JSON array of objects, skipping anything else.
func asObjects(v any) []map[string]any {
	var out []map[string]any
	switch a := v.(type) {
	case []any:
		for _, x := range a {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
	case []map[string]any:
		out = a
	}
	return out
}
