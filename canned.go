package convo

// CannedResponse is a prepared reply of a customer's agents, found by its
// short code as they type. A short code is unique among the customer's live
// canned responses.
type CannedResponse struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	ShortCode  string `json:"short_code"`
	Text       string `json:"text"`
	TMCreate   Time   `json:"tm_create"`
	TMUpdate   Time   `json:"tm_update"`
	TMDelete   Time   `json:"tm_delete"`
}

// MaxShortCode bounds a canned response's short code, in bytes: a word an
// agent types, not a text.
const MaxShortCode = 64

// CannedResponseListParams selects the live canned responses of a customer.
// Query, when set, keeps those whose short code starts with it or whose
// text holds each of its words, both compared case-insensitively.
type CannedResponseListParams struct {
	CustomerID string
	Query      string
	Page
}
