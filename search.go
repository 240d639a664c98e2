package convo

// Search kinds: what a search hit is, and the values of its type filter.
const (
	SearchConversation = "conversation"
	SearchMessage      = "message"
)

// Bounds of a search query, in characters (runes): the trigram indexes of
// both databases need three to match anything; a longer query is a
// sentence, not something to look for.
const (
	MinSearchQuery = 3
	MaxSearchQuery = 256
)

// SearchParams selects the conversations and messages of a customer whose
// text holds Query, case-insensitively, as a substring. Hits come in one
// order: conversations, then messages, each kind newest first as stored
// (see Tx.Search). Deleted conversations and their messages are never hits.
type SearchParams struct {
	CustomerID string
	Query      string
	// Kind, when set (SearchConversation or SearchMessage), keeps hits of that kind.
	Kind string
	// Visible, when set, limits the hits to the conversations a plain agent may see.
	Visible *SearchVisibility
	// After, when set, is the last hit of the previous page: a conversation's
	// or a message's id, with its tm_create. A cursor with no id keeps the hits
	// created before its time.
	After *Cursor
	Limit int
}

// SearchVisibility is the rule of what a plain agent may see: the
// conversations it owns and, when OrUnassigned is set, those nobody owns.
type SearchVisibility struct {
	OwnerID      string
	OrUnassigned bool
}

// SearchHit is one result: a conversation, or a message with its conversation.
type SearchHit struct {
	Conversation *Conversation
	// Message is nil for a conversation hit.
	Message *Message
}

// SearchResult is a hit as rendered: the conversation, the message (null
// for a conversation hit), the field that matched and an excerpt of it
// around the match. Match holds the match's start and end within Fragment
// in UTF-16 code units (JavaScript's string indexes), or is null when the
// database matched text that Go's case folding does not find again.
type SearchResult struct {
	Type         string        `json:"type"`
	Conversation *Conversation `json:"conversation"`
	Message      *Message      `json:"message"`
	Field        string        `json:"field"`
	Fragment     string        `json:"fragment"`
	Match        []int         `json:"match"`
}

// SearchToken is the next_page_token after a hit at c: always with the
// hit's id, because a search is ordered by how rows were stored, which the
// id locates and tm_create alone does not.
func SearchToken(c Cursor) string { return c.Time.String() + pageTokenSep + c.ID }
