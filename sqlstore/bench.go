package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/convohq/convo"
)

// This file holds the database side of `convo bench`: a baseline of raw
// insert transactions, a fast bulk path to fill a database with realistic
// conversations, messages and webhook events, and scratch PostgreSQL
// schemas. None of it is used by the server.

// MeasureInsertRate creates a scratch table with the columns, types and
// indexes of the messages table and, for d, runs single-row transactions
// (BEGIN, INSERT, COMMIT) from concurrency goroutines on the writer handle,
// with the store's own durability settings and connection limits. It drops
// the table and returns how many transactions committed in how long.
func (db *DB) MeasureInsertRate(ctx context.Context, concurrency int, d time.Duration) (committed int64, elapsed time.Duration, err error) {
	concurrency = max(concurrency, 1)
	name := "bench_insert_" + randomSuffix()
	t := db.tx(nil)
	idType, intType, strict := "TEXT", "INTEGER", " STRICT"
	if db.dialect == DialectPostgres {
		idType, intType, strict = "UUID", "BIGINT", ""
	}
	ddl := []string{
		"CREATE TABLE " + name + ` (
			id              ` + idType + ` PRIMARY KEY,
			customer_id     ` + idType + ` NOT NULL,
			conversation_id ` + idType + ` NOT NULL,
			direction       TEXT NOT NULL,
			status          TEXT NOT NULL,
			reference_type  TEXT NOT NULL,
			reference_id    TEXT NOT NULL,
			source          TEXT NOT NULL,
			destination     TEXT NOT NULL,
			text            TEXT NOT NULL,
			medias          TEXT NOT NULL,
			account_id      ` + idType + ` NOT NULL,
			provider_id     TEXT NOT NULL,
			tm_create       ` + intType + ` NOT NULL,
			tm_update       ` + intType + ` NOT NULL,
			tm_delete       ` + intType + ` NOT NULL
		)` + strict,
		"CREATE INDEX " + name + "_by_conversation ON " + name + " (conversation_id, tm_create, id)",
		"CREATE UNIQUE INDEX " + name + "_provider_id ON " + name + " (account_id, provider_id) WHERE provider_id <> ''",
	}
	for _, q := range ddl {
		if _, err := db.writer.ExecContext(ctx, q); err != nil {
			return 0, 0, fmt.Errorf("sqlstore: bench table: %w", err)
		}
	}
	defer db.writer.ExecContext(context.WithoutCancel(ctx), "DROP TABLE "+name)

	customerID, accountID := convo.NewID(), convo.NewID()
	conversationIDs := make([]string, 1000)
	for i := range conversationIDs {
		conversationIDs[i] = convo.NewID()
	}
	self := `{"type":"line","target":"","target_name":"Me","name":"","detail":""}`
	peer := `{"type":"line","target":"U4af4980629e4a2b7f1f6a4f1e6a4f1e6","target_name":"Peer","name":"","detail":""}`
	insert := t.sql("INSERT INTO " + name + " (id, customer_id, conversation_id, direction, status, reference_type, reference_id, source, destination, text, medias, account_id, provider_id, tm_create, tm_update, tm_delete) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	providerBase := randomBase()

	var done atomic.Int64
	var seq atomic.Uint64
	var firstErr error
	var errOnce sync.Once
	// Workers stop between transactions: cancelling one in flight would
	// close its connection, and the measurement would end with reconnects.
	var stop atomic.Bool
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Go(func() {
			for n := 0; !stop.Load() && ctx.Err() == nil; n++ {
				now := time.Now().UnixMicro()
				err := func() error {
					sqlTx, err := db.writer.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					defer sqlTx.Rollback()
					if _, err := sqlTx.ExecContext(ctx, insert, convo.NewID(), customerID, conversationIDs[(w+n*concurrency)%len(conversationIDs)],
						convo.DirectionIncoming, convo.MessageDone, "line", accountID, peer, self, "benchmark message "+strconv.Itoa(n), "[]",
						accountID, strconv.FormatUint(providerBase+seq.Add(1), 10), now, now, convo.Never.Micros()); err != nil {
						return err
					}
					return sqlTx.Commit()
				}()
				if err != nil {
					if ctx.Err() == nil {
						errOnce.Do(func() { firstErr = err; stop.Store(true) })
					}
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed = time.Since(start)
	if firstErr != nil {
		return 0, 0, fmt.Errorf("sqlstore: bench insert: %w", firstErr)
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	return done.Load(), elapsed, nil
}

// SeedSpec describes the rows SeedBulk writes for one customer account.
type SeedSpec struct {
	CustomerID, AccountID string
	// Conversations is how many LINE conversations to write, each with
	// MessagesPerConversation messages (alternately incoming and outgoing).
	Conversations, MessagesPerConversation int
	// Agents own every tenth conversation, in turn; none when empty.
	Agents []string
	// Conversation i (0 is the oldest) is created at First + i*Interval; its
	// messages follow it at even steps within the interval (at most a minute apart).
	First    time.Time
	Interval time.Duration
	// Progress, when set, is called after each transaction with the rows
	// written so far and the rows to write in all.
	Progress func(done, total int)
}

// SeedResult is what the caller of SeedBulk needs to query what it wrote.
type SeedResult struct {
	// Sample holds up to 1000 conversation ids spread evenly over the seed.
	Sample []string
}

const (
	// seedRowsPerStatement is the rows of one multi-row INSERT: 500 rows of 16
	// columns stay well below the placeholder limits of both databases.
	seedRowsPerStatement = 500
	// seedRowsPerTx is the rows written in one transaction.
	seedRowsPerTx = 50_000
)

// SeedBulk writes conversations and their messages with multi-row INSERTs in
// large transactions, the way the service would have stored them: same
// columns and encodings, UUIDv7 ids, automatic titles, peers already named.
// It writes no events or jobs, and leaves the tables without planner
// statistics, as a bulk import or a restore does (see Analyze).
func (db *DB) SeedBulk(ctx context.Context, s SeedSpec) (*SeedResult, error) {
	customerID, ok := canonicalID(s.CustomerID)
	if !ok {
		return nil, errors.New("sqlstore: seed: customer id is not a UUID")
	}
	accountID, ok := canonicalID(s.AccountID)
	if !ok {
		return nil, errors.New("sqlstore: seed: account id is not a UUID")
	}
	if s.Conversations <= 0 || s.MessagesPerConversation < 0 || s.Interval <= 0 {
		return nil, errors.New("sqlstore: seed: nothing to write")
	}
	perConv := 1 + s.MessagesPerConversation
	total := s.Conversations * perConv
	batch := max(seedRowsPerTx/perConv, 1)
	gap := min(s.Interval/time.Duration(perConv), time.Minute)
	res := &SeedResult{}
	sampleEvery := max(s.Conversations/1000, 1)
	rng := mathrand.New(mathrand.NewPCG(uint64(time.Now().UnixNano()), 7))
	providerBase := randomBase()
	self := convo.Address{Type: convo.AddressLine, TargetName: "Me"}
	texts := []string{"Hi, is my order on its way?", "Thanks, that helps a lot.", "Could you send me the invoice again?",
		"We open at 9:00 tomorrow.", "Your parcel left our warehouse this morning.", "Sure, I will check and come back to you."}
	done := 0
	for first := 0; first < s.Conversations; first += batch {
		last := min(first+batch, s.Conversations)
		convs := make([]convo.Conversation, 0, last-first)
		msgs := make([]convo.Message, 0, (last-first)*s.MessagesPerConversation)
		for i := first; i < last; i++ {
			created := convo.NewTime(s.First.Add(time.Duration(i) * s.Interval))
			var dialog [16]byte
			binary.BigEndian.PutUint64(dialog[:8], rng.Uint64())
			binary.BigEndian.PutUint64(dialog[8:], rng.Uint64())
			peer := convo.Address{Type: convo.AddressLine, Target: "U" + hex.EncodeToString(dialog[:]), TargetName: "Peer " + strconv.Itoa(i)}
			name, detail := convo.AutoTitle(convo.AccountLine, peer)
			c := convo.Conversation{ID: convo.NewID(), CustomerID: customerID, OwnerID: convo.NilID, AccountID: accountID,
				Name: name, Detail: detail, Type: convo.ConversationLine, DialogID: peer.Target, Self: self, Peer: peer,
				TMCreate: created, TMUpdate: created, TMDelete: convo.Never}
			if len(s.Agents) > 0 && i%10 == 0 {
				c.OwnerType, c.OwnerID = convo.OwnerAgent, s.Agents[(i/10)%len(s.Agents)]
			}
			for j := range s.MessagesPerConversation {
				at := convo.NewTime(created.Add(time.Duration(j+1) * gap))
				m := convo.Message{ID: convo.NewID(), CustomerID: customerID, ConversationID: c.ID,
					Direction: convo.DirectionIncoming, Status: convo.MessageDone, ReferenceType: convo.ConversationLine, ReferenceID: accountID,
					Source: peer, Destination: self, Text: texts[(i+j)%len(texts)], Medias: []convo.Media{},
					TMCreate: at, TMUpdate: at, TMDelete: convo.Never, AccountID: accountID,
					ProviderID: strconv.FormatUint(providerBase+uint64(i)*uint64(perConv)+uint64(j), 10)}
				if j%2 == 1 {
					m.Direction, m.Source, m.Destination = convo.DirectionOutgoing, self, peer
				}
				msgs = append(msgs, m)
				c.TMUpdate = at
			}
			convs = append(convs, c)
			if i%sampleEvery == 0 && len(res.Sample) < 1000 {
				res.Sample = append(res.Sample, c.ID)
			}
		}
		err := db.seedTx(ctx, func(q querier) error {
			if err := insertRows(ctx, db.tx(q), "conversations", conversations, convs); err != nil {
				return err
			}
			return insertRows(ctx, db.tx(q), "messages", messages, msgs)
		})
		if err != nil {
			return nil, err
		}
		done += len(convs) + len(msgs)
		if s.Progress != nil {
			s.Progress(done, total)
		}
	}
	return res, nil
}

// Analyze has the database gather the planner statistics of the tables
// SeedBulk writes, as autovacuum would on a database that grew over time
// (SQLite gathers none by itself).
func (db *DB) Analyze(ctx context.Context) error {
	query := "ANALYZE"
	if db.dialect == DialectPostgres {
		query = "ANALYZE conversations, messages"
	}
	if _, err := db.writer.ExecContext(ctx, query); err != nil {
		return fmt.Errorf("sqlstore: analyze: %w", err)
	}
	return nil
}

// SeedEvent is one webhook event for SeedEvents.
type SeedEvent struct {
	Type           string
	StreamID       string
	ConversationID string
	Payload        []byte
}

// SeedEvents writes events to the outbox of a customer, pending and in
// order, as changes would have with the customer's webhook set; the
// dispatcher of the next server start delivers them.
func (db *DB) SeedEvents(ctx context.Context, customerID string, list []SeedEvent) error {
	customerID, ok := canonicalID(customerID)
	if !ok {
		return errors.New("sqlstore: seed: customer id is not a UUID")
	}
	now := convo.NewTime(time.Now())
	cols := []string{"id", "customer_id", "type", "stream_id", "conversation_id", "payload", "target_uri", "target_method",
		"content_type", "pos", "status", "attempts", "next_attempt_at", "locked_until", "last_error", "tm_create", "tm_delivered"}
	for first := 0; first < len(list); first += seedRowsPerTx {
		chunk := list[first:min(first+seedRowsPerTx, len(list))]
		err := db.seedTx(ctx, func(q querier) error {
			t := db.tx(q)
			// Positions as CreateEvents gives them (see posShift).
			var pos int64
			var err error
			if t.postgres {
				err = q.QueryRowContext(ctx, "SELECT "+pgTxPos).Scan(&pos)
			} else {
				pos, err = t.nextEventPos(ctx)
			}
			if err != nil {
				return err
			}
			err = insertChunks(ctx, t, "events", cols, len(chunk), func(i int) []any {
				e := chunk[i]
				return []any{convo.NewID(), customerID, e.Type, e.StreamID, cmpOr(e.ConversationID, convo.NilID), string(e.Payload), "", "", "",
					pos + int64(i), convo.DeliveryPending, 0, now.Micros(), 0, "", now.Micros(), convo.Never.Micros()}
			})
			if err != nil {
				return err
			}
			_, err = q.ExecContext(ctx, t.sql(queueRange), pos, pos+int64(len(chunk))-1)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// CountEvents returns how many events of customerID the outbox holds.
func (db *DB) CountEvents(ctx context.Context, customerID string) (int, error) {
	customerID, ok := canonicalID(customerID)
	if !ok {
		return 0, errors.New("sqlstore: count events: customer id is not a UUID")
	}
	var n int
	err := db.reader.QueryRowContext(ctx, db.tx(nil).sql("SELECT COUNT(*) FROM events WHERE customer_id = ?"), customerID).Scan(&n)
	return n, interpretError(err, events)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// seedTx runs fn in one transaction on the writer.
func (db *DB) seedTx(ctx context.Context, fn func(querier) error) error {
	sqlTx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: seed: begin: %w", err)
	}
	defer sqlTx.Rollback()
	if err := fn(sqlQuerier{sqlTx}); err != nil {
		return fmt.Errorf("sqlstore: seed: %w", err)
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: seed: commit: %w", err)
	}
	return nil
}

// insertRows writes rows into a table described by tb with multi-row INSERTs.
func insertRows[T any](ctx context.Context, t *tx, name string, tb *table[T], rows []T) error {
	return insertChunks(ctx, t, name, tb.columns, len(rows), func(i int) []any { return tb.fields(&rows[i]) })
}

// insertChunks writes n rows, whose values row(i) returns in the order of
// cols, seedRowsPerStatement at a time.
func insertChunks(ctx context.Context, t *tx, name string, cols []string, n int, row func(i int) []any) error {
	args := make([]any, 0, seedRowsPerStatement*len(cols))
	for first := 0; first < n; first += seedRowsPerStatement {
		last := min(first+seedRowsPerStatement, n)
		args = args[:0]
		for i := first; i < last; i++ {
			args = append(args, row(i)...)
		}
		if _, err := t.q.ExecContext(ctx, t.sql(multiInsertSQL(name, cols, last-first)), args...); err != nil {
			return err
		}
	}
	return nil
}

var multiInserts sync.Map // name/columns/rows -> statement

// multiInsertSQL returns an INSERT of rows rows into name.
func multiInsertSQL(name string, cols []string, rows int) string {
	key := name + "|" + strings.Join(cols, ",") + "|" + strconv.Itoa(rows)
	if q, ok := multiInserts.Load(key); ok {
		return q.(string)
	}
	one := "(" + placeholders(len(cols)) + ")"
	var b strings.Builder
	b.WriteString("INSERT INTO " + name + " (" + strings.Join(cols, ", ") + ") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	multiInserts.Store(key, b.String())
	return b.String()
}

// NewScratchSchema creates a schema with a unique name (prefix and random
// hex) in the PostgreSQL database of dsn. It returns a DSN whose search_path
// selects the schema, and a function that drops the schema with everything in it.
func NewScratchSchema(ctx context.Context, dsn, prefix string) (string, func(context.Context) error, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", nil, errors.New("sqlstore: the PostgreSQL DSN is not a URL")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, fmt.Errorf("sqlstore: %w", err)
	}
	schema := prefix + randomSuffix()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("sqlstore: create schema: %w", err)
	}
	drop := func(ctx context.Context) error {
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("sqlstore: drop schema %s: %w", schema, err)
		}
		return nil
	}
	q := u.Query()
	// pgx sends unknown DSN parameters as run-time settings of each connection.
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// randomBase returns a random start for provider message ids, so that
// seeded ids never meet the ids of other runs on one database.
func randomBase() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return 1e17 + binary.BigEndian.Uint64(b[:])%(8e18)
}

// CheckpointCounter reads how many checkpoints a PostgreSQL server has
// begun, on a connection of its own: a checkpoint makes the page writes
// after it larger (full-page images), so bench notes which measurements
// shared the machine with one.
type CheckpointCounter struct {
	conn  *sql.DB
	query string
}

// OpenCheckpointCounter connects to the PostgreSQL server of dsn.
func OpenCheckpointCounter(ctx context.Context, dsn string) (*CheckpointCounter, error) {
	conn, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	conn.SetMaxOpenConns(1)
	var version int
	if err := conn.QueryRowContext(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		conn.Close()
		return nil, fmt.Errorf("sqlstore: connect: %w", err)
	}
	// PostgreSQL 17 moved the checkpointer's counters to a view of their own.
	query := "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
	if version >= 170000 {
		query = "SELECT num_timed + num_requested FROM pg_stat_checkpointer"
	}
	return &CheckpointCounter{conn: conn, query: query}, nil
}

// Count returns the checkpoints begun since the server's statistics were reset.
func (c *CheckpointCounter) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := c.conn.QueryRowContext(ctx, c.query).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlstore: count checkpoints: %w", err)
	}
	return n, nil
}

// Close releases the connection.
func (c *CheckpointCounter) Close() error { return c.conn.Close() }
