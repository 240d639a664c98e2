package sqlstore

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/convohq/convo"
)

// adapterValue returns the plain value a column adapter (micros,
// optionalID, jsonText, folded, senderPart) stands for now; ok is false for any other argument.
func adapterValue(a any) (v any, ok bool, err error) {
	switch a := a.(type) {
	case micros:
		return a.t.Micros(), true, nil
	case optionalID:
		return a.text(), true, nil
	case jsonText:
		s, err := a.text()
		return s, true, err
	case folded:
		return a.text(), true, nil
	case optionalJSON:
		s, err := a.text()
		return s, true, err
	case seconds:
		return a.value(), true, nil
	case senderPart:
		return a.text(), true, nil
	}
	return nil, false, nil
}

// folded stores a string lower-cased, for case-insensitive matching that
// is the same on both engines (SQLite's lower() knows ASCII alone). It is
// derived from a field read from its own column, so reading it discards it.
type folded struct{ s *string }

func (f folded) text() string { return strings.ToLower(*f.s) }

func (f folded) Value() (driver.Value, error) { return f.text(), nil }

func (folded) Scan(any) error { return nil }

// micros stores a convo.Time as microseconds since the Unix epoch.
type micros struct{ t *convo.Time }

func (m micros) Value() (driver.Value, error) { return m.t.Micros(), nil }

func (m micros) Scan(src any) error {
	us, ok := src.(int64)
	if !ok {
		return fmt.Errorf("sqlstore: timestamp column holds %T", src)
	}
	*m.t = convo.TimeFromMicros(us)
	return nil
}

// jsonText stores a value as JSON text; a nil slice is stored as [] so that
// it reads back as an empty slice.
type jsonText struct{ v any }

func (j jsonText) Value() (driver.Value, error) { return j.text() }

func (j jsonText) text() (string, error) {
	b, err := json.Marshal(j.v)
	if string(b) == "null" {
		return "[]", err
	}
	return string(b), err
}

// Scan decodes with the encoding/json API on the json/v2 implementation:
// the same results, in less than half the time (JSON columns are read for
// every conversation an inbound batch touches).
func (j jsonText) Scan(src any) error {
	switch s := src.(type) {
	case string:
		return jsonv1.Unmarshal([]byte(s), j.v)
	case []byte:
		return jsonv1.Unmarshal(s, j.v)
	}
	return fmt.Errorf("sqlstore: JSON column holds %T", src)
}

// optionalID stores an unset id ("") as convo.NilID, since PostgreSQL's uuid
// type has no empty value.
type optionalID struct{ id *string }

func (o optionalID) Value() (driver.Value, error) { return o.text(), nil }

func (o optionalID) text() string {
	if *o.id == "" {
		return convo.NilID
	}
	return *o.id
}

func (o optionalID) Scan(src any) error {
	switch s := src.(type) {
	case string:
		*o.id = s
	case []byte:
		*o.id = string(s)
	default:
		return fmt.Errorf("sqlstore: id column holds %T", src)
	}
	return nil
}

// optionalJSON stores a pointer as JSON text, and nil as "".
type optionalJSON struct{ v any }

func (o optionalJSON) Value() (driver.Value, error) { return o.text() }

func (o optionalJSON) text() (string, error) {
	b, err := json.Marshal(o.v)
	if string(b) == "null" {
		return "", err
	}
	return string(b), err
}

// Scan reads "" as nil; o.v points to a pointer, which it sets.
func (o optionalJSON) Scan(src any) error {
	var b []byte
	switch s := src.(type) {
	case string:
		b = []byte(s)
	case []byte:
		b = s
	default:
		return fmt.Errorf("sqlstore: JSON column holds %T", src)
	}
	if len(b) == 0 {
		b = []byte("null")
	}
	return jsonv1.Unmarshal(b, o.v)
}

// seconds stores a convo.Duration as whole seconds.
type seconds struct{ d *convo.Duration }

func (s seconds) value() int64 { return int64(time.Duration(*s.d) / time.Second) }

func (s seconds) Value() (driver.Value, error) { return s.value(), nil }

func (s seconds) Scan(src any) error {
	n, ok := src.(int64)
	if !ok {
		return fmt.Errorf("sqlstore: duration column holds %T", src)
	}
	*s.d = convo.Duration(time.Duration(n) * time.Second)
	return nil
}

// senderPart stores one half of a message's sender: its type, or with id
// its id; both are "" when there is none. The type column must be read
// before the id column, which fills the sender the type made.
type senderPart struct {
	s  **convo.MessageSender
	id bool
}

func (p senderPart) text() string {
	switch {
	case *p.s == nil:
		return ""
	case p.id:
		return (*p.s).ID
	}
	return (*p.s).Type
}

func (p senderPart) Value() (driver.Value, error) { return p.text(), nil }

func (p senderPart) Scan(src any) error {
	var v string
	switch s := src.(type) {
	case string:
		v = s
	case []byte:
		v = string(s)
	default:
		return fmt.Errorf("sqlstore: sender column holds %T", src)
	}
	switch {
	case !p.id && v == "":
		*p.s = nil
	case !p.id:
		*p.s = &convo.MessageSender{Type: v}
	case *p.s != nil:
		(*p.s).ID = v
	}
	return nil
}
