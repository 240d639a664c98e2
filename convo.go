// Package convo holds the domain of the convo conversation hub: its resources,
// their rules, the error codes and the interfaces the rest of the program
// implements. It imports only the standard library.
package convo

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Version is the release of this build; the linker may override it.
var Version = "0.1.0-dev"

// NilID is the UUID that means "not set" in every UUID field.
const NilID = "00000000-0000-0000-0000-000000000000"

// Clock tells the time; tests replace it to control timestamps.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// FixedClock always answers the same moment; tests use it to create rows
// that share one timestamp.
type FixedClock struct{ At time.Time }

// Now returns the fixed moment.
func (c FixedClock) Now() time.Time { return c.At }

// idState keeps generated UUIDv7 values strictly increasing within a process,
// so rows created in the same microsecond still sort by id.
var idState struct {
	sync.Mutex
	last [16]byte
}

// NewID returns a new time-ordered UUID (version 7). Time-ordered keys keep
// index inserts local, which roughly doubles batched write rates.
func NewID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	binary.BigEndian.PutUint64(b[0:8], ms<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(fmt.Sprintf("convo: no randomness: %v", err))
	}
	idState.Lock()
	// Within one millisecond, continue from the last value (monotonic counter in the random bits).
	if string(b[0:6]) <= string(idState.last[0:6]) {
		b = idState.last
		for i := 15; i >= 6; i-- {
			b[i]++
			if b[i] != 0 {
				break
			}
		}
	}
	idState.last = b
	idState.Unlock()
	b[6] = (b[6] & 0x0f) | 0x70
	b[8] = (b[8] & 0x3f) | 0x80
	return formatID(b)
}

func formatID(b [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// ParseID checks that s is a UUID in its textual form and returns it in
// canonical lower case.
func ParseID(s string) (string, error) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return "", errors.New("not a UUID")
	}
	var b [16]byte
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i--
			continue
		}
		if _, err := hex.Decode(b[j:j+1], []byte(s[i:i+2])); err != nil {
			return "", errors.New("not a UUID")
		}
		j++
	}
	return formatID(b), nil
}

// IsNilID reports whether id is empty or the nil UUID.
func IsNilID(id string) bool { return id == "" || id == NilID }

// TimeLayout is the seed format of timestamps: how they are stored and
// built; TimeFormat renders them for the wire.
const TimeLayout = "2006-01-02 15:04:05.000000"

// Time is a UTC moment with microsecond precision that renders in the wire
// format. The zero Time renders as the "not yet" sentinel.
type Time struct{ time.Time }

// Never is the sentinel for a moment that has not happened (9999-01-01).
var Never = Time{time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}

// NewTime truncates t to microseconds in UTC.
func NewTime(t time.Time) Time { return Time{t.UTC().Truncate(time.Microsecond)} }

// TimeFromMicros converts microseconds since the Unix epoch.
func TimeFromMicros(us int64) Time { return Time{time.UnixMicro(us).UTC()} }

// Micros returns microseconds since the Unix epoch; the zero Time is Never.
func (t Time) Micros() int64 {
	if t.IsZero() {
		return Never.UnixMicro()
	}
	return t.UnixMicro()
}

// IsNever reports whether t is the sentinel (or unset).
func (t Time) IsNever() bool { return t.IsZero() || !t.Before(Never.Time) }

// String renders t in the wire format.
func (t Time) String() string {
	if t.IsNever() {
		return "9999-01-01 00:00:00.000000"
	}
	return t.UTC().Format(TimeLayout)
}

// MarshalJSON renders t as a JSON string in the wire format.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.String() + `"`), nil
}

// UnmarshalJSON accepts the seed format or RFC 3339, and null (the RFC 3339
// form of Never).
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Never
		return nil
	}
	s := strings.Trim(string(b), `"`)
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// ParseTime reads a timestamp in the seed format (fraction optional) or
// RFC 3339, whatever the configured TimeFormat.
func ParseTime(s string) (Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999", time.RFC3339Nano} {
		if v, err := time.Parse(layout, s); err == nil {
			return NewTime(v), nil
		}
	}
	return Time{}, fmt.Errorf("not a timestamp: %q", s)
}
