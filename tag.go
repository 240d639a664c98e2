package convo

// Tag is a label of a customer's agents; conversations will be routed to
// the agents holding a tag. A name is unique among a customer's live tags.
type Tag struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	Name       string `json:"name"`
	Detail     string `json:"detail"`
	TMCreate   Time   `json:"tm_create"`
	TMUpdate   Time   `json:"tm_update"`
	TMDelete   Time   `json:"tm_delete"`
}

// TagListParams selects the live tags of a customer.
type TagListParams struct {
	CustomerID string
	Page
}
