package convo

import (
	"bytes"
	"fmt"
)

// TimeFormat is how timestamps are written on the wire: in every answer,
// webhook body, stream frame and page token. Both forms are read on input.
type TimeFormat string

const (
	// TimeSeed is the format of the VoIPbin seed: "2022-06-23 05:05:40.950834",
	// and "9999-01-01 00:00:00.000000" for a moment that has not happened.
	TimeSeed TimeFormat = "seed"
	// TimeRFC3339 is what VoIPbin writes since February 2026:
	// "2022-06-23T05:05:40.950834Z", and null for a moment that has not happened.
	TimeRFC3339 TimeFormat = "rfc3339"
)

// ParseTimeFormat reads a configured time format; empty means TimeSeed.
func ParseTimeFormat(s string) (TimeFormat, error) {
	switch f := TimeFormat(s); f {
	case "":
		return TimeSeed, nil
	case TimeSeed, TimeRFC3339:
		return f, nil
	}
	return "", fmt.Errorf("time format must be %q or %q, not %q", TimeSeed, TimeRFC3339, s)
}

// neverText is the seed form of Never.
const neverText = "9999-01-01 00:00:00.000000"

// RenderJSON returns doc, a JSON document written with timestamps in the
// seed format, with its timestamps in format f. Timestamps are the string
// values under keys starting with "tm_" or named "snoozed_until" or
// "whatsapp_window_expires" (also
// inside an object or array such a key holds, as an audit entry's old and
// new) and next_page_token;
// only values exactly in the seed format change. In the seed format, or
// when nothing changes, doc itself is returned: documents are stored and
// built in the seed format, and rendered only as they leave.
func (f TimeFormat) RenderJSON(doc []byte) []byte {
	if f != TimeRFC3339 {
		return doc
	}
	if out, changed := renderKeys(nil, doc); changed {
		return out
	}
	return doc
}

// AppendJSON appends doc rendered as RenderJSON does to dst, so that a
// caller can reuse its buffer.
func (f TimeFormat) AppendJSON(dst, doc []byte) []byte {
	if f == TimeRFC3339 {
		if out, changed := renderKeys(dst, doc); changed {
			return out
		}
	}
	return append(dst, doc...)
}

// renderKeys renders the timestamps of doc after dst, jumping from key to
// key (about three times faster than reading every token): a quote that
// starts a string is never preceded by a backslash, one inside a string
// always is, and a string followed by ':' is a key. It reports whether it
// changed any.
func renderKeys(dst, doc []byte) ([]byte, bool) {
	r := rendering{doc: doc, dst: dst}
	for i := 0; i < len(doc); {
		// Both kinds of key hold an underscore, far rarer in JSON than a quote.
		u := bytes.IndexByte(doc[i:], '_')
		if u < 0 {
			break
		}
		u += i
		i = u + 1
		var p int
		isToken := false
		switch {
		case u >= 3 && string(doc[u-3:u]) == `"tm`:
			p = u - 3
		case u >= 5 && bytes.HasPrefix(doc[u-5:], tokenKey):
			p, isToken = u-5, true
		case u >= 8 && bytes.HasPrefix(doc[u-8:], snoozedKey):
			p = u - 8
		case u >= 9 && bytes.HasPrefix(doc[u-9:], windowKey):
			p = u - 9
		default:
			continue
		}
		if p > 0 && doc[p-1] == '\\' {
			continue
		}
		q := bytes.IndexByte(doc[p+1:], '"')
		if q < 0 {
			break
		}
		v := skipSpace(doc, p+2+q)
		if v >= len(doc) || doc[v] != ':' {
			continue
		}
		v = skipSpace(doc, v+1)
		if v >= len(doc) {
			break
		}
		switch doc[v] {
		case '"':
			end, escaped := stringEnd(doc, v+1)
			if end < 0 {
				return nil, false // not JSON: left as it is
			}
			if !escaped {
				r.time(v, end, isToken)
			}
			i = end + 1
		case '{', '[':
			// A tm_ key holding an object or array: every string in it is a time.
			end := containerEnd(doc, v)
			if end < 0 {
				return nil, false
			}
			if sub, changed := renderTree(doc[v:end], true); changed {
				r.replace(v, end, sub)
			}
			i = end
		}
	}
	return r.result()
}

var tokenKey = []byte(`"next_page_token"`)

// snoozedKey is the one timestamp whose key does not start with "tm_": a
// conversation's snoozed_until, named as the issue that made it names it.
var snoozedKey = []byte(`"snoozed_until"`)

// windowKey is a conversation's whatsapp_window_expires, also named by its issue.
var windowKey = []byte(`"whatsapp_window_expires"`)

// rendering is a document being rendered: out holds dst, then doc up to
// last with its changes; it is nil until the first change.
type rendering struct {
	doc, dst, out []byte
	last          int
}

// replace puts with in the place of doc[start:end].
func (r *rendering) replace(start, end int, with []byte) {
	if r.out == nil {
		// Room for the document and a few bytes more for each change, once.
		r.out = r.dst
		if room := len(r.doc) + len(r.doc)/16 + 64; cap(r.dst)-len(r.dst) < room {
			r.out = append(make([]byte, 0, len(r.dst)+room), r.dst...)
		}
	}
	r.out = append(append(r.out, r.doc[r.last:start]...), with...)
	r.last = end
}

// time renders the string doc[start:end+1] (quotes included) when it is a
// timestamp in the seed format, followed by "|<id>" for a page token.
func (r *rendering) time(start, end int, token bool) {
	s := r.doc[start+1 : end]
	switch {
	case string(s) == neverText && !token:
		r.replace(start, end+1, null)
	case isSeedTime(s, token):
		// "2022-06-23 05:05:40.950834" → "2022-06-23T05:05:40.950834Z", a token's |<id> kept.
		var t [len(neverText) + 1]byte
		copy(t[:], s[:10])
		t[10] = 'T'
		copy(t[11:], s[11:len(neverText)])
		t[len(neverText)] = 'Z'
		r.replace(start+1, start+1+len(neverText), t[:])
	}
}

var null = []byte("null")

// result is the rendered document and whether it differs from doc.
func (r *rendering) result() ([]byte, bool) {
	if r.out == nil {
		return nil, false
	}
	return append(r.out, r.doc[r.last:]...), true
}

// renderTree renders the timestamps of doc by reading every token; with
// times set, every string value in it is one. It reports whether it
// changed any.
func renderTree(doc []byte, times bool) ([]byte, bool) {
	r := rendering{doc: doc}
	// The open objects and arrays, innermost last.
	type container struct{ object, times bool }
	stack := make([]container, 0, 8)
	// atKey: the next string is a key; timeValue, tokenValue: what the next value is.
	atKey, timeValue, tokenValue := false, times, false
	for i := 0; i < len(doc); i++ {
		switch doc[i] {
		case '{', '[':
			stack = append(stack, container{object: doc[i] == '{', times: timeValue})
			atKey = doc[i] == '{'
		case '}', ']':
			if n := len(stack); n > 0 {
				stack = stack[:n-1]
			}
		case ',':
			if n := len(stack); n > 0 {
				atKey, timeValue, tokenValue = stack[n-1].object, stack[n-1].times, false
			}
		case '"':
			end, escaped := stringEnd(doc, i+1)
			if end < 0 {
				return nil, false // not JSON: left as it is
			}
			s := doc[i+1 : end]
			switch {
			case atKey:
				inherited := len(stack) > 0 && stack[len(stack)-1].times
				tokenValue = string(s) == "next_page_token"
				timeValue = inherited || len(s) >= 3 && string(s[:3]) == "tm_" || string(s) == "snoozed_until" || string(s) == "whatsapp_window_expires"
				atKey = false
			case !escaped && (timeValue || tokenValue):
				r.time(i, end, tokenValue)
			}
			i = end
		}
	}
	return r.result()
}

// containerEnd returns the index just past the object or array that starts
// at doc[i], -1 if it does not end.
func containerEnd(doc []byte, i int) int {
	depth := 0
	for ; i < len(doc); i++ {
		switch doc[i] {
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1
			}
		case '"':
			end, _ := stringEnd(doc, i+1)
			if end < 0 {
				return -1
			}
			i = end
		}
	}
	return -1
}

// skipSpace returns the index of the first byte from i that is not JSON
// white space.
func skipSpace(doc []byte, i int) int {
	for i < len(doc) && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\n' || doc[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index of the quote that ends the JSON string whose
// text starts at i, and whether the string holds an escape; -1 if none.
func stringEnd(doc []byte, i int) (int, bool) {
	escaped := false
	for {
		q := bytes.IndexByte(doc[i:], '"')
		if q < 0 {
			return -1, escaped
		}
		// The quote ends the string unless an odd run of backslashes escapes it.
		text := doc[i : i+q]
		if bytes.IndexByte(text, '\\') < 0 {
			return i + q, escaped
		}
		escaped = true
		n := 0
		for n < len(text) && text[len(text)-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return i + q, escaped
		}
		i += q + 1
	}
}

// isSeedTime reports whether s is a timestamp in the seed format
// (2006-01-02 15:04:05.000000), followed by "|<anything>" if token is set.
func isSeedTime(s []byte, token bool) bool {
	const shape = "0000-00-00 00:00:00.000000"
	if len(s) < len(shape) || len(s) > len(shape) && (!token || s[len(shape)] != '|') {
		return false
	}
	for i := range len(shape) {
		if shape[i] == '0' {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		} else if s[i] != shape[i] {
			return false
		}
	}
	return true
}
