package convo_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/convohq/convo"
)

func TestSubstitute(t *testing.T) {
	vars := map[string]string{
		"voipbin.conversation_message.text": "hello",
		"voipbin.conversation.peer.target":  "+15550001",
		"name":                              "Ann",
		"tricky":                            "${name}",
	}
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"no variables here", "no variables here"},
		{"You said: ${voipbin.conversation_message.text}", "You said: hello"},
		{"${voipbin.conversation_message.text}", "hello"},
		{"${name}${name}", "AnnAnn"},
		{"from ${voipbin.conversation.peer.target} to ${name}.", "from +15550001 to Ann."},
		{"unknown [${unknown}] and [${voipbin.nope}]", "unknown [] and []"},
		{"spaces ${ name } trimmed", "spaces Ann trimmed"},
		// A value is inserted as is, never substituted again.
		{"${tricky}", "${name}"},
		// Text that is not a complete reference stays.
		{"price $5 and ${unterminated", "price $5 and ${unterminated"},
		{"{name} $name $ {name}", "{name} $name $ {name}"},
		{"${name} then ${unterminated", "Ann then ${unterminated"},
		{"$${name}", "$Ann"},
		{"${}", ""},
	} {
		if got := convo.Substitute(tc.in, vars); got != tc.want {
			t.Errorf("Substitute(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := convo.Substitute("a ${x} b", nil); got != "a  b" {
		t.Errorf("Substitute with no variables = %q, want %q", got, "a  b")
	}
}

func TestSubstituteJSON(t *testing.T) {
	vars := map[string]string{
		"text": `she said "hi" \ <b>&`,
		"peer": "+15550001",
		"key":  "not-a-key",
	}
	decode := func(t *testing.T, raw json.RawMessage) any {
		t.Helper()
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("result %s is not JSON: %v", raw, err)
		}
		return v
	}
	t.Run("every string of nested values", func(t *testing.T) {
		in := json.RawMessage(`{"text":"${text}","peer":"to ${peer}","${key}":"k","n":5,"b":true,"z":null,
			"list":["${peer}",1,{"deep":"${text}!"}],"obj":{"inner":"${missing}x"}}`)
		got, err := convo.SubstituteJSON(in, vars)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"text": vars["text"], "peer": "to +15550001", "${key}": "k", "n": 5.0, "b": true, "z": nil,
			"list": []any{"+15550001", 1.0, map[string]any{"deep": vars["text"] + "!"}},
			"obj":  map[string]any{"inner": "x"},
		}
		if v := decode(t, got); !reflect.DeepEqual(v, want) {
			t.Errorf("SubstituteJSON = %s\nwant %v", got, want)
		}
	})
	t.Run("a top-level string", func(t *testing.T) {
		got, err := convo.SubstituteJSON(json.RawMessage(`"hi ${peer}"`), vars)
		if err != nil {
			t.Fatal(err)
		}
		if v := decode(t, got); v != "hi +15550001" {
			t.Errorf("SubstituteJSON = %s, want \"hi +15550001\"", got)
		}
	})
	t.Run("no reference leaves the bytes alone", func(t *testing.T) {
		for _, in := range []string{``, `{"a": "b",  "n": 1.50}`, `not json at all`} {
			got, err := convo.SubstituteJSON(json.RawMessage(in), vars)
			if err != nil || string(got) != in {
				t.Errorf("SubstituteJSON(%q) = %q, %v; want it unchanged", in, got, err)
			}
		}
	})
	t.Run("invalid JSON with a reference fails", func(t *testing.T) {
		if got, err := convo.SubstituteJSON(json.RawMessage(`{"a": "${peer}"`), vars); err == nil {
			t.Errorf("SubstituteJSON of broken JSON = %s, want an error", got)
		}
	})
}
