package convo

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestRenderJSON(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"resource",
			`{"id":"x","tm_create":"2022-06-23 05:05:40.950834","tm_delete":"9999-01-01 00:00:00.000000"}`,
			`{"id":"x","tm_create":"2022-06-23T05:05:40.950834Z","tm_delete":null}`},
		{"list and token",
			`{"result":[{"tm_update":"2022-06-23 05:05:40.950834"}],"next_page_token":"2022-06-23 05:05:40.950834"}`,
			`{"result":[{"tm_update":"2022-06-23T05:05:40.950834Z"}],"next_page_token":"2022-06-23T05:05:40.950834Z"}`},
		{"token with id",
			`{"result":[],"next_page_token":"2022-06-23 05:05:40.950834|0193a1f2-7c4d-7e3a-9b2c-5d6e7f8a9b0c"}`,
			`{"result":[],"next_page_token":"2022-06-23T05:05:40.950834Z|0193a1f2-7c4d-7e3a-9b2c-5d6e7f8a9b0c"}`},
		{"empty token", `{"result":[],"next_page_token":""}`, `{"result":[],"next_page_token":""}`},
		{"nested payload",
			`{"payload":{"type":"t","data":{"tm_create":"2022-06-23 05:05:40.950834"}},"tm_delivered":"9999-01-01 00:00:00.000000"}`,
			`{"payload":{"type":"t","data":{"tm_create":"2022-06-23T05:05:40.950834Z"}},"tm_delivered":null}`},
		{"audit change under a tm_ key",
			`{"changes":{"tm_expire":{"old":null,"new":"2022-06-23 05:05:40.950834"},"name":{"old":"2022-06-23 05:05:40.950834","new":"b"}}}`,
			`{"changes":{"tm_expire":{"old":null,"new":"2022-06-23T05:05:40.950834Z"},"name":{"old":"2022-06-23 05:05:40.950834","new":"b"}}}`},
		{"a conversation's WhatsApp window, open and never opened",
			`[{"whatsapp_window_expires":"2022-06-23 05:05:40.950834"},{"whatsapp_window_expires":"9999-01-01 00:00:00.000000"}]`,
			`[{"whatsapp_window_expires":"2022-06-23T05:05:40.950834Z"},{"whatsapp_window_expires":null}]`},
		{"a conversation's snoozed_until, also as an audit change",
			`{"status":"snoozed","snoozed_until":"2022-06-23 05:05:40.950834","changes":{"snoozed_until":{"old":"9999-01-01 00:00:00.000000","new":"2022-06-23 05:05:40.950834"}}}`,
			`{"status":"snoozed","snoozed_until":"2022-06-23T05:05:40.950834Z","changes":{"snoozed_until":{"old":null,"new":"2022-06-23T05:05:40.950834Z"}}}`},
		{"other keys untouched",
			`{"text":"2022-06-23 05:05:40.950834","name":"tm_create","detail":"9999-01-01 00:00:00.000000"}`,
			`{"text":"2022-06-23 05:05:40.950834","name":"tm_create","detail":"9999-01-01 00:00:00.000000"}`},
		{"not exactly the seed format",
			`{"tm_a":"2022-06-23 05:05:40","tm_b":"2022-06-23 05:05:40.950834 ","tm_c":"2022-06-23T05:05:40.950834Z","tm_d":null,"tm_e":"2022-06-23 05:05:40.950834|x"}`,
			`{"tm_a":"2022-06-23 05:05:40","tm_b":"2022-06-23 05:05:40.950834 ","tm_c":"2022-06-23T05:05:40.950834Z","tm_d":null,"tm_e":"2022-06-23 05:05:40.950834|x"}`},
		{"escapes and spacing",
			"{ \"text\" : \"a \\\"tm_x\\\": \\\"2022-06-23 05:05:40.950834\\\"\" ,\n \"tm_create\" : \"2022-06-23 05:05:40.950834\" }",
			"{ \"text\" : \"a \\\"tm_x\\\": \\\"2022-06-23 05:05:40.950834\\\"\" ,\n \"tm_create\" : \"2022-06-23T05:05:40.950834Z\" }"},
		{"stream frame", `{"id":"e","type":"t","data":{"tm_create":"2022-06-23 05:05:40.950834"}}`,
			`{"id":"e","type":"t","data":{"tm_create":"2022-06-23T05:05:40.950834Z"}}`},
		{"not JSON", `tm_create: "2022-06-23 05:05:40.950834`, `tm_create: "2022-06-23 05:05:40.950834`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := string(TimeRFC3339.RenderJSON([]byte(c.in))); got != c.want {
				t.Errorf("rfc3339:\n got %s\nwant %s", got, c.want)
			}
			if got := string(TimeSeed.RenderJSON([]byte(c.in))); got != c.in {
				t.Errorf("seed changed the document: %s", got)
			}
		})
	}
}

// A document rendered in RFC 3339 reads back to the same moments.
func TestRenderJSONReadsBack(t *testing.T) {
	at := NewTime(time.Date(2026, 1, 15, 9, 30, 0, 123456000, time.UTC))
	c := Conversation{ID: NilID, TMCreate: at, TMUpdate: at, TMDelete: Never}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out := TimeRFC3339.RenderJSON(b)
	if !strings.Contains(string(out), `"tm_create":"2026-01-15T09:30:00.123456Z"`) || !strings.Contains(string(out), `"tm_delete":null`) {
		t.Fatalf("rendered %s", out)
	}
	var back Conversation
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if !back.TMCreate.Equal(at.Time) || !back.TMDelete.IsNever() {
		t.Errorf("read back tm_create %v tm_delete %v", back.TMCreate, back.TMDelete)
	}
}

func TestParseTimeFormat(t *testing.T) {
	for in, want := range map[string]TimeFormat{"": TimeSeed, "seed": TimeSeed, "rfc3339": TimeRFC3339} {
		if got, err := ParseTimeFormat(in); err != nil || got != want {
			t.Errorf("ParseTimeFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"RFC3339", "iso", " seed"} {
		if _, err := ParseTimeFormat(in); err == nil || !strings.Contains(err.Error(), `"seed" or "rfc3339"`) {
			t.Errorf("ParseTimeFormat(%q): %v, want an error naming both formats", in, err)
		}
	}
}

// benchDocuments are a list page of 100 conversations and a message
// webhook body, as the server renders them.
func benchDocuments(b *testing.B) (page, webhook []byte) {
	at := NewTime(time.Date(2026, 1, 15, 9, 30, 0, 123456000, time.UTC))
	rows := make([]*Conversation, 100)
	for i := range rows {
		rows[i] = &Conversation{ID: NewID(), CustomerID: NewID(), OwnerType: OwnerAgent, OwnerID: NewID(), AccountID: NewID(),
			Name: "Conversation with +15550100000", Type: ConversationMessage, DialogID: "+15550100000",
			Self: Address{Type: AddressTel, Target: "+15550100001"}, Peer: Address{Type: AddressTel, Target: "+15550100000"},
			TMCreate: at, TMUpdate: at, TMDelete: Never}
	}
	page, err := json.Marshal(List[*Conversation]{Result: rows, NextPageToken: at.String()})
	if err != nil {
		b.Fatal(err)
	}
	webhook, err = EventPayload(EventMessageCreated, &Message{ID: NewID(), CustomerID: NewID(), ConversationID: NewID(),
		Direction: DirectionIncoming, Status: MessageDone, ReferenceType: ConversationMessage, ReferenceID: NewID(),
		Source: Address{Type: AddressTel, Target: "+15550100000"}, Destination: Address{Type: AddressTel, Target: "+15550100001"},
		Text: "Hello, is my order on its way?", Medias: []Media{}, TMCreate: at, TMUpdate: at, TMDelete: Never})
	if err != nil {
		b.Fatal(err)
	}
	return page, webhook
}

func BenchmarkRenderJSON(b *testing.B) {
	page, webhook := benchDocuments(b)
	for _, f := range []TimeFormat{TimeSeed, TimeRFC3339} {
		for name, doc := range map[string][]byte{"list100": page, "webhook": webhook} {
			b.Run(string(f)+"/"+name, func(b *testing.B) {
				b.SetBytes(int64(len(doc)))
				b.ReportAllocs()
				for b.Loop() {
					f.RenderJSON(doc)
				}
			})
		}
	}
	// Into a reused buffer, as the HTTP server renders answers.
	b.Run("rfc3339-reused/list100", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = TimeRFC3339.AppendJSON(buf[:0], page)
		}
	})
	// For scale: encoding the page, which every answer does anyway.
	b.Run("marshal/list100", func(b *testing.B) {
		var list List[*Conversation]
		if err := json.Unmarshal(page, &list); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			json.Marshal(list)
		}
	})
}

func TestAppendJSON(t *testing.T) {
	doc := []byte(`{"tm_create":"2022-06-23 05:05:40.950834","text":"x"}`)
	for _, c := range []struct {
		f    TimeFormat
		doc  string
		want string
	}{
		{TimeSeed, string(doc), "> " + string(doc)},
		{TimeRFC3339, string(doc), `> {"tm_create":"2022-06-23T05:05:40.950834Z","text":"x"}`},
		{TimeRFC3339, `{"text":"x"}`, `> {"text":"x"}`},
	} {
		for _, dst := range [][]byte{[]byte("> "), append(make([]byte, 0, 1024), "> "...)} {
			if got := string(c.f.AppendJSON(dst, []byte(c.doc))); got != c.want {
				t.Errorf("%s, cap %d: AppendJSON = %s, want %s", c.f, cap(dst), got, c.want)
			}
		}
	}
}

// The key-jumping rendering agrees with reading every token, and keeps a
// valid document valid.
func FuzzRenderJSON(f *testing.F) {
	for _, doc := range []string{
		`{"id":"x","tm_create":"2022-06-23 05:05:40.950834","tm_delete":"9999-01-01 00:00:00.000000"}`,
		`{"result":[{"tm_update":"2022-06-23 05:05:40.950834"}],"next_page_token":"2022-06-23 05:05:40.950834|0193a1f2-7c4d-7e3a-9b2c-5d6e7f8a9b0c"}`,
		`{"changes":{"tm_expire":{"old":null,"new":"2022-06-23 05:05:40.950834"}},"tm_x":["2022-06-23 05:05:40.950834",{"a":"9999-01-01 00:00:00.000000"}]}`,
		`{"text":"a \"tm_x\": \"2022-06-23 05:05:40.950834\" \\","tm_create" : "2022-06-23 05:05:40.950834"}`,
		`{"tm_":"0000-00-00 00:00:00.000000"}`,
		`["tm_a", {"x_tm_y":"2022-06-23 05:05:40.950834", "next_page_token_x":"2022-06-23 05:05:40.950834"}]`,
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !json.Valid(doc) {
			return
		}
		fast, fastChanged := renderKeys(nil, doc)
		slow, slowChanged := renderTree(doc, false)
		if fastChanged != slowChanged || string(fast) != string(slow) {
			t.Fatalf("renderings differ for %s:\nkeys %v %s\ntree %v %s", doc, fastChanged, fast, slowChanged, slow)
		}
		if out := TimeRFC3339.RenderJSON(doc); !json.Valid(out) {
			t.Fatalf("rendered %s as invalid JSON %s", doc, out)
		}
	})
}
