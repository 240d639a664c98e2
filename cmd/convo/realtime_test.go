package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/internal/webhooktest"
)

// This file tests the realtime WebSocket stream GET /v1.0/ws.

// streamEvent is one message of the realtime stream.
type streamEvent struct {
	ID   string
	Type string
	Data map[string]any
	Keys []string
}

// subject is the conversation (or account) an event is about.
func (e streamEvent) subject() string {
	return webhooktest.Request{Type: e.Type, Data: e.Data}.Subject()
}

func (e streamEvent) String() string { return e.Type + "(" + e.subject() + ")" }

// streamClient reads a realtime stream in the background.
type streamClient struct {
	conn   *websocket.Conn
	events chan streamEvent
	// skip holds ids of events the reader drops (see dialLive).
	skip map[string]bool
}

// wsURL turns a server's base URL and a query into the stream's URL. A
// query starting with a path ("/v1.0/service_agents/ws?...") names the
// stream's other route.
func wsURL(base, query string) string {
	path := "/v1.0/ws?"
	if strings.HasPrefix(query, "/") {
		path = ""
	}
	return "ws://" + strings.TrimPrefix(base, "http://") + path + query
}

// dialStreamStatus tries to open a stream and returns the handshake's HTTP
// status when it is refused (0 when it opened, after closing it).
func dialStreamStatus(t testing.TB, base, query string, header http.Header) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, wsURL(base, query), &websocket.DialOptions{HTTPHeader: header})
	if err == nil {
		conn.Close(websocket.StatusNormalClosure, "")
		return 0
	}
	if res == nil {
		t.Fatalf("dial %s: %v", query, err)
	}
	return res.StatusCode
}

// dialStream opens a stream that must be accepted.
func dialStream(t testing.TB, base, query string, header http.Header) *streamClient {
	t.Helper()
	return dialStreamSkipping(t, base, query, header, nil)
}

// dialStreamSkipping is dialStream, leaving out the events with ids in skip.
func dialStreamSkipping(t testing.TB, base, query string, header http.Header, skip map[string]bool) *streamClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, wsURL(base, query), &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("open the stream (%s): status %d: %v", query, status, err)
	}
	conn.SetReadLimit(1 << 20)
	c := &streamClient{conn: conn, events: make(chan streamEvent, 4096), skip: skip}
	go func() {
		defer close(c.events)
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var raw map[string]json.RawMessage
			var ev struct {
				ID   string         `json:"id"`
				Type string         `json:"type"`
				Data map[string]any `json:"data"`
			}
			if json.Unmarshal(b, &raw) != nil || json.Unmarshal(b, &ev) != nil {
				c.events <- streamEvent{Type: "invalid JSON: " + string(b)}
				continue
			}
			if c.skip[ev.ID] {
				continue
			}
			c.events <- streamEvent{ID: ev.ID, Type: ev.Type, Data: ev.Data, Keys: slices.Sorted(maps.Keys(raw))}
		}
	}()
	t.Cleanup(c.close)
	return c
}

// dialLive opens a live stream (no since) that leaves out the events a's
// customer had before it opened. A live stream starts after the newest
// settled event, and on PostgreSQL an event committed a moment ago may
// not be settled yet while any transaction of the server (of any test)
// that began before it is open; the stream then sends it too, as it must
// rather than risk skipping one. Tests of what comes after the dial read
// only that.
func dialLive(t testing.TB, a *api, query string, header http.Header) *streamClient {
	t.Helper()
	known := map[string]bool{}
	for _, d := range listDeliveries(a, nil) {
		known[d.ID] = true
	}
	return dialStreamSkipping(t, a.base, query, header, known)
}

func (c *streamClient) close() { c.conn.Close(websocket.StatusNormalClosure, "") }

// next returns the next event, failing t when none comes in 10 s.
func (c *streamClient) next(t testing.TB) streamEvent {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			t.Fatal("the stream closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event came on the stream within 10 s")
	}
	return streamEvent{}
}

// until reads events up to and including the first that matches.
func (c *streamClient) until(t testing.TB, match func(streamEvent) bool) []streamEvent {
	t.Helper()
	var got []streamEvent
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatalf("the stream closed after %v", got)
			}
			got = append(got, ev)
			if match(ev) {
				return got
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the awaited event did not come within 10 s; got %v", got)
		}
	}
}

// awaitSequenced waits until the customer's newest event has its place in
// the stream (a stream can start after it), so that a stream opened next
// starts after everything done so far: events committed but not yet
// sequenced when a stream opens are sent on it as new.
func awaitSequenced(t testing.TB, a *api, query string) {
	t.Helper()
	var page struct {
		Result []hookDelivery `json:"result"`
	}
	a.do("GET", "/v1.0/webhook_deliveries?page_size=1", nil).Decode(t, &page)
	if len(page.Result) == 0 {
		return
	}
	eventually(t, 10*time.Second, func() error {
		if got := dialStreamStatus(t, a.base, query+"&since="+page.Result[0].ID, nil); got != 0 {
			return fmt.Errorf("a stream since event %s is refused with %d", page.Result[0].ID, got)
		}
		return nil
	})
}

// detailIs matches a conversation_updated event whose detail is d.
func detailIs(d string) func(streamEvent) bool {
	return func(e streamEvent) bool { return e.Type == convo.EventConversationUpdated && e.Data["detail"] == d }
}

func TestRealtimeStream(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withFastEvents())
		admin := ts.as(ts.AdminKey)
		acc := newSMSHookAccount(admin)
		key := "accesskey=" + url.QueryEscape(ts.AdminKey)

		t.Run("live events", func(t *testing.T) {
			s := dialLive(t, admin, key, nil)
			conv := admin.newConversation(acc.ID)
			ev := s.next(t)
			if ev.Type != convo.EventConversationCreated || !sameJSON(ev.Data, webhookForm(conv)) {
				t.Fatalf("first event %s %v, want conversation_created %v", ev.Type, ev.Data, webhookForm(conv))
			}
			if !slices.Equal(ev.Keys, []string{"data", "id", "type"}) {
				t.Errorf("stream message keys %v, want id, type and data", ev.Keys)
			}
			d := deliveryByID(admin, ev.ID)
			if d.Type != ev.Type || !sameJSON(d.data(t), ev.Data) {
				t.Errorf("the stream's id %s names a %s event with %s", ev.ID, d.Type, d.Payload)
			}
			renamed := admin.ok("PUT", "/v1.0/conversations/"+sget(conv, "id"), map[string]any{"name": "live rename"})
			if ev := s.next(t); ev.Type != convo.EventConversationUpdated || !sameJSON(ev.Data, webhookForm(renamed)) {
				t.Errorf("second event %s %v, want the rename", ev.Type, ev.Data)
			}
		})

		t.Run("since replays the gap, then live events", func(t *testing.T) {
			witness := dialLive(t, admin, key, nil)
			s := dialLive(t, admin, key, nil)
			peer := uniquePhone()
			conv := admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": peer}})
			convID := sget(conv, "id")
			last := s.next(t)
			if last.Type != convo.EventConversationCreated || last.subject() != convID {
				t.Fatalf("got %v, want the conversation's creation", last)
			}
			witness.next(t)
			s.close()

			// Changes while the client is away.
			admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"name": "while away"})
			inboundSMS(t, acc, "SMgap"+randomKey(6), peer, "sent while the client was away")
			other := sget(admin.newConversation(acc.ID), "id")
			admin.ok("PUT", "/v1.0/conversations/"+other, map[string]any{"detail": "gap end"})
			gap := witness.until(t, detailIs("gap end"))
			if len(gap) != 4 {
				t.Fatalf("the witness saw %v during the gap, want 4 events", gap)
			}

			again := dialStream(t, ts.URL(), key+"&since="+last.ID, nil)
			admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"detail": "live again"})
			live := witness.until(t, detailIs("live again"))
			got := again.until(t, detailIs("live again"))
			want := append(gap, live...)
			if len(got) != len(want) {
				t.Fatalf("after reconnecting: %v, want %v", got, want)
			}
			for i := range want {
				if got[i].ID != want[i].ID || got[i].Type != want[i].Type || !sameJSON(got[i].Data, want[i].Data) {
					t.Errorf("event %d after reconnecting: %v %s, want %v %s", i, got[i], got[i].ID, want[i], want[i].ID)
				}
			}
			// A stream without since starts at the newest settled event: it
			// may send the last few events again (those not settled when it
			// opened), never the customer's history.
			before := listDeliveries(admin, nil)
			fresh := dialStream(t, ts.URL(), key, nil)
			admin.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"detail": "fresh"})
			if got := fresh.until(t, detailIs("fresh")); slices.ContainsFunc(got, func(e streamEvent) bool { return e.ID == before[len(before)-1].ID }) {
				t.Errorf("a stream without since replayed %v", got[:len(got)-1])
			}
		})

		t.Run("a plain agent sees only its conversations", func(t *testing.T) {
			// Unassigned conversations are every agent's to see unless the
			// customer keeps them from plain agents (tested in status_test.go).
			admin.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": false})
			defer admin.ok("PUT", "/v1.0/customer", map[string]any{"agents_take_unassigned": true})
			agentA, tokenA := admin.newAgent(convo.PermissionCustomerAgent)
			agentB, tokenB := admin.newAgent(convo.PermissionCustomerAgent)
			peerA, peerB := uniquePhone(), uniquePhone()
			convA := sget(admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": peerA}}), "id")
			convB := sget(admin.ok("POST", "/v1.0/conversations", map[string]any{"account_id": acc.ID, "peer": map[string]any{"type": "tel", "target": peerB}}), "id")
			admin.ok("PUT", "/v1.0/conversations/"+convA, map[string]any{"owner_id": agentA})
			admin.ok("PUT", "/v1.0/conversations/"+convB, map[string]any{"owner_id": agentB})
			streamA := dialLive(t, admin, "token="+url.QueryEscape(tokenA), nil)
			streamB := dialLive(t, admin, "", http.Header{"Authorization": {"Bearer " + tokenB}})
			admin.ok("PUT", "/v1.0/conversations/"+convB, map[string]any{"name": "b renamed"})
			admin.ok("PUT", "/v1.0/conversations/"+convA, map[string]any{"name": "a renamed"})
			admin.ok("PUT", "/v1.0/conversation_accounts/"+acc.ID, map[string]any{"detail": "account change"})
			admin.newConversation(acc.ID)
			inboundSMS(t, acc, "SMb"+randomKey(6), peerB, "for b")
			inboundSMS(t, acc, "SMa"+randomKey(6), peerA, "for a")
			admin.ok("PUT", "/v1.0/conversations/"+convB, map[string]any{"detail": "b marker"})
			admin.ok("PUT", "/v1.0/conversations/"+convA, map[string]any{"detail": "a marker"})

			wantTypes := []string{convo.EventConversationUpdated, convo.EventMessageCreated, convo.EventConversationUpdated}
			for _, c := range []struct {
				name, conv, marker string
				stream             *streamClient
			}{{"A", convA, "a marker", streamA}, {"B", convB, "b marker", streamB}} {
				got := c.stream.until(t, detailIs(c.marker))
				var types []string
				for _, ev := range got {
					if ev.Type == convo.EventUnassignedQueueChanged {
						// The queue's closing above, which a live stream may
						// replay while it is not yet settled: the customer's, no
						// conversation's.
						continue
					}
					types = append(types, ev.Type)
					if ev.subject() != c.conv {
						t.Errorf("agent %s saw %v, which is not about its conversation %s", c.name, ev, c.conv)
					}
				}
				if !slices.Equal(types, wantTypes) {
					t.Errorf("agent %s saw %v, want %v", c.name, got, wantTypes)
				}
			}
		})

		t.Run("credentials and since are checked before the upgrade", func(t *testing.T) {
			for _, c := range []struct {
				name, query string
				header      http.Header
			}{
				{"no credential", "", nil},
				{"bad access key", "accesskey=not-a-key", nil},
				{"bad token", "token=not.a.token", nil},
				{"bad Authorization", "", http.Header{"Authorization": {"Bearer nope"}}},
			} {
				if got := dialStreamStatus(t, ts.URL(), c.query, c.header); got != http.StatusUnauthorized {
					t.Errorf("%s: handshake status %d, want 401", c.name, got)
				}
			}
			super := loginAdmin(t, ts)
			_, otherKey := super.newCustomer()
			newSMSHookAccount(ts.as(otherKey))
			theirs := listDeliveries(ts.as(otherKey), nil)
			if len(theirs) == 0 {
				t.Fatal("the other customer has no event")
			}
			// The event is usable as since by its own customer...
			awaitSequenced(t, ts.as(otherKey), "accesskey="+url.QueryEscape(otherKey))
			// ...and is not found for any other.
			if got := dialStreamStatus(t, ts.URL(), key+"&since="+theirs[0].ID, nil); got != http.StatusNotFound {
				t.Errorf("since = another customer's event: status %d, want 404", got)
			}
			for _, bad := range []string{convo.NewID(), "not-an-id"} {
				if got := dialStreamStatus(t, ts.URL(), key+"&since="+bad, nil); got != http.StatusNotFound {
					t.Errorf("since=%s: status %d, want 404", bad, got)
				}
			}
		})
	})
}
