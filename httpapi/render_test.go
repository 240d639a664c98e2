package httpapi

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/convohq/convo"
)

// conversationPage is a full page of realistic conversations as the list
// query returns them.
func conversationPage() convo.List[*convo.Conversation] {
	now := convo.NewTime(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	rows := make([]*convo.Conversation, 100)
	for i := range rows {
		rows[i] = &convo.Conversation{ID: convo.NewID(), CustomerID: convo.NewID(), OwnerType: convo.OwnerAgent, OwnerID: convo.NewID(),
			AccountID: convo.NewID(), Name: "Conversation with Ada Lovelace", Detail: "LINE", Type: convo.ConversationLine,
			DialogID: "U4af4980629e4a2b7f1f6a4f1e6a4f1e6",
			Self:     convo.Address{Type: convo.AddressLine, Target: "", TargetName: "Support"},
			Peer:     convo.Address{Type: convo.AddressLine, Target: "U4af4980629e4a2b7f1f6a4f1e6a4f1e6", TargetName: "Ada Lovelace"},
			TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
	}
	return convo.NewList(convo.PageRequest{Size: 100}, rows, func(c *convo.Conversation) convo.Cursor {
		return convo.Cursor{Time: c.TMCreate, ID: c.ID}
	})
}

// TestWriteConversationPage: the rendered page is the JSON of the page.
func TestWriteConversationPage(t *testing.T) {
	page := conversationPage()
	rec := httptest.NewRecorder()
	writeJSON(rec, 200, page)
	var got struct {
		Result []map[string]any `json:"result"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Result) != 100 || got.Result[0]["id"] != page.Result[0].ID || got.Result[0]["tm_delete"] != "9999-01-01 00:00:00.000000" {
		t.Fatalf("rendered %d rows, first %v", len(got.Result), got.Result[0])
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
}

// BenchmarkWriteConversationPage renders GET /conversations with 100 rows.
func BenchmarkWriteConversationPage(b *testing.B) {
	page := conversationPage()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		writeJSON(rec, 200, page)
		b.SetBytes(int64(rec.Body.Len()))
	}
}
