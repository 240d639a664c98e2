package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/convohq/convo"
)

// Reply tokens: the newest of each LINE conversation; a send deletes the
// row as it reads it, so that two sends never both get the token.

var replyTokens = kind{what: "reply token"}

func (t *tx) SaveReplyTokens(ctx context.Context, tokens []convo.ReplyToken) error {
	// One row per conversation in a statement: PostgreSQL refuses an
	// upsert that touches a row twice, so the last token of each wins here.
	last := map[string]int{}
	var keep []convo.ReplyToken
	for _, r := range tokens {
		id, ok := canonicalID(r.ConversationID)
		if !ok || r.Token == "" {
			continue
		}
		r.ConversationID = id
		if i, ok := last[id]; ok {
			keep[i] = r
			continue
		}
		last[id] = len(keep)
		keep = append(keep, r)
	}
	return inChunks(len(keep), func(start, n int) error {
		args := make([]any, 0, 3*n)
		values := ""
		for i, r := range keep[start : start+n] {
			if i > 0 {
				values += ", "
			}
			values += "(?, ?, ?)"
			args = append(args, r.ConversationID, r.Token, r.TMReceive.Micros())
		}
		_, err := t.q.ExecContext(ctx, t.sql("INSERT INTO line_reply_tokens (conversation_id, reply_token, tm_receive) VALUES "+values+
			" ON CONFLICT (conversation_id) DO UPDATE SET reply_token = excluded.reply_token, tm_receive = excluded.tm_receive"+
			" WHERE excluded.tm_receive >= line_reply_tokens.tm_receive"), args...)
		return interpretError(err, replyTokens)
	})
}

func (t *tx) ClaimReplyToken(ctx context.Context, conversationID string, notBefore convo.Time) (string, error) {
	id, ok := canonicalID(conversationID)
	if !ok {
		return "", nil
	}
	// An expired token is deleted too: it can serve nobody.
	var token string
	var at convo.Time
	err := t.q.QueryRowContext(ctx, t.sql("DELETE FROM line_reply_tokens WHERE conversation_id = ? RETURNING reply_token, tm_receive"), id).
		Scan(&token, micros{&at})
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", interpretError(err, replyTokens)
	}
	if at.Before(notBefore.Time) {
		return "", nil
	}
	return token, nil
}
