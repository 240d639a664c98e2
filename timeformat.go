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
// values under keys starting with "tm_" (also inside an object or array
// such a key holds, as an audit entry's old and new) and next_page_token;
// only values exactly in the seed format change. In the seed format, or
// when nothing changes, doc itself is returned: documents are stored and
// built in the seed format, and rendered only as they leave.
func (f TimeFormat) RenderJSON(doc []byte) []byte {
	if f != TimeRFC3339 {
		return doc
	}
	var out []byte
	last := 0 // doc[last:] is not copied to out yet
	// The open objects and arrays, innermost last.
	type container struct{ object, times bool }
	stack := make([]container, 0, 8)
	// atKey: the next string is a key; timeValue, tokenValue: what the next value is.
	atKey, timeValue, tokenValue := false, false, false
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
				return doc // not JSON: left as it is
			}
			s := doc[i+1 : end]
			switch {
			case atKey:
				inherited := len(stack) > 0 && stack[len(stack)-1].times
				tokenValue = string(s) == "next_page_token"
				timeValue = inherited || len(s) > 3 && string(s[:3]) == "tm_"
				atKey = false
			case escaped || !(timeValue || tokenValue):
			case string(s) == neverText && !tokenValue:
				out = append(append(growFor(out, doc), doc[last:i]...), "null"...)
				last = end + 1
			case isSeedTime(s, tokenValue):
				// 2022-06-23 05:05:40.950834 → 2022-06-23T05:05:40.950834Z, a token's |<id> kept.
				out = append(growFor(out, doc), doc[last:i+11]...)
				out = append(append(append(out, 'T'), s[11:len(neverText)]...), 'Z')
				last = i + 1 + len(neverText)
			}
			i = end
		}
	}
	if out == nil {
		return doc
	}
	return append(out, doc[last:]...)
}

// growFor makes out, the rendering of doc, once: with room for doc and a
// few changes, so that appending rarely copies.
func growFor(out, doc []byte) []byte {
	if out == nil {
		out = make([]byte, 0, len(doc)+len(doc)/16+64)
	}
	return out
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
