package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/convohq/convo"
)

// ---------------------------------------------------------------- reading convo's state

// convsOf lists the live conversations of an account.
func convsOf(a *api, accountID string) []map[string]any {
	a.t.Helper()
	return rows(a.t, a.ok("GET", "/v1.0/conversations"+q("account_id", accountID), nil))
}

// convWith returns the one live conversation of an account with a dialog.
func convWith(a *api, accountID, dialogID string) map[string]any {
	a.t.Helper()
	list := rows(a.t, a.ok("GET", "/v1.0/conversations"+q("account_id", accountID, "dialog_id", dialogID), nil))
	if len(list) != 1 {
		a.t.Fatalf("%d conversations with dialog %s on account %s, want 1: %v", len(list), dialogID, accountID, list)
	}
	return list[0]
}

// msgsOf lists a conversation's messages, newest first.
func msgsOf(a *api, convID string) []map[string]any {
	a.t.Helper()
	return rows(a.t, a.ok("GET", "/v1.0/conversations/"+convID+"/messages", nil))
}

// msgOf returns one message of a conversation by id.
func msgOf(a *api, convID, msgID string) map[string]any {
	a.t.Helper()
	for _, m := range msgsOf(a, convID) {
		if m["id"] == msgID {
			return m
		}
	}
	a.t.Fatalf("message %s is not in conversation %s", msgID, convID)
	return nil
}

// waitStatus waits until a message has status want.
func waitStatus(a *api, convID, msgID, want string) {
	a.t.Helper()
	eventually(a.t, 10*time.Second, func() error {
		got := msgOf(a, convID, msgID)["status"]
		if got != want && got != "progressing" {
			// Status only moves forward: done or failed is final here.
			a.t.Fatalf("message %s is %v, want %s", msgID, got, want)
		}
		if got != want {
			return fmt.Errorf("message %s is %v, want %s", msgID, got, want)
		}
		return nil
	})
}

// send posts a message on a conversation and returns the answer.
func send(a *api, convID string, body map[string]any) map[string]any {
	a.t.Helper()
	return a.ok("POST", "/v1.0/conversations/"+convID+"/messages", body)
}

func wantStatus(t testing.TB, r *response, code int) {
	t.Helper()
	if r.Status != code {
		t.Fatalf("status %d, want %d\n%s", r.Status, code, r.Body)
	}
}

// wantRefused checks an error answer: HTTP code, envelope status and reason,
// and the request id of the header.
func wantRefused(t testing.TB, r *response, code int, status, reason string) {
	t.Helper()
	if r.Status != code {
		t.Fatalf("status %d, want %d\n%s", r.Status, code, r.Body)
	}
	var env struct {
		Error struct {
			Status    string `json:"status"`
			Reason    string `json:"reason"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &env); err != nil {
		t.Fatalf("error answer is not the JSON envelope: %v\n%s", err, r.Body)
	}
	e := env.Error
	if e.Status != status || (reason != "" && e.Reason != reason) || e.Message == "" {
		t.Errorf("error %+v, want status %s reason %s", e, status, reason)
	}
	if id := r.Header.Get("X-Request-Id"); id == "" || id != e.RequestID {
		t.Errorf("request_id %q, X-Request-Id %q: want the same, non-empty", e.RequestID, id)
	}
}

// checkAddress compares an address object with all five of its keys.
func checkAddress(t testing.TB, what string, got any, typ, target, targetName string) {
	t.Helper()
	want := map[string]any{"type": typ, "target": target, "target_name": targetName, "name": "", "detail": ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s is %v, want %v", what, got, want)
	}
}

// checkConversation checks the fields of a conversation of an account.
func checkConversation(t testing.TB, c map[string]any, acc *testAccount, customerID, typ, dialogID, name, detail string) {
	t.Helper()
	want := map[string]any{"customer_id": customerID, "account_id": acc.ID, "type": typ, "dialog_id": dialogID,
		"name": name, "detail": detail, "owner_type": "", "owner_id": convo.NilID, "tm_delete": neverTime}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("conversation %s is %v, want %v", k, c[k], v)
		}
	}
}

type wantMedia struct{ Type, Filename string }

// checkMessage checks a message's direction, status, type, text and medias,
// and that source and destination are the conversation's peer and self in
// the direction's order (type and target).
func checkMessage(t testing.TB, m, conv map[string]any, direction, status, text string, medias ...wantMedia) {
	t.Helper()
	want := map[string]any{"conversation_id": conv["id"], "customer_id": conv["customer_id"], "direction": direction,
		"status": status, "reference_type": conv["type"], "text": text}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("message %s is %v, want %v", k, m[k], v)
		}
	}
	from, to := "peer", "self"
	if direction == convo.DirectionOutgoing {
		from, to = to, from
	}
	for key, party := range map[string]string{"source": from, "destination": to} {
		got, _ := m[key].(map[string]any)
		wantAddr, _ := conv[party].(map[string]any)
		if got == nil || got["type"] != wantAddr["type"] || got["target"] != wantAddr["target"] {
			t.Errorf("message %s is %v, want the conversation's %s %v", key, m[key], party, conv[party])
		}
	}
	got, ok := m["medias"].([]any)
	if !ok {
		t.Errorf("medias is %T (%v), want an array", m["medias"], m["medias"])
		return
	}
	var gotMedias []wantMedia
	for _, raw := range got {
		md, _ := raw.(map[string]any)
		gotMedias = append(gotMedias, wantMedia{fmt.Sprint(md["type"]), fmt.Sprint(md["filename"])})
		if id, _ := md["id"].(string); !uuidPattern.MatchString(id) || md["customer_id"] != conv["customer_id"] {
			t.Errorf("media %v: want a UUID id and the conversation's customer_id", md)
		}
	}
	if len(gotMedias) != len(medias) || (len(medias) > 0 && !reflect.DeepEqual(gotMedias, medias)) {
		t.Errorf("medias are %v, want %v", gotMedias, medias)
	}
}
