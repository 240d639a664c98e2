package sqlstore

import (
	"context"
	"strings"

	"github.com/convohq/convo"
)

// Search reads hits newest first without sorting all matches: a common
// trigram matches millions of rows, a rare one a handful, and either way a
// page must cost about its own rows.
//
// SQLite walks the FTS5 index by rowid, descending, which FTS5 does without
// sorting, and joins each candidate to its row: a page of a common query
// stops after about its own rows, a rare query reads its short doclist.
//
// PostgreSQL's GIN index yields its matches unordered. A search first walks
// the newest rows by primary key (UUIDv7, so creation order) up to a budget,
// checking the query on each: a common query fills its page there. Only a
// query that did not is rare enough to gather all its matches through the
// trigram index and sort them.

// A plain agent, or a small customer in a large database, may see a few
// conversations only: walking the index, newest first, a common query
// meets every match of the database before its page is full. A search
// first counts the conversations it may see, up to searchScopeMax, on an
// index of conversations by customer (and owner); when they are no more,
// it reads their messages through messages_by_conversation and checks the
// query on each row, which costs the scope's rows, whatever the database.

// searchScopeMax is the most conversations a search reads whole; a
// variable so that tests can take either path.
var searchScopeMax = 500

// searchScope is the conversations a search may see, when few: cond
// (starting with " AND") on alias c and its arguments select them, or a
// superset, on the SQLite index named.
type searchScope struct {
	index string
	cond  string
	args  []any
}

// scopeSQL leaves PostgreSQL nested loops over btree index scans alone:
// bitmap scans would ask the trigram index, and hash or merge joins read
// whole tables.
const (
	scopeSQL = "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)," +
		" set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)"
	unscopeSQL = "SELECT set_config('enable_seqscan', 'on', true), set_config('enable_bitmapscan', 'on', true)," +
		" set_config('enable_hashjoin', 'on', true), set_config('enable_mergejoin', 'on', true)"
)

// smallScope returns the conversations of customerID that v lets a search
// see when they are at most searchScopeMax, nil when more.
func (t *tx) smallScope(ctx context.Context, customerID string, v *convo.SearchVisibility) (*searchScope, error) {
	sc := &searchScope{index: "conversations_by_customer", cond: " AND c.customer_id = ?", args: []any{customerID}}
	if v != nil {
		owner, ok := canonicalID(v.OwnerID)
		if !ok {
			return nil, nil
		}
		sc.index = "conversations_by_owner"
		if v.OrUnassigned {
			// Nobody's conversations have the nil owner (service/conversation.go).
			sc.cond += " AND c.owner_id IN (?, ?)"
			sc.args = append(sc.args, owner, convo.NilID)
		} else {
			sc.cond += " AND c.owner_id = ?"
			sc.args = append(sc.args, owner)
		}
	}
	var n int
	err := t.queryRowScoped(ctx, "SELECT count(*) FROM (SELECT 1 FROM conversations c"+t.scopeIndex(sc)+
		" WHERE"+strings.TrimPrefix(sc.cond, " AND")+" LIMIT ?) s", append(sc.args, searchScopeMax+1)...).Scan(&n)
	if err != nil || n > searchScopeMax {
		return nil, interpretError(err, conversations.kind)
	}
	return sc, nil
}

// scopeIndex is the INDEXED BY clause a SQLite search of sc walks.
func (t *tx) scopeIndex(sc *searchScope) string {
	if t.postgres {
		return ""
	}
	return " INDEXED BY " + sc.index
}

// queryScoped runs a query of a small scope; on PostgreSQL, with scopeSQL in force.
func (t *tx) queryScoped(ctx context.Context, query string, args ...any) (rows, error) {
	if p, ok := t.q.(interface {
		queryPinnedWith(ctx context.Context, pin, unpin, query string, args []any) (rows, error)
	}); ok && t.postgres {
		return p.queryPinnedWith(ctx, scopeSQL, unscopeSQL, t.sql(query), args)
	}
	return t.q.QueryContext(ctx, t.sql(query), args...)
}

// queryRowScoped is queryScoped for a query of one row.
func (t *tx) queryRowScoped(ctx context.Context, query string, args ...any) row {
	r, err := t.queryScoped(ctx, query, args...)
	return &firstRow{rows: r, err: err}
}

// searchWalkBudget is the rows a PostgreSQL search walks per row of its
// page before it turns to the trigram index.
const searchWalkBudget = 40

// searchCols returns the columns of tb prefixed with alias.
func searchCols[T any](tb *table[T], alias string) string {
	return alias + "." + strings.Join(tb.columns, ", "+alias+".")
}

// searchPos is where a page of a search starts within one kind of hits.
type searchPos struct {
	// afterID, when set, starts after the row with that id.
	afterID string
	// before, when not zero, keeps rows created before it (microseconds).
	before int64
}

func (t *tx) Search(ctx context.Context, p convo.SearchParams) ([]*convo.SearchHit, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = convo.MaxPageSize
	}
	var convPos, msgPos searchPos
	inMessages := false
	if c := p.After; c != nil {
		if c.ID == "" {
			convPos.before, msgPos.before = c.Time.Micros(), c.Time.Micros()
		} else {
			id, ok := canonicalID(c.ID)
			if !ok {
				return nil, convo.Invalid(convo.ReasonInvalidToken, "the page cursor is not valid")
			}
			var n int
			if err := t.q.QueryRowContext(ctx, t.sql("SELECT count(*) FROM messages WHERE id = ?"), id).Scan(&n); err != nil {
				return nil, interpretError(err, messages.kind)
			}
			// Conversations come first: a cursor on a message is past them all.
			inMessages = n > 0
			if inMessages {
				msgPos.afterID = id
			} else {
				convPos.afterID = id
			}
		}
	}
	var scope *searchScope
	if customerID, ok := canonicalID(p.CustomerID); ok {
		var err error
		if scope, err = t.smallScope(ctx, customerID, p.Visible); err != nil {
			return nil, err
		}
	}
	hits := []*convo.SearchHit{}
	if p.Kind != convo.SearchMessage && !inMessages {
		convs, err := t.searchConversations(ctx, p, scope, convPos, limit)
		if err != nil {
			return nil, err
		}
		for _, c := range convs {
			hits = append(hits, &convo.SearchHit{Conversation: c})
		}
	}
	if p.Kind != convo.SearchConversation && len(hits) < limit {
		msgHits, err := t.searchMessages(ctx, p, scope, msgPos, limit-len(hits))
		if err != nil {
			return nil, err
		}
		hits = append(hits, msgHits...)
	}
	return hits, nil
}

// visibility returns the condition on conversation alias c of a plain
// agent's search, and its arguments; "" for everyone else.
func visibility(v *convo.SearchVisibility) (string, []any) {
	if v == nil {
		return "", nil
	}
	if v.OrUnassigned {
		return " AND (c.owner_id = ? OR c.owner_type = '')", []any{v.OwnerID}
	}
	return " AND c.owner_id = ?", []any{v.OwnerID}
}

// ftsPhrase quotes q as one FTS5 phrase: with the trigram tokenizer, a
// substring match ignoring case.
func ftsPhrase(q string) string {
	return `"` + strings.ReplaceAll(q, `"`, `""`) + `"`
}

// likePattern is an ILIKE pattern holding q as a literal substring
// (backslash is PostgreSQL's default escape).
func likePattern(q string) string { return "%" + likeEscape(q) + "%" }

// conversationSearchText is the expression the trigram index of
// conversations covers (migration 00018); queries must repeat it exactly.
const conversationSearchText = "(c.name || chr(31) || coalesce(c.peer::jsonb ->> 'target_name', '') || chr(31) || coalesce(c.peer::jsonb ->> 'name', '')" +
	" || chr(31) || coalesce(c.peer::jsonb ->> 'target', '') || chr(31) || c.dialog_id)"

func (t *tx) searchConversations(ctx context.Context, p convo.SearchParams, sc *searchScope, pos searchPos, limit int) ([]*convo.Conversation, error) {
	customerID, ok := canonicalID(p.CustomerID)
	if !ok {
		return []*convo.Conversation{}, nil
	}
	vis, visArgs := visibility(p.Visible)
	cols := searchCols(conversations, "c")
	if sc != nil {
		query := "SELECT " + cols + " FROM conversations c" + t.scopeIndex(sc) + " WHERE" + strings.TrimPrefix(sc.cond, " AND") +
			" AND c." + live + vis
		args := append(append([]any{}, sc.args...), visArgs...)
		if !t.postgres {
			query += " AND " + searchMatchFunc + "(?, c.name, json_extract(c.peer, '$.target_name'), json_extract(c.peer, '$.name')," +
				" json_extract(c.peer, '$.target'), c.dialog_id)"
			query, args = pos.sqliteBounds(query, append(args, p.Query), "conversations", "c", "c.rowid")
			query += " ORDER BY c.rowid DESC LIMIT ?"
		} else {
			bound, boundArgs := pos.postgresBounds("c")
			query += " AND " + conversationSearchText + " ILIKE ?" + bound + " ORDER BY c.id DESC LIMIT ?"
			args = append(append(args, likePattern(p.Query)), boundArgs...)
		}
		res, err := t.queryScoped(ctx, query, append(args, limit)...)
		return conversations.read(t, res, err)
	}
	if !t.postgres {
		query := cols + " FROM conversations_search s CROSS JOIN conversations c" +
			" WHERE conversations_search MATCH ? AND c.rowid = s.rowid AND c.customer_id = ? AND c." + live + vis
		args := append([]any{ftsPhrase(p.Query), customerID}, visArgs...)
		query, args = pos.sqliteBounds(query, args, "conversations", "c", "s.rowid")
		return conversations.query(ctx, t, "SELECT "+query+" ORDER BY s.rowid DESC LIMIT ?", append(args, limit)...)
	}
	// The stored text of the fields first, which is cheap and rules out
	// most rows, then the fields themselves, which parse the peer.
	cond := " c.customer_id = ? AND c." + live + " AND (c.name || c.peer || c.dialog_id) ILIKE ? AND " + conversationSearchText + " ILIKE ?" + vis
	args := append([]any{customerID, likePattern(p.Query), likePattern(p.Query)}, visArgs...)
	bound, boundArgs := pos.postgresBounds("c")
	walk := "SELECT " + cols + " FROM (SELECT * FROM conversations c" + strings.Replace(bound, " AND", " WHERE", 1) +
		" ORDER BY id DESC LIMIT ?) c WHERE" + cond + " ORDER BY c.id DESC LIMIT ?"
	// In order: with statistics, a sort of the whole table looked cheaper.
	res, err := t.queryInOrder(ctx, walk, append(append(boundArgs, limit*searchWalkBudget), append(args, limit)...)...)
	found, err := conversations.read(t, res, err)
	if err != nil || len(found) == limit {
		return found, err
	}
	res, err = t.queryByTrigrams(ctx, "SELECT "+cols+" FROM conversations c WHERE "+conversationSearchText+" ILIKE ? AND"+
		onlyFilter(" c.customer_id = ? AND c."+live+vis+bound)+" ORDER BY c.id DESC LIMIT ?",
		append(append(append([]any{likePattern(p.Query), customerID}, visArgs...), boundArgs...), limit)...)
	return conversations.read(t, res, err)
}

func (t *tx) searchMessages(ctx context.Context, p convo.SearchParams, sc *searchScope, pos searchPos, limit int) ([]*convo.SearchHit, error) {
	customerID, ok := canonicalID(p.CustomerID)
	if !ok {
		return []*convo.SearchHit{}, nil
	}
	vis, visArgs := visibility(p.Visible)
	cols := searchCols(messages, "m") + ", " + searchCols(conversations, "c")
	if sc != nil {
		return t.searchScopeMessages(ctx, p.Query, sc, vis, visArgs, cols, pos, limit)
	}
	join := " AND c.id = m.conversation_id AND c.customer_id = m.customer_id AND c." + live + vis
	if !t.postgres {
		query := cols + " FROM messages_search s CROSS JOIN messages m CROSS JOIN conversations c" +
			" WHERE messages_search MATCH ? AND m.rowid = s.rowid AND m.customer_id = ? AND m." + live + join
		args := append([]any{ftsPhrase(p.Query), customerID}, visArgs...)
		query, args = pos.sqliteBounds(query, args, "messages", "m", "s.rowid")
		res, err := t.q.QueryContext(ctx, t.sql("SELECT "+query+" ORDER BY s.rowid DESC LIMIT ?"), append(args, limit)...)
		return readMessageHits(res, err)
	}
	cond := " m.customer_id = ? AND m." + live + " AND m.text ILIKE ?" + join
	args := append([]any{customerID, likePattern(p.Query)}, visArgs...)
	bound, boundArgs := pos.postgresBounds("m")
	walk := "SELECT " + cols + " FROM (SELECT * FROM messages m" + strings.Replace(bound, " AND", " WHERE", 1) +
		" ORDER BY id DESC LIMIT ?) m CROSS JOIN conversations c WHERE" + cond + " ORDER BY m.id DESC LIMIT ?"
	found, err := readMessageHits(t.queryInOrder(ctx, walk, append(append(boundArgs, limit*searchWalkBudget), append(args, limit)...)...))
	if err != nil || len(found) == limit {
		return found, err
	}
	res, err := t.queryByTrigrams(ctx, "SELECT "+cols+" FROM messages m CROSS JOIN conversations c WHERE m.text ILIKE ? AND"+
		onlyFilter(" m.customer_id = ? AND m."+live+bound)+join+" ORDER BY m.id DESC LIMIT ?",
		append(append(append([]any{likePattern(p.Query), customerID}, boundArgs...), visArgs...), limit)...)
	return readMessageHits(res, err)
}

// searchScopeMessages reads the messages of a small scope holding q, each
// conversation's through messages_by_conversation, in the order of the
// index's walk: newest first by rowid on SQLite, by id on PostgreSQL.
func (t *tx) searchScopeMessages(ctx context.Context, q string, sc *searchScope, vis string, visArgs []any, cols string,
	pos searchPos, limit int) ([]*convo.SearchHit, error) {
	var query string
	var args []any
	if !t.postgres {
		query = "SELECT " + cols + " FROM conversations c" + t.scopeIndex(sc) + " CROSS JOIN messages m INDEXED BY messages_by_conversation" +
			" WHERE" + strings.TrimPrefix(sc.cond, " AND") + " AND c." + live + vis +
			" AND m.conversation_id = c.id AND m.customer_id = c.customer_id AND m." + live + " AND " + searchMatchFunc + "(?, m.text)"
		query, args = pos.sqliteBounds(query, append(append(append([]any{}, sc.args...), visArgs...), q), "messages", "m", "m.rowid")
		query += " ORDER BY m.rowid DESC LIMIT ?"
	} else {
		// OFFSET 0 keeps the subquery a lateral one, run per conversation on
		// its index, rather than a join the planner would reorder.
		bound, boundArgs := pos.postgresBounds("m")
		query = "SELECT " + cols + " FROM conversations c CROSS JOIN LATERAL (SELECT * FROM messages m" +
			" WHERE m.conversation_id = c.id AND m.customer_id = c.customer_id AND m." + live + " AND m.text ILIKE ?" + bound +
			" OFFSET 0) m WHERE" + strings.TrimPrefix(sc.cond, " AND") + " AND c." + live + vis + " ORDER BY m.id DESC LIMIT ?"
		args = append(append(append([]any{likePattern(q)}, boundArgs...), sc.args...), visArgs...)
	}
	return readMessageHits(t.queryScoped(ctx, query, append(args, limit)...))
}

// sqliteBounds adds pos to a SQLite search of table (alias a) walking its
// rows in order of rowid, the column (s.rowid for its FTS index).
func (pos searchPos) sqliteBounds(query string, args []any, table, a, rowid string) (string, []any) {
	if pos.afterID != "" {
		query += " AND " + rowid + " < (SELECT rowid FROM " + table + " WHERE id = ?)"
		args = append(args, pos.afterID)
	}
	if pos.before != 0 {
		query += " AND " + a + ".tm_create < ?"
		args = append(args, pos.before)
	}
	return query, args
}

// postgresBounds returns the conditions of pos on alias a (each starting
// with " AND") and their arguments.
func (pos searchPos) postgresBounds(a string) (string, []any) {
	var b strings.Builder
	var args []any
	if pos.afterID != "" {
		b.WriteString(" AND " + a + ".id < ?")
		args = append(args, pos.afterID)
	}
	if pos.before != 0 {
		b.WriteString(" AND " + a + ".tm_create < ?")
		args = append(args, pos.before)
	}
	return b.String(), args
}

// onlyFilter writes conds (joined by AND, with a leading space) so that no
// index can take them: without statistics PostgreSQL ANDed the customer's
// btree indexes and checked the query on each of its rows instead of
// asking the trigram index.
func onlyFilter(conds string) string {
	parts := strings.Split(strings.TrimSpace(conds), " AND ")
	for i, c := range parts {
		parts[i] = "(" + c + ") IS TRUE"
	}
	return " " + strings.Join(parts, " AND ")
}

// trigramsSQL leaves PostgreSQL bitmap scans alone, which is the trigram
// index's only way: with statistics it judged a common trigram cheaper to
// check on every row than to look up, and read every conversation's peer;
// and the generic plan a cached statement switches to, which cannot see
// how rare the query is, walked the primary key newest first, checking
// the query on every row of the table.
const (
	trigramsSQL   = "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_indexscan', 'off', true)"
	untrigramsSQL = "SELECT set_config('enable_seqscan', 'on', true), set_config('enable_indexscan', 'on', true)"
)

// queryByTrigrams runs a PostgreSQL search query that the trigram index must serve.
func (t *tx) queryByTrigrams(ctx context.Context, query string, args ...any) (rows, error) {
	if p, ok := t.q.(interface {
		queryPinnedWith(ctx context.Context, pin, unpin, query string, args []any) (rows, error)
	}); ok {
		return p.queryPinnedWith(ctx, trigramsSQL, untrigramsSQL, t.sql(query), args)
	}
	return t.q.QueryContext(ctx, t.sql(query), args...)
}

// readMessageHits reads the result of a query of a message's columns
// followed by its conversation's, or err.
func readMessageHits(res rows, err error) ([]*convo.SearchHit, error) {
	if err != nil {
		return nil, interpretError(err, messages.kind)
	}
	defer res.Close()
	hits := []*convo.SearchHit{}
	for res.Next() {
		h := &convo.SearchHit{Message: new(convo.Message), Conversation: new(convo.Conversation)}
		if err := res.Scan(append(messages.fields(h.Message), conversations.fields(h.Conversation)...)...); err != nil {
			return nil, interpretError(err, messages.kind)
		}
		hits = append(hits, h)
	}
	if err := res.Err(); err != nil {
		return nil, interpretError(err, messages.kind)
	}
	return hits, nil
}
