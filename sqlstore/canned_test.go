package sqlstore_test

import (
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/sqlstore"
)

func newCanned(customerID, code, text string, tm convo.Time) *convo.CannedResponse {
	return &convo.CannedResponse{ID: convo.NewID(), CustomerID: customerID, ShortCode: code, Text: text, TMCreate: tm, TMUpdate: tm, TMDelete: convo.Never}
}

func testCannedResponses(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	custA, custB := convo.NewID(), convo.NewID()
	thanks := newCanned(custA, "Thanks", "Thank you for your Order, we ship it today.", at(0))
	hours := newCanned(custA, "hours", "We are open 9 to 5, Monday to Friday.", at(time.Second))
	ja := newCanned(custA, "arigato", "ご連絡ありがとうございます。", at(2*time.Second))
	wild := newCanned(custA, "50%_off", "Half price: 50% off.", at(3*time.Second))
	gone := newCanned(custA, "thanks-old", "Thank you, old.", at(4*time.Second))
	gone.TMDelete = at(time.Hour)
	other := newCanned(custB, "thanks", "Thank you from B.", at(5*time.Second))
	update(t, db, func(tx convo.Tx) error {
		return createAll(ctx, tx.CreateCannedResponse, thanks, hours, ja, wild, gone, other)
	})

	for _, want := range []*convo.CannedResponse{thanks, hours, ja, wild, gone, other} {
		same(t, read(t, db, func(tx convo.Tx) (*convo.CannedResponse, error) { return tx.GetCannedResponse(ctx, want.ID) }), want)
	}
	_, err := readErr(db, func(tx convo.Tx) (*convo.CannedResponse, error) { return tx.GetCannedResponse(ctx, convo.NewID()) })
	wantErr(t, err, convo.ENotFound, convo.ReasonCannedResponseNotFound)
	_, err = readErr(db, func(tx convo.Tx) (*convo.CannedResponse, error) { return tx.GetCannedResponse(ctx, "not-a-uuid") })
	wantErr(t, err, convo.ENotFound, convo.ReasonCannedResponseNotFound)

	// A short code is unique, ignoring case, among a customer's live ones.
	err = db.Update(ctx, func(tx convo.Tx) error {
		return tx.CreateCannedResponse(ctx, newCanned(custA, "THANKS", "x", at(6*time.Second)))
	})
	wantErr(t, err, convo.EConflict, convo.ReasonShortCodeTaken)
	update(t, db, func(tx convo.Tx) error {
		return tx.CreateCannedResponse(ctx, newCanned(custB, "hours", "B's", at(6*time.Second)))
	})
	err = db.Update(ctx, func(tx convo.Tx) error {
		r, err := tx.GetCannedResponse(ctx, hours.ID)
		if err != nil {
			return err
		}
		r.ShortCode = "thanks"
		return tx.UpdateCannedResponse(ctx, r)
	})
	wantErr(t, err, convo.EConflict, convo.ReasonShortCodeTaken)
	same(t, read(t, db, func(tx convo.Tx) (*convo.CannedResponse, error) { return tx.GetCannedResponse(ctx, hours.ID) }), hours)

	hours.ShortCode, hours.Text, hours.TMUpdate = "Opening", "We are open 9 to 5, Monday to Saturday.", at(time.Minute)
	update(t, db, func(tx convo.Tx) error { return tx.UpdateCannedResponse(ctx, hours) })
	same(t, read(t, db, func(tx convo.Tx) (*convo.CannedResponse, error) { return tx.GetCannedResponse(ctx, hours.ID) }), hours)
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.UpdateCannedResponse(ctx, newCanned(custA, "nobody", "x", base)) })
	wantErr(t, err, convo.ENotFound, convo.ReasonCannedResponseNotFound)

	list := func(q string, limit int) []string {
		return ids(read(t, db, func(tx convo.Tx) ([]*convo.CannedResponse, error) {
			return tx.ListCannedResponses(ctx, convo.CannedResponseListParams{CustomerID: custA, Query: q, Page: convo.Page{Limit: limit}})
		}), func(r *convo.CannedResponse) string { return r.ID })
	}
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"", []string{wild.ID, ja.ID, hours.ID, thanks.ID}},
		{"   ", []string{wild.ID, ja.ID, hours.ID, thanks.ID}},
		{"th", []string{thanks.ID}},         // a short code's prefix, ignoring case
		{"OPEN", []string{hours.ID}},        // prefix of the renamed code
		{"hours", nil},                      // the old code is gone
		{"hanks", nil},                      // inside a code, not a prefix, and not in any text
		{"order SHIP", []string{thanks.ID}}, // every word in the text, ignoring case
		{"order monday", nil},               // words of two texts
		{"ありがとう", []string{ja.ID}},          // Japanese, inside the text
		{"50%", []string{wild.ID}},          // wildcards match themselves
		{"%", []string{wild.ID}},            //
		{"_", nil},                          // matches itself alone, not any character
		{"saturday to", []string{hours.ID}}, // words in any order
		{`\`, nil},                          // the escape character matches itself
		{"thank", []string{thanks.ID}},      // not the deleted one, nor another customer's
	} {
		if got := list(c.q, 0); !sameSet(got, c.want) {
			t.Errorf("q %q lists %v, want %v", c.q, got, c.want)
		}
	}
	if got := list("", 2); len(got) != 2 || got[0] != wild.ID || got[1] != ja.ID {
		t.Errorf("the first page of 2 is %v, want [%s %s]", got, wild.ID, ja.ID)
	}
}
