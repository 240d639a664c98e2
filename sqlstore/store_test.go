package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/convohq/convo/sqlstore"
)

// base is the creation time of most rows; its microseconds check precision.
var base = convo.NewTime(time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC))

// at returns base shifted by d.
func at(d time.Duration) convo.Time { return convo.NewTime(base.Add(d)) }

// TestStore runs the conformance suite of convo.Store against every backend.
func TestStore(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		db := open(t, b.DSN)
		for _, c := range []struct {
			name string
			fn   func(*testing.T, *sqlstore.DB)
		}{
			{"Customers", testCustomers},
			{"Agents", testAgents},
			{"AccessKeys", testAccessKeys},
			{"Tags", testTags},
			{"CannedResponses", testCannedResponses},
			{"Notes", testNotes},
			{"Search", testSearch},
			{"Labels", testLabels},
			{"ReadMarks", testReadMarks},
			{"LabelLists", testLabelLists},
			{"UnreadKeys", testUnreadKeys},
			{"SearchConcurrentWrites", testSearchConcurrentWrites},
			{"Accounts", testAccounts},
			{"Conversations", testConversations},
			{"Touches", testTouches},
			{"WhatsAppWindow", testWhatsAppWindow},
			{"MessageParts", testMessageParts},
			{"Supersede", testSupersede},
			{"Pagination", testPagination},
			{"ConcurrentConversation", func(t *testing.T, db *sqlstore.DB) { testConcurrentConversation(t, replicas(t, db, b.DSN)) }},
			{"ConcurrentRenames", func(t *testing.T, db *sqlstore.DB) { testConcurrentRenames(t, replicas(t, db, b.DSN)) }},
			{"Messages", testMessages},
			{"Batches", testBatches},
			{"ConcurrentMessage", func(t *testing.T, db *sqlstore.DB) { testConcurrentMessage(t, replicas(t, db, b.DSN)) }},
			{"Rollback", testRollback},
			{"FailedWriteRollsBack", testFailedWriteRollsBack},
			{"ViewIsReadOnly", testViewIsReadOnly},
			{"Settings", testSettings},
			{"AuditLogs", testAuditLogs},
			{"Activeflows", testActiveflows},
			{"LoginThrottles", func(t *testing.T, db *sqlstore.DB) { testLoginThrottles(t, replicas(t, db, b.DSN)) }},
			{"Import", testImport},
		} {
			t.Run(c.name, func(t *testing.T) { c.fn(t, db) })
		}
		t.Run("Reopen", func(t *testing.T) { testReopen(t, b.DSN) })
	})
}

// TestNeverLiteral pins the tm_delete literal of the SQL and migrations to convo.Never.
func TestNeverLiteral(t *testing.T) {
	if got := convo.Never.Micros(); got != 253370764800000000 {
		t.Fatalf("convo.Never.Micros() = %d; update the literal in sqlstore", got)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	ctx := t.Context()
	if _, err := sqlstore.Open(ctx, "mysql://localhost/x", sqlstore.Options{}); err == nil {
		t.Error("Open accepted a mysql DSN")
	}
	dsn := testdb.SQLite(t).DSN
	if _, err := sqlstore.Open(ctx, dsn, sqlstore.Options{SQLiteSynchronous: "OFF"}); err == nil {
		t.Error("Open accepted synchronous=OFF")
	}
	db, err := sqlstore.Open(ctx, dsn, sqlstore.Options{SQLiteSynchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

// replicas returns db and three more stores on the same database, as
// several convo processes would be: each runs its own commits, so their
// transactions overlap where the database lets them (PostgreSQL).
func replicas(t *testing.T, db *sqlstore.DB, dsn string) []*sqlstore.DB {
	return []*sqlstore.DB{db, open(t, dsn), open(t, dsn), open(t, dsn)}
}

// rendezvous returns a function that holds its callers until n of them
// arrive, or 50ms pass, so that concurrent transactions collide where the
// database lets them overlap (PostgreSQL; SQLite runs one writer at a time).
func rendezvous(n int32) func() {
	var arrived atomic.Int32
	all := make(chan struct{})
	return func() {
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// concurrently runs fn in n goroutines and returns the distinct ids they
// returned, failing t on any error.
func concurrently(t *testing.T, n int, fn func() (string, error)) []string {
	t.Helper()
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ids[i], errs[i] = fn() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// wantRaced checks that the inserts collided on PostgreSQL, so that the
// conflict path was exercised.
func wantRaced(t *testing.T, db *sqlstore.DB, conflicts int32) {
	t.Helper()
	if db.Dialect() == sqlstore.DialectPostgres && conflicts == 0 {
		t.Error("no insert conflicted; the test did not make transactions overlap")
	}
}

func open(t *testing.T, dsn string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), dsn, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func update(t *testing.T, db convo.Store, fn func(convo.Tx) error) {
	t.Helper()
	if err := db.Update(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

// read runs fn in a View and returns its result, failing t on error.
func read[T any](t *testing.T, db convo.Store, fn func(convo.Tx) (T, error)) T {
	t.Helper()
	v, err := readErr(db, fn)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readErr[T any](db convo.Store, fn func(convo.Tx) (T, error)) (T, error) {
	var v T
	err := db.View(context.Background(), func(tx convo.Tx) (err error) {
		v, err = fn(tx)
		return err
	})
	return v, err
}

func createAll[T any](ctx context.Context, create func(context.Context, *T) error, rows ...*T) error {
	for _, row := range rows {
		if err := create(ctx, row); err != nil {
			return err
		}
	}
	return nil
}

func conversationIDs(t *testing.T, db convo.Store, p convo.ConversationListParams) []string {
	t.Helper()
	list := read(t, db, func(tx convo.Tx) ([]*convo.Conversation, error) { return tx.ListConversations(context.Background(), p) })
	return ids(list, func(c *convo.Conversation) string { return c.ID })
}

func ids[T any](rows []*T, id func(*T) string) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, id(r))
	}
	return out
}

func wantIDs(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, append([]string{}, want...)) {
		t.Errorf("ids = %v, want %v", got, want)
	}
}

func same[T any](t *testing.T, got, want *T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func wantErr(t *testing.T, err error, status, reason string) {
	t.Helper()
	var e *convo.Error
	if !errors.As(err, &e) || e.Status != status || e.Reason != reason {
		t.Fatalf("err = %v, want %s %s", err, status, reason)
	}
}

func wantJSON(t *testing.T, v any, parts ...string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range parts {
		if !strings.Contains(string(b), part) {
			t.Errorf("JSON %s lacks %s", b, part)
		}
	}
}

func newCustomer(tm convo.Time) *convo.Customer {
	return &convo.Customer{ID: convo.NewID(), Name: "Acme", Detail: "tenant", Email: "ops@example.com", PhoneNumber: "+15550100",
		Address: "1 Main St", WebhookMethod: "POST", WebhookURI: "https://example.com/hook", WebhookSecret: "whsec",
		TMCreate: tm, TMUpdate: tm, TMDelete: convo.Never}
}

func newAgent(customerID, username string, tm convo.Time) *convo.Agent {
	return &convo.Agent{ID: convo.NewID(), CustomerID: customerID, Username: username, Name: "Ann", Detail: "desk",
		RingMethod: "ringall", Status: convo.AgentAvailable, Permission: convo.PermissionCustomerAdmin | convo.PermissionCustomerAgent,
		TagIDs: []string{convo.NewID()}, Addresses: []convo.Address{{Type: convo.AddressTel, Target: "+15550100", Name: "desk"}},
		PasswordHash: "$2a$10$hash", TMCreate: tm, TMUpdate: tm, TMDelete: convo.Never}
}

func newAccessKey(customerID string, tm convo.Time) *convo.AccessKey {
	return &convo.AccessKey{ID: convo.NewID(), CustomerID: customerID, Name: "ci", Detail: "deploys", TokenPrefix: "ck_ab",
		TokenHash: "hash-" + convo.NewID(), TMExpire: at(24 * time.Hour), TMCreate: tm, TMUpdate: tm, TMDelete: convo.Never}
}

func newAccount(customerID string, tm convo.Time) *convo.Account {
	return &convo.Account{ID: convo.NewID(), CustomerID: customerID, Type: convo.AccountWhatsApp, Name: "main", Detail: "support line",
		Secret: "secret", Token: "token", MessageFlowID: convo.NewID(),
		TMCreate: tm, TMUpdate: tm, TMDelete: convo.Never,
		ProviderData: convo.ProviderData{PhoneNumberID: "1234", DisplayPhoneNumber: "+1 555 0100", AppSecret: "app-secret"}}
}

func newConversation(customerID, accountID, dialogID string, tm convo.Time) *convo.Conversation {
	return &convo.Conversation{ID: convo.NewID(), CustomerID: customerID, OwnerType: convo.OwnerNone, OwnerID: convo.NilID,
		AccountID: accountID, Name: "chat", Detail: "with a peer", Type: convo.ConversationWhatsApp, DialogID: dialogID,
		Self: convo.Address{Type: convo.AddressWhatsApp, Target: "+15550100"}, Peer: convo.Address{Type: convo.AddressWhatsApp, Target: dialogID, TargetName: "Bob"},
		Status: convo.StatusOpen, SnoozedUntil: convo.Never, TMLastMessage: convo.Never,
		TMCreate: tm, TMUpdate: tm, TMDelete: convo.Never, TMActivity: tm, WhatsAppWindowExpires: convo.Never}
}

// testImport: rows imported in bulk read back as the store wrote them, and
// imported events wait in the customer's outbox.
func testImport(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust, account := convo.NewID(), convo.NewID()
	c := newConversation(cust, account, "+15550177", at(0))
	m1, m2 := newMessage(cust, c.ID, account, "wamid.import.1", at(time.Second)), newMessage(cust, c.ID, account, "", at(2*time.Second))
	if err := db.Import(ctx, []convo.Conversation{*c}, []convo.Message{*m1, *m2}); err != nil {
		t.Fatal(err)
	}
	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, c.ID) }), c)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, m1.ID) }), m1)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Message, error) {
		return tx.GetMessageByProviderID(ctx, account, "wamid.import.1")
	}), m1)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, m2.ID) }), m2)

	// A batch with inbox state: the label and the read mark read back as
	// the API's writes would have left them.
	label := newLabel(cust, "billing", at(0))
	update(t, db, func(tx convo.Tx) error { return tx.CreateLabel(ctx, label) })
	c2 := newConversation(cust, account, "+15550178", at(time.Minute))
	m3 := newMessage(cust, c2.ID, account, "wamid.import.3", at(time.Minute+time.Second))
	agent := convo.NewID()
	mark := convo.ReadMark{AgentID: agent, ConversationID: c2.ID, MessageID: m3.ID, TMMessage: m3.TMCreate, TMUpdate: m3.TMCreate}
	err := db.ImportBatch(ctx, sqlstore.ImportBatch{Conversations: []convo.Conversation{*c2}, Messages: []convo.Message{*m3},
		Labels: []sqlstore.ImportedLabel{{ConversationID: c2.ID, LabelID: label.ID}}, ReadMarks: []convo.ReadMark{mark}})
	if err != nil {
		t.Fatal(err)
	}
	if got := sortedLabels(t, db, c.ID, c2.ID); !reflect.DeepEqual(got, map[string][]string{c2.ID: {"billing"}}) {
		t.Errorf("labels after ImportBatch = %v", got)
	}
	same(t, read(t, db, func(tx convo.Tx) (*convo.ReadMark, error) { return tx.GetReadMark(ctx, agent, c2.ID) }), &mark)
	unread := read(t, db, func(tx convo.Tx) ([]*convo.Conversation, error) {
		return tx.ListConversations(ctx, convo.ConversationListParams{CustomerID: cust, UnreadFor: agent, Page: convo.Page{Limit: 10}})
	})
	if len(unread) != 1 || unread[0].ID != c.ID {
		t.Errorf("unread for the agent after ImportBatch: %v, want the conversation it has no mark of", unread)
	}

	events := []sqlstore.ImportedEvent{{Type: convo.EventMessageCreated, StreamID: c.ID, ConversationID: c.ID, Payload: []byte(`{}`)},
		{Type: convo.EventMessageCreated, StreamID: c.ID, Payload: []byte(`{}`)}}
	if err := db.ImportEvents(ctx, cust, events); err != nil {
		t.Fatal(err)
	}
	if n, err := db.CountEvents(ctx, cust); err != nil || n != len(events) {
		t.Errorf("CountEvents = %d, %v; want %d", n, err, len(events))
	}
	if err := db.Analyze(ctx); err != nil {
		t.Errorf("Analyze: %v", err)
	}
}

func newMessage(customerID, conversationID, accountID, providerID string, tm convo.Time) *convo.Message {
	return &convo.Message{ID: convo.NewID(), CustomerID: customerID, ConversationID: conversationID, Direction: convo.DirectionIncoming,
		Status: convo.MessageProgressing, ReferenceType: "call", ReferenceID: "ref-1",
		Source: convo.Address{Type: convo.AddressTel, Target: "+15550111"}, Destination: convo.Address{Type: convo.AddressTel, Target: "+15550100"},
		Text: "héllo 👋", Medias: []convo.Media{{ID: convo.NewID(), CustomerID: customerID, Type: convo.MediaImage, Filename: "https://example.com/a.png", TMCreate: tm, TMUpdate: tm, TMDelete: convo.Never}},
		AccountID: accountID, ProviderID: providerID, TMCreate: tm, TMUpdate: tm, TMDelete: convo.Never, TMDelivered: convo.Never, TMRead: convo.Never}
}
