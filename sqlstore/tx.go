package sqlstore

import (
	"strconv"
	"strings"
	"sync"
)

func (db *DB) tx(q querier) *tx {
	return &tx{q: q, postgres: db.dialect == DialectPostgres}
}

// tx implements convo.Tx over a querier.
type tx struct {
	q        querier
	postgres bool
	// lockRows makes reads of one row lock it until the commit (PostgreSQL
	// Updates): use cases read, change and write rows back, and the lock
	// keeps two concurrent ones from overwriting each other's change (a stop
	// undone by a running step, a status report by a send's result). SQLite
	// runs one writer at a time.
	lockRows bool
	// locked holds the rows this transaction has locked, by table and id;
	// lockedAhead those it asked to lock without reading them, which count
	// as locked once a read finds them.
	locked, lockedAhead map[lockedRow]struct{}
	// eventsWritten and lastEventPos number the events t writes (see
	// nextEventPos).
	eventsWritten, lastEventPos int64
}

type lockedRow struct{ table, id string }

// hold records that t has locked the row of table with id.
func (t *tx) hold(table, id string) {
	if t.locked == nil {
		t.locked = map[lockedRow]struct{}{}
	}
	t.locked[lockedRow{table, id}] = struct{}{}
}

// lockLater records that t locks the row of table with id, if there is
// one, with its next round trip.
func (t *tx) lockLater(table, id string) {
	if t.lockedAhead == nil {
		t.lockedAhead = map[lockedRow]struct{}{}
	}
	t.lockedAhead[lockedRow{table, id}] = struct{}{}
}

// found notes a row of table that a read of t returned: one t asked to
// lock ahead exists, and so is locked.
func (t *tx) found(table, id string) {
	if _, ok := t.lockedAhead[lockedRow{table, id}]; ok {
		t.hold(table, id)
	}
}

// holds reports whether t has locked the row of table with id. The tables
// read by get are never deleted from, only marked deleted, so a locked row
// stays until the commit.
func (t *tx) holds(table, id string) bool {
	_, ok := t.locked[lockedRow{table, id}]
	return ok
}

// sql returns query with placeholders in the dialect's syntax.
func (t *tx) sql(query string) string {
	if !t.postgres {
		return query
	}
	return rebind(query)
}

var rebound sync.Map // query with ? -> query with $n

// rebind rewrites the ? placeholders of query as $1, $2, ... Statements
// here never contain a literal question mark.
func rebind(query string) string {
	if q, ok := rebound.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r != '?' {
			b.WriteRune(r)
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	rebound.Store(query, b.String())
	return b.String()
}
