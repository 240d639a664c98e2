package sqlstore

import (
	"testing"

	"github.com/convohq/convo"
)

// BenchmarkJSONColumns writes and reads back the JSON address columns of a
// conversation, as every inbound message does for its conversation.
func BenchmarkJSONColumns(b *testing.B) {
	peer := convo.Address{Type: convo.AddressLine, Target: "U4af4980629d2f9a2b1f8c8e5a5b7d9e1", TargetName: "Brown"}
	text, err := jsonText{&peer}.text()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (jsonText{&peer}).text(); err != nil {
			b.Fatal(err)
		}
		var got convo.Address
		if err := (jsonText{&got}).Scan(text); err != nil || got != peer {
			b.Fatal(got, err)
		}
	}
}
