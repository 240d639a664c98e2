package sqlstore

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
	"unicode"

	"modernc.org/sqlite"
)

// SQLite's search indexes are written at the end of each writing
// transaction from the rows its triggers noted in search_pending (see
// migration 00018): one FTS5 segment per commit, where triggers writing
// the index directly left one per savepoint of a group commit.

// searchPendingSQL tells whether the transaction noted rows to index.
const searchPendingSQL = "SELECT EXISTS (SELECT 1 FROM search_pending)"

// indexPendingSQL removes the noted rows the indexes held, indexes those
// that still exist as they are now, and forgets the notes.
var indexPendingSQL = []string{
	"DELETE FROM messages_search WHERE rowid IN (SELECT row FROM search_pending WHERE tbl = 0 AND indexed)",
	"INSERT INTO messages_search (rowid, text) SELECT m.rowid, m.text FROM search_pending p CROSS JOIN messages m" +
		" WHERE p.tbl = 0 AND m.rowid = p.row",
	"DELETE FROM conversations_search WHERE rowid IN (SELECT row FROM search_pending WHERE tbl = 1 AND indexed)",
	"INSERT INTO conversations_search (rowid, name, peer_target_name, peer_name, peer_target, dialog_id)" +
		" SELECT c.rowid, c.name, json_extract(c.peer, '$.target_name'), json_extract(c.peer, '$.name')," +
		" json_extract(c.peer, '$.target'), c.dialog_id FROM search_pending p CROSS JOIN conversations c" +
		" WHERE p.tbl = 1 AND c.rowid = p.row",
	"DELETE FROM search_pending",
}

// indexPending writes the rows noted in search_pending into the search
// indexes; every writing transaction on SQLite runs it last, before COMMIT.
func indexPending(ctx context.Context, q querier) error {
	var pending bool
	if err := q.QueryRowContext(ctx, searchPendingSQL).Scan(&pending); err != nil || !pending {
		return wrapIndexPending(err)
	}
	for _, query := range indexPendingSQL {
		if _, err := q.ExecContext(ctx, query); err != nil {
			return wrapIndexPending(err)
		}
	}
	return nil
}

func wrapIndexPending(err error) error {
	if err != nil {
		return fmt.Errorf("sqlstore: search index: %w", err)
	}
	return nil
}

// searchMatchFunc is the SQL function that tells whether any of its
// arguments after the first holds the first as FTS5's trigram tokenizer
// matches it: a substring ignoring case as FTS5 folds it. Small searches
// check it on their scope's rows instead of asking the index (search.go).
const searchMatchFunc = "convo_search_match"

func init() {
	sqlite.MustRegisterDeterministicScalarFunction(searchMatchFunc, -1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		if len(args) < 2 {
			return nil, fmt.Errorf("%s: want a query and a text", searchMatchFunc)
		}
		q, ok := args[0].(string)
		if !ok {
			return false, nil
		}
		q = ftsFold(q)
		for _, a := range args[1:] {
			var text string
			switch v := a.(type) {
			case string:
				text = v
			case []byte:
				text = string(v)
			case nil:
				continue
			default:
				text = fmt.Sprint(v)
			}
			if strings.Contains(ftsFold(text), q) {
				return true, nil
			}
		}
		return false, nil
	})
}

// ftsFold folds s as FTS5's tokenizers do without remove_diacritics: its
// table covers the Basic Multilingual Plane and, beyond it, Deseret alone.
func ftsFold(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r < 0x80:
			if 'A' <= r && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return r
		case r < 0x10000:
			return unicode.ToLower(r)
		case 0x10400 <= r && r < 0x10428:
			return r + 40
		}
		return r
	}, s)
}
