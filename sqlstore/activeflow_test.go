package sqlstore_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

// testActiveflows stores VoIPbin's activeflow fields and the chain length,
// reads them back unchanged, keeps the fixed ones across updates and
// refuses a second run of one id.
func testActiveflows(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	action := convo.Action{ID: convo.NewID(), NextID: convo.NilID, Type: convo.ActionStop, Option: []byte(`{}`)}
	first := &convo.Activeflow{ID: convo.NewID(), CustomerID: convo.NewID(), FlowID: convo.NewID(), Status: convo.ActiveflowEnded,
		ReferenceType: convo.ReferenceAPI, ReferenceID: convo.NilID, ReferenceActiveflowID: convo.NilID,
		OnCompleteFlowID: convo.NewID(), WebhookURI: "https://example.com/run", WebhookMethod: "PUT", ForwardActionID: convo.NilID,
		ChainLength: 1, CurrentAction: action, ExecutedActions: []convo.Action{}, Actions: []convo.Action{action},
		Variables: map[string]string{"campaign": "summer"}, LoopCounts: map[string]int{}, TMCreate: at(0), TMUpdate: at(0), TMDelete: convo.Never}
	next := *first
	next.ID, next.FlowID, next.Status, next.ReferenceActiveflowID, next.ChainLength = convo.NewID(), first.OnCompleteFlowID, convo.ActiveflowRunning, first.ID, 2
	next.OnCompleteFlowID, next.TMCreate, next.TMUpdate = convo.NilID, at(time.Second), at(time.Second)
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateActiveflow, first, &next) })

	get := func(id string) *convo.Activeflow {
		return read(t, db, func(tx convo.Tx) (*convo.Activeflow, error) { return tx.GetActiveflow(ctx, id) })
	}
	for _, want := range []*convo.Activeflow{first, &next} {
		if got := get(want.ID); !reflect.DeepEqual(got, want) {
			t.Errorf("read back\n %+v\nwant\n %+v", got, want)
		}
	}
	list := read(t, db, func(tx convo.Tx) ([]*convo.Activeflow, error) {
		return tx.ListActiveflows(ctx, convo.ActiveflowListParams{CustomerID: first.CustomerID, Page: convo.Page{Limit: 10}})
	})
	if len(list) != 2 || list[0].ReferenceActiveflowID != first.ID || list[0].ChainLength != 2 || list[1].WebhookURI != first.WebhookURI {
		t.Errorf("list %+v, want both runs with their links", list)
	}

	// An update writes the run's state; where it came from stays.
	changed := next
	changed.Status, changed.ExecuteCount, changed.TMUpdate = convo.ActiveflowEnded, 1, at(2*time.Second)
	changed.ReferenceActiveflowID, changed.WebhookURI, changed.ChainLength = convo.NewID(), "https://example.com/other", 9
	update(t, db, func(tx convo.Tx) error { return tx.UpdateActiveflow(ctx, &changed) })
	got := get(next.ID)
	if got.Status != convo.ActiveflowEnded || got.ExecuteCount != 1 || got.ReferenceActiveflowID != first.ID || got.WebhookURI != first.WebhookURI || got.ChainLength != 2 {
		t.Errorf("after update %+v, want the new state and the old links", got)
	}

	dup := *first
	dup.CustomerID = convo.NewID()
	err := db.Update(ctx, func(tx convo.Tx) error { return tx.CreateActiveflow(ctx, &dup) })
	if convo.ErrorStatus(err) != convo.EConflict {
		t.Errorf("a second run of one id: %v, want a conflict", err)
	}
}
