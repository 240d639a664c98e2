package service

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/sqlstore"
)

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		cond, valueType, have, wantString string
		wantNumber                        float64
		want                              bool
	}{
		{"==", "string", "yes", "yes", 0, true},
		{"==", "", "yes", "yes", 0, true},
		{"==", "string", "yes", "no", 0, false},
		{"!=", "string", "yes", "no", 0, true},
		{"!=", "string", "yes", "yes", 0, false},
		{"<", "string", "apple", "banana", 0, true},
		{">", "string", "apple", "banana", 0, false},
		{">=", "string", "b", "b", 0, true},
		{"<=", "string", "c", "b", 0, false},
		// Numbers compare as numbers, not as text ("10" < "9" as strings).
		{">", "number", "10", "", 9, true},
		{"<", "number", "10", "", 9, false},
		{"==", "number", " 3.0 ", "", 3, true},
		{">=", "number", "3", "", 3, true},
		{"<=", "number", "2.5", "", 3, true},
		{"!=", "number", "3", "", 3, false},
		// A value that is not a number is only "not equal" to one.
		{"==", "number", "abc", "", 0, false},
		{">", "number", "abc", "", -1, false},
		{"<", "number", "", "", 1, false},
		{"!=", "number", "abc", "", 0, true},
		{"=~", "string", "a", "a", 0, false},
	} {
		if got := compare(tc.cond, tc.valueType, tc.have, tc.wantString, tc.wantNumber); got != tc.want {
			t.Errorf("compare(%q, %q, %q, %q, %v) = %v, want %v", tc.cond, tc.valueType, tc.have, tc.wantString, tc.wantNumber, got, tc.want)
		}
	}
}

func TestVariableName(t *testing.T) {
	for in, want := range map[string]string{
		"voipbin.conversation_message.text":           "voipbin.conversation_message.text",
		" voipbin.flow.id ":                           "voipbin.flow.id",
		"${voipbin.conversation_message.text}":        "voipbin.conversation_message.text",
		"${ spaced }":                                 "spaced",
		"${unterminated":                              "${unterminated",
		"prefix ${voipbin.conversation_message.text}": "prefix ${voipbin.conversation_message.text}",
	} {
		if got := variableName(in); got != want {
			t.Errorf("variableName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNextAction(t *testing.T) {
	a, b, c := convo.NewID(), convo.NewID(), convo.NewID()
	actions := []convo.Action{
		{ID: a, NextID: convo.NilID, Type: convo.ActionVariableSet},
		{ID: b, NextID: a, Type: convo.ActionVariableSet},
		{ID: c, NextID: "", Type: convo.ActionStop},
	}
	for _, tc := range []struct {
		name     string
		action   convo.Action
		chosen   string
		want     string
		wantNext bool
	}{
		{"the following action", actions[0], "", b, true},
		{"the following action, nil chosen", actions[0], convo.NilID, b, true},
		{"next_id wins over the order", actions[1], "", a, true},
		{"the chosen target wins over next_id", actions[1], c, c, true},
		{"the last action ends the run", actions[2], "", "", false},
		{"a target that is gone ends the run", actions[0], convo.NewID(), "", false},
		{"an action that is not in the list ends the run", convo.Action{ID: convo.NewID()}, "", "", false},
	} {
		got, ok := nextAction(actions, tc.action, tc.chosen)
		if ok != tc.wantNext || got.ID != tc.want {
			t.Errorf("%s: nextAction = %q, %v; want %q, %v", tc.name, got.ID, ok, tc.want, tc.wantNext)
		}
	}
}

// flowActions builds actions from JSON, as a request body carries them.
func flowActions(t *testing.T, js string) []convo.Action {
	t.Helper()
	var actions []convo.Action
	if err := json.Unmarshal([]byte(js), &actions); err != nil {
		t.Fatalf("bad test actions: %v", err)
	}
	return actions
}

func TestNormalizeActionsAccepts(t *testing.T) {
	a, b := convo.NewID(), convo.NewID()
	upper := strings.ToUpper(b)
	in := flowActions(t, `[
		{"id": "`+a+`", "type": "conversation_send", "option": {"text": "hi ${voipbin.conversation.peer.target}"}},
		{"type": " branch ", "option": {"variable": "voipbin.conversation_message.text", "default_target_id": "`+a+`", "target_ids": {"1": "`+upper+`"}}},
		{"id": "`+upper+`", "next_id": "`+a+`", "type": "sleep", "option": {"duration": 250}},
		{"type": "goto", "option": {"target_id": "`+a+`", "loop_count": 1000000}},
		{"type": "sleep", "option": {"duration": 2.5}},
		{"type": "condition_variable", "option": {"condition": ">=", "variable": "n", "value_type": "number", "value_number": 2, "false_target_id": "`+a+`"}},
		{"type": "webhook_send", "option": {"uri": "https://example.com/hook", "method": "PUT", "data_type": "text/plain", "data": "x"}},
		{"type": "webhook_send", "option": {"uri": "${target}"}},
		{"type": "variable_set", "option": {"key": "k", "value": "v"}},
		{"type": "talk", "option": {"text": "voice only, skipped"}},
		{"type": "stop"},
		{"id": "00000000-0000-0000-0000-000000000000", "type": "stop", "option": null}
	]`)
	out, err := normalizeActions(in)
	if err != nil {
		t.Fatalf("normalizeActions: %v", err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d actions out, want %d", len(out), len(in))
	}
	seen := map[string]bool{}
	for i, act := range out {
		if _, err := convo.ParseID(act.ID); err != nil || convo.IsNilID(act.ID) || seen[act.ID] {
			t.Errorf("action %d has id %q, want a fresh UUID", i, act.ID)
		}
		seen[act.ID] = true
		if len(act.Option) == 0 || !json.Valid(act.Option) {
			t.Errorf("action %d has option %q, want a JSON object", i, act.Option)
		}
	}
	if out[0].ID != a || out[2].ID != b {
		t.Errorf("given ids became %s and %s, want %s and %s (canonical form)", out[0].ID, out[2].ID, a, b)
	}
	if out[2].NextID != a || out[0].NextID != convo.NilID {
		t.Errorf("next ids are %q and %q, want %q and the nil UUID", out[2].NextID, out[0].NextID, a)
	}
	if out[1].Type != convo.ActionBranch {
		t.Errorf("type %q, want it trimmed to %q", out[1].Type, convo.ActionBranch)
	}
	if string(out[11].Option) != "{}" {
		t.Errorf("a null option became %s, want {}", out[10].Option)
	}
	if in[4].ID != "" {
		t.Errorf("normalizeActions changed its input")
	}
}

func TestNormalizeActionsRefuses(t *testing.T) {
	id, other := convo.NewID(), convo.NewID()
	for _, tc := range []struct {
		name    string
		actions string
		// want is in the message: the action's index and what is wrong.
		want []string
	}{
		{"duplicate ids", `[{"id": "` + id + `", "type": "stop"}, {"id": "` + strings.ToUpper(id) + `", "type": "stop"}]`, []string{"action 1", "id"}},
		{"id not a UUID", `[{"type": "stop"}, {"id": "action-2", "type": "stop"}]`, []string{"action 1", "UUID"}},
		{"no type", `[{"type": "stop"}, {"type": "stop"}, {"type": " "}]`, []string{"action 2", "type"}},
		{"next_id to a missing action", `[{"type": "stop", "next_id": "` + other + `"}]`, []string{"action 0", "next_id"}},
		{"next_id not a UUID", `[{"type": "stop", "next_id": "second"}]`, []string{"action 0", "next_id"}},
		{"goto without target", `[{"type": "stop"}, {"type": "goto", "option": {"loop_count": 2}}]`, []string{"action 1", "target_id"}},
		{"goto to a missing action", `[{"type": "goto", "option": {"target_id": "` + other + `"}}]`, []string{"action 0", "target_id"}},
		{"goto loop_count a string", `[{"id": "` + id + `", "type": "goto", "option": {"target_id": "` + id + `", "loop_count": "2"}}]`, []string{"action 0", "loop_count"}},
		{"goto loop_count negative", `[{"id": "` + id + `", "type": "goto", "option": {"target_id": "` + id + `", "loop_count": -1}}]`, []string{"action 0", "loop_count"}},
		{"goto loop_count a fraction", `[{"id": "` + id + `", "type": "goto", "option": {"target_id": "` + id + `", "loop_count": 2.5}}]`, []string{"action 0", "loop_count"}},
		{"goto loop_count too big for the engine", `[{"id": "` + id + `", "type": "goto", "option": {"target_id": "` + id + `", "loop_count": 1e12}}]`, []string{"action 0", "loop_count"}},
		{"sleep longer than a time.Duration", `[{"type": "sleep", "option": {"duration": 1e13}}]`, []string{"action 0", "duration"}},
		{"sleep duration text", `[{"type": "sleep", "option": {"duration": "abc"}}]`, []string{"action 0", "duration"}},
		{"sleep without duration", `[{"type": "stop"}, {"type": "sleep", "option": {}}]`, []string{"action 1", "duration"}},
		{"condition =~", `[{"type": "condition_variable", "option": {"condition": "=~", "variable": "v"}}]`, []string{"action 0", "condition"}},
		{"condition value_type", `[{"type": "condition_variable", "option": {"condition": "==", "variable": "v", "value_type": "bool"}}]`, []string{"action 0", "value_type"}},
		{"condition value_number text", `[{"type": "condition_variable", "option": {"condition": "==", "variable": "v", "value_number": "1"}}]`, []string{"action 0", "value_number"}},
		{"condition false target missing", `[{"type": "condition_variable", "option": {"condition": "==", "variable": "v", "false_target_id": "` + other + `"}}]`, []string{"action 0", "false_target_id"}},
		{"branch target missing", `[{"type": "branch", "option": {"variable": "v", "target_ids": {"1": "` + other + `"}}}]`, []string{"action 0", "target_ids.1"}},
		{"branch target not a string", `[{"type": "branch", "option": {"variable": "v", "target_ids": {"1": 5}}}]`, []string{"action 0", "target_ids.1"}},
		{"branch target_ids a list", `[{"type": "branch", "option": {"variable": "v", "target_ids": ["a"]}}]`, []string{"action 0", "target_ids"}},
		{"branch default missing", `[{"type": "branch", "option": {"variable": "v", "default_target_id": "` + other + `"}}]`, []string{"action 0", "default_target_id"}},
		{"branch without variable", `[{"type": "branch", "option": {}}]`, []string{"action 0", "variable"}},
		{"send text a number", `[{"type": "conversation_send", "option": {"text": 5}}]`, []string{"action 0", "text"}},
		{"send to a non-UUID", `[{"type": "conversation_send", "option": {"conversation_id": "abc", "text": "x"}}]`, []string{"action 0", "conversation_id"}},
		{"webhook without uri", `[{"type": "webhook_send", "option": {"data": "x"}}]`, []string{"action 0", "uri"}},
		{"webhook ftp uri", `[{"type": "webhook_send", "option": {"uri": "ftp://example.com/x"}}]`, []string{"action 0", "uri"}},
		{"webhook method", `[{"type": "webhook_send", "option": {"uri": "https://example.com/x", "method": "PATCH"}}]`, []string{"action 0", "method"}},
		{"variable_set without key", `[{"type": "variable_set", "option": {"value": "v"}}]`, []string{"action 0", "key"}},
		{"option not an object", `[{"type": "stop", "option": [1, 2]}]`, []string{"action 0", "option"}},
	} {
		_, err := normalizeActions(flowActions(t, tc.actions))
		if convo.ErrorStatus(err) != convo.EInvalid || convo.ErrorReason(err) != "INVALID_ACTION" {
			t.Errorf("%s: error %v, want INVALID_ACTION", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if msg := convo.ErrorMessage(err); !strings.Contains(msg, w) {
				t.Errorf("%s: message %q does not name %q", tc.name, msg, w)
			}
		}
	}
	if _, err := normalizeActions(make([]convo.Action, convo.MaxFlowActions+1)); convo.ErrorReason(err) != convo.ReasonTooLong {
		t.Errorf("%d actions: error %v, want TOO_LONG", convo.MaxFlowActions+1, err)
	}
}

// TestActiveflowStopNotLost checks what runActiveflow and StopActiveflow
// rely on: a transaction that read an activeflow to change it keeps others
// from changing it meanwhile, so a stop that commits while a step is being
// executed is never overwritten by the step's write.
func TestActiveflowStopNotLost(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ctx := context.Background()
		store, err := sqlstore.Open(ctx, b.DSN, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		now := convo.NewTime(time.Now())
		step := convo.Action{ID: convo.NewID(), NextID: convo.NilID, Type: convo.ActionVariableSet, Option: json.RawMessage("{}")}
		af := &convo.Activeflow{ID: convo.NewID(), CustomerID: convo.NewID(), FlowID: convo.NewID(), Status: convo.ActiveflowRunning,
			ReferenceType: "conversation", ReferenceID: convo.NewID(), CurrentAction: step, ExecutedActions: []convo.Action{},
			Actions: []convo.Action{step}, Variables: map[string]string{}, LoopCounts: map[string]int{},
			TMCreate: now, TMUpdate: now, TMDelete: convo.Never}
		if err := store.Update(ctx, func(tx convo.Tx) error { return tx.CreateActiveflow(ctx, af) }); err != nil {
			t.Fatal(err)
		}
		read := make(chan struct{})
		stepDone := make(chan error, 1)
		go func() {
			// A slow step: read, work a while, write the run's new state.
			stepDone <- store.Update(ctx, func(tx convo.Tx) error {
				got, err := tx.GetActiveflow(ctx, af.ID)
				close(read)
				if err != nil {
					return err
				}
				time.Sleep(300 * time.Millisecond)
				got.ExecuteCount++
				return tx.UpdateActiveflow(ctx, got)
			})
		}()
		<-read
		err = store.Update(ctx, func(tx convo.Tx) error {
			got, err := tx.GetActiveflow(ctx, af.ID)
			if err != nil {
				return err
			}
			got.Status = convo.ActiveflowEnded
			return tx.UpdateActiveflow(ctx, got)
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := <-stepDone; err != nil {
			t.Fatal(err)
		}
		var final *convo.Activeflow
		if err := store.View(ctx, func(tx convo.Tx) (err error) {
			final, err = tx.GetActiveflow(ctx, af.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if final.Status != convo.ActiveflowEnded || final.ExecuteCount != 1 {
			t.Errorf("after a step and a stop at the same time the activeflow is %s after %d actions, want ended after 1", final.Status, final.ExecuteCount)
		}
	})
}
