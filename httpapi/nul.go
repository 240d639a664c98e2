package httpapi

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/convohq/convo"
)

// NUL characters cannot be stored in PostgreSQL's text, and nobody means
// one in a name or a message: API input holding one is refused, naming
// where it was, so that both databases answer alike. (Provider input is
// stored with them removed instead; see the service.)

// errNUL is the answer to input holding a NUL character at where.
func errNUL(where string) error {
	return convo.Invalid("NUL_CHARACTER", "%s contains a NUL character (\\u0000)", where)
}

// checkRequestNUL refuses a query parameter holding a NUL. (A path's
// parameters are all ids, which refuse anything else.)
func checkRequestNUL(r *http.Request) error {
	if strings.IndexByte(r.URL.RawQuery, 0) < 0 && !strings.Contains(r.URL.RawQuery, "%00") {
		return nil
	}
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.IndexByte(k, 0) >= 0 {
			return errNUL("a query parameter name")
		}
		for _, v := range q[k] {
			if strings.IndexByte(v, 0) >= 0 {
				return errNUL("query parameter " + k)
			}
		}
	}
	return nil
}

// checkBodyNUL refuses a JSON body with a NUL in any string or key. JSON
// writes a NUL only as the escape \u0000, so bodies without it are passed
// at the cost of one search.
func checkBodyNUL(body []byte) error {
	if !bytes.Contains(body, []byte(`\u0000`)) {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil // the decoder reports what is wrong with it
	}
	if where := findNUL(v, ""); where != "" {
		return errNUL(where)
	}
	return nil
}

// findNUL returns the path (field.sub[2]) of the first string holding a NUL.
func findNUL(v any, path string) string {
	switch v := v.(type) {
	case string:
		if strings.IndexByte(v, 0) >= 0 {
			return path
		}
	case []any:
		for i, e := range v {
			if where := findNUL(e, path+"["+strconv.Itoa(i)+"]"); where != "" {
				return where
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			field := k
			if path != "" {
				field = path + "." + k
			}
			if strings.IndexByte(k, 0) >= 0 {
				return "a field name in " + cmp.Or(path, "the body")
			}
			if where := findNUL(v[k], field); where != "" {
				return where
			}
		}
	}
	return ""
}
