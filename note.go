package convo

// Note is an agent's private remark on a conversation: never sent to the
// peer, never among the conversation's messages.
type Note struct {
	ID             string     `json:"id"`
	CustomerID     string     `json:"customer_id"`
	ConversationID string     `json:"conversation_id"`
	Author         NoteAuthor `json:"author"`
	Text           string     `json:"text"`
	TMCreate       Time       `json:"tm_create"`
	TMUpdate       Time       `json:"tm_update"`
	TMDelete       Time       `json:"tm_delete"`
}

// NoteAuthor is who wrote a note: an agent or an access key (ActorAgent,
// ActorAccessKey) and its id.
type NoteAuthor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// NoteListParams selects the live notes of a conversation.
type NoteListParams struct {
	CustomerID     string
	ConversationID string
	Page
}
