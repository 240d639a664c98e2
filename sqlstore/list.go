package sqlstore

import (
	"context"
	"slices"
	"strings"

	"github.com/convohq/convo"
)

// Lists page a table newest first (ORDER BY tm_create DESC, id DESC). Each
// walks one index chosen here for its filter, in that order, and stops at
// the end of the page, whatever the planner's statistics say: SQLite is
// told the index, PostgreSQL has no index hint and is left no other plan
// (see where and queryInOrder).

// listIndex is an index lists may walk: keys are its leading columns, which
// the list compares for equality, followed by its order column (tm_create,
// or order when set) and id; pred is its partial index predicate (live or
// deleted), "" for an index of every row. An index whose keys select a few
// rows alone (few) serves a list in any order: its rows are sorted.
type listIndex struct {
	name  string
	keys  []string
	pred  string
	order string
	few   bool
}

// allBy and deletedBy describe an index of every row and one of the
// deleted rows alone.
func allBy(name string, keys ...string) listIndex {
	return listIndex{name: name, keys: keys}
}

func deletedBy(name string, keys ...string) listIndex {
	return listIndex{name: name, keys: keys, pred: deleted}
}

// orderedBy describes an index of every row in order of column.
func orderedBy(column, name string, keys ...string) listIndex {
	return listIndex{name: name, keys: keys, order: column}
}

// fewBy describes an index of every row whose keys select a few rows.
func fewBy(name string, keys ...string) listIndex {
	return listIndex{name: name, keys: keys, few: true}
}

// listedBy sets the indexes tb's lists walk, the preferred first.
func (tb *table[T]) listedBy(indexes ...listIndex) *table[T] {
	tb.indexes = indexes
	return tb
}

// list returns the rows matching f, newest first (by f's order column),
// from the page's cursor on.
func (tb *table[T]) list(ctx context.Context, t *tx, f filter, p convo.Page) ([]*T, error) {
	if err := f.after(p.After); err != nil {
		return nil, err
	}
	if f.none {
		return []*T{}, nil
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	idx := f.index(tb.indexes)
	where, args := f.where(idx)
	query := tb.columnsSQL + t.walking(tb.name, idx) + " WHERE " + where + " ORDER BY " + f.orderColumn() + " DESC, id DESC LIMIT ?"
	if idx != nil && idx.few && idx.order != f.order {
		// The index's few rows are read whole and sorted.
		res, err := t.q.QueryContext(ctx, t.sql(query), append(args, limit)...)
		return tb.read(t, res, err)
	}
	res, err := t.queryInOrder(ctx, query, append(args, limit)...)
	return tb.read(t, res, err)
}

// filter collects the conditions of a list query.
type filter struct {
	// terms are the conditions column = value, in the order added.
	terms []term
	// rows is live or deleted, the rows listed; "" for every row.
	rows string
	// conds and args are the other conditions, such as the page's cursor.
	conds []string
	args  []any
	// none is set when a filter can match no row (an id that is not a UUID).
	none bool
	// order is the column the list is ordered by, newest first; "" is tm_create.
	order string
	// qualify, when set, is the table (with its dot) the terms' columns
	// are of, in a query that joins another table.
	qualify string
}

// orderColumn is the column f's list is ordered by.
func (f *filter) orderColumn() string {
	if f.order == "" {
		return "tm_create"
	}
	return f.order
}

type term struct {
	column string
	value  any
}

func (f *filter) add(cond string, args ...any) {
	f.conds = append(f.conds, cond)
	f.args = append(f.args, args...)
}

// after keeps rows after cursor c in newest-first order, if c is set.
func (f *filter) after(c *convo.Cursor) error {
	if c == nil {
		return nil
	}
	cond, args, err := cursorAfter(c, f.orderColumn(), "id")
	if err != nil {
		return err
	}
	f.add(cond, args...)
	return nil
}

// cursorAfter is the condition that a row, whose order column is col and
// id idColumn, comes after cursor c in newest-first order.
func cursorAfter(c *convo.Cursor, col, idColumn string) (string, []any, error) {
	us := c.Time.Micros()
	if c.ID == "" {
		return col + " < ?", []any{us}, nil
	}
	id, ok := canonicalID(c.ID)
	if !ok {
		return "", nil, convo.Invalid(convo.ReasonInvalidToken, "the page cursor is not valid")
	}
	// The bare bound on the order column lets both databases scan the index range.
	return col + " <= ? AND (" + col + " < ? OR " + idColumn + " < ?)", []any{us, us, id}, nil
}

// equal keeps rows whose column equals v; an empty v does not filter.
func (f *filter) equal(column, v string) {
	if v != "" {
		f.terms = append(f.terms, term{column, v})
	}
}

// equalID is equal for a UUID column.
func (f *filter) equalID(column, v string) {
	if v == "" {
		return
	}
	id, ok := canonicalID(v)
	f.none = f.none || !ok
	f.terms = append(f.terms, term{column, id})
}

// oneOf keeps rows whose column holds any of vs; none does not filter. A
// single value is a term an index may lead with; several are checked on
// the rows walked.
func (f *filter) oneOf(column string, vs []string) {
	switch len(vs) {
	case 0:
	case 1:
		f.equal(column, vs[0])
	default:
		args := make([]any, len(vs))
		for i, v := range vs {
			args[i] = v
		}
		f.add("("+column+" IN ("+placeholders(len(vs))+")) IS TRUE", args...)
	}
}

// deleted keeps deleted rows when wanted, live rows otherwise.
func (f *filter) deleted(want bool) {
	f.rows = live
	if want {
		f.rows = deleted
	}
}

// index returns the first of indexes that a list of f can walk: one of the
// rows f lists, in f's order (or of a few rows), whose keys f all compares.
// None fits a list of no customer, which only tests make: the planner then
// has its way.
func (f *filter) index(indexes []listIndex) *listIndex {
	for i, idx := range indexes {
		if idx.pred != "" && idx.pred != f.rows {
			continue
		}
		if idx.order != f.order && !idx.few {
			continue
		}
		if !slices.ContainsFunc(idx.keys, func(k string) bool {
			return !slices.ContainsFunc(f.terms, func(t term) bool { return t.column == k })
		}) {
			return &indexes[i]
		}
	}
	return nil
}

// where returns the conditions of f joined by AND, and their arguments.
// Given the index walked, a term on a column the index does not lead with
// is written so that no index can take it, and is checked on the rows the
// walk meets: PostgreSQL cannot be told which index to walk, and without
// statistics two that fit look alike (an owner's thousands of rows, a
// dialog's one).
func (f *filter) where(idx *listIndex) (string, []any) {
	conds := make([]string, 0, len(f.terms)+1+len(f.conds))
	args := make([]any, 0, len(f.terms)+len(f.args))
	for _, t := range f.terms {
		if idx == nil || slices.Contains(idx.keys, t.column) {
			conds = append(conds, f.qualify+t.column+" = ?")
		} else {
			conds = append(conds, "("+f.qualify+t.column+" = ?) IS TRUE")
		}
		args = append(args, t.value)
	}
	if f.rows != "" {
		conds = append(conds, f.rows)
	}
	return strings.Join(append(conds, f.conds...), " AND "), append(args, f.args...)
}

// walking returns the FROM of a query that walks idx of table.
func (t *tx) walking(table string, idx *listIndex) string {
	if t.postgres || idx == nil {
		return table
	}
	return table + " INDEXED BY " + idx.name
}

// PostgreSQL plans a list from its statistics of the table. Without any (a
// database just restored or bulk-loaded, or never analyzed: autovacuum may
// be off) it guesses that a filter matches a handful of rows, and gathered
// them all through a bitmap (of one index, or two combined) and sorted them
// rather than walk the index and stop at the page's end: 560 ms a page at
// 200,000 conversations. With sorting off for the statement (incremental
// sorting too, which an index on tm_create alone would offer), the walk is
// the only plan left. JIT compilation is off for the statement too (the
// setting it had is kept in convo.jit and restored): a walk that checks a
// subquery per row (unread, several labels) is costed as if it might read
// the owner's every row, past jit_above_cost, and compiling it took 1.4 s
// a page at 1,000,000 conversations, for a walk of 600 rows that ran in 8 ms.
const (
	pinSQL = "SELECT set_config('enable_sort', 'off', true), set_config('enable_incremental_sort', 'off', true)," +
		" set_config('convo.jit', current_setting('jit'), true), set_config('jit', 'off', true)"
	unpinSQL = "SELECT set_config('enable_sort', 'on', true), set_config('enable_incremental_sort', 'on', true)," +
		" set_config('jit', current_setting('convo.jit'), true)"
)

// pinnedQuerier runs a query with pinSQL in force for it alone.
type pinnedQuerier interface {
	queryPinned(ctx context.Context, query string, args []any) (rows, error)
}

// queryInOrder runs query, whose ORDER BY the index it walks gives, so that
// no planner sorts its rows instead.
func (t *tx) queryInOrder(ctx context.Context, query string, args ...any) (rows, error) {
	if p, ok := t.q.(pinnedQuerier); ok && t.postgres {
		return p.queryPinned(ctx, t.sql(query), args)
	}
	return t.q.QueryContext(ctx, t.sql(query), args...)
}
