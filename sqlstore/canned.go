package sqlstore

import (
	"context"
	"strings"

	"github.com/convohq/convo"
)

var cannedResponses = newTable(
	kind{what: "canned response", notFound: convo.ReasonCannedResponseNotFound, conflict: convo.ReasonShortCodeTaken,
		conflictDetail: "a live canned response of the customer has the short code"},
	"canned_responses", "id, customer_id, tm_create",
	"short_code, text, short_code_fold, text_fold, tm_update, tm_delete",
	"(customer_id, short_code_fold) WHERE "+live,
	func(r *convo.CannedResponse) []any {
		return []any{&r.ID, &r.CustomerID, micros{&r.TMCreate}, &r.ShortCode, &r.Text, folded{&r.ShortCode}, folded{&r.Text},
			micros{&r.TMUpdate}, micros{&r.TMDelete}}
	}).listedBy(
	allBy("canned_responses_by_customer", "customer_id"),
)

func (t *tx) CreateCannedResponse(ctx context.Context, r *convo.CannedResponse) error {
	return cannedResponses.insert(ctx, t, r)
}

func (t *tx) GetCannedResponse(ctx context.Context, id string) (*convo.CannedResponse, error) {
	return cannedResponses.getByID(ctx, t, id)
}

// ListCannedResponses matches q on the folded columns as it walks the
// customer's rows: a customer has a few hundred canned responses at most,
// which needs no full-text index.
func (t *tx) ListCannedResponses(ctx context.Context, p convo.CannedResponseListParams) ([]*convo.CannedResponse, error) {
	var f filter
	f.equalID("customer_id", p.CustomerID)
	f.deleted(false)
	if words := strings.Fields(strings.ToLower(p.Query)); len(words) > 0 {
		// The short code starts with q, or the text holds each of its words.
		like := "text_fold LIKE ? ESCAPE '\\'"
		cond := "(short_code_fold LIKE ? ESCAPE '\\' OR (" + like + strings.Repeat(" AND "+like, len(words)-1) + "))"
		args := []any{likeEscape(strings.Join(words, " ")) + "%"}
		for _, w := range words {
			args = append(args, "%"+likeEscape(w)+"%")
		}
		f.add(cond, args...)
	}
	return cannedResponses.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateCannedResponse(ctx context.Context, r *convo.CannedResponse) error {
	return cannedResponses.update(ctx, t, r)
}

// likeEscape quotes LIKE's wildcards and its escape character in s.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
