package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
			{"Accounts", testAccounts},
			{"Conversations", testConversations},
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

func testCustomers(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	before := read(t, db, func(tx convo.Tx) (int, error) { return tx.CountCustomers(ctx) })
	// Far-future times make these the newest customers of the shared database.
	future := convo.NewTime(time.Date(2090, 1, 1, 0, 0, 0, 1, time.UTC).Truncate(time.Microsecond))
	c1, c2, gone := newCustomer(future), newCustomer(convo.NewTime(future.Add(time.Second))), newCustomer(convo.NewTime(future.Add(2*time.Second)))
	gone.TMDelete = at(time.Hour)
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateCustomer, c1, c2, gone) })

	if n := read(t, db, func(tx convo.Tx) (int, error) { return tx.CountCustomers(ctx) }); n != before+3 {
		t.Errorf("CountCustomers = %d, want %d (deleted ones count)", n, before+3)
	}
	for _, want := range []*convo.Customer{c1, c2, gone} {
		same(t, read(t, db, func(tx convo.Tx) (*convo.Customer, error) { return tx.GetCustomer(ctx, want.ID) }), want)
	}
	list := read(t, db, func(tx convo.Tx) ([]*convo.Customer, error) {
		return tx.ListCustomers(ctx, convo.CustomerListParams{Page: convo.Page{Limit: 2}})
	})
	wantIDs(t, ids(list, func(c *convo.Customer) string { return c.ID }), c2.ID, c1.ID)

	c1.Name, c1.Detail, c1.WebhookSecret, c1.TMUpdate = "renamed", "new detail", "new secret", at(time.Minute)
	update(t, db, func(tx convo.Tx) error { return tx.UpdateCustomer(ctx, c1) })
	same(t, read(t, db, func(tx convo.Tx) (*convo.Customer, error) { return tx.GetCustomer(ctx, c1.ID) }), c1)

	err := db.Update(ctx, func(tx convo.Tx) error { return tx.UpdateCustomer(ctx, newCustomer(base)) })
	wantErr(t, err, convo.ENotFound, "CUSTOMER_NOT_FOUND")
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.CreateCustomer(ctx, c2) })
	wantErr(t, err, convo.EConflict, "CUSTOMER_EXISTS")
	for _, id := range []string{convo.NewID(), "not-a-uuid", ""} {
		_, err := readErr(db, func(tx convo.Tx) (*convo.Customer, error) { return tx.GetCustomer(ctx, id) })
		wantErr(t, err, convo.ENotFound, "CUSTOMER_NOT_FOUND")
	}
}

func testAgents(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	custA, custB := convo.NewID(), convo.NewID()
	name := "agent-" + convo.NewID()
	a1 := newAgent(custA, name, at(0))
	a1.TagIDs, a1.Addresses = nil, nil
	busy := newAgent(custA, "busy-"+convo.NewID(), at(time.Second))
	busy.Status = convo.AgentBusy
	other := newAgent(custB, "other-"+convo.NewID(), at(2*time.Second))
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateAgent, a1, busy, other) })

	got := read(t, db, func(tx convo.Tx) (*convo.Agent, error) { return tx.GetAgent(ctx, a1.ID) })
	a1.TagIDs, a1.Addresses = []string{}, []convo.Address{}
	same(t, got, a1)
	wantJSON(t, got, `"tag_ids":[]`, `"addresses":[]`)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Agent, error) { return tx.GetAgent(ctx, busy.ID) }), busy)

	// A live username is taken; the failed insert leaves the transaction usable.
	sameName := newAgent(custB, name, at(3*time.Second))
	err := db.Update(ctx, func(tx convo.Tx) error {
		wantErr(t, tx.CreateAgent(ctx, sameName), convo.EConflict, "USERNAME_TAKEN")
		return tx.CreateAgent(ctx, newAgent(custB, "after-conflict-"+convo.NewID(), at(3*time.Second)))
	})
	if err != nil {
		t.Fatalf("insert after a conflict: %v", err)
	}

	// Once the holder is deleted the username is free again.
	a1.TMDelete, a1.TMUpdate = at(time.Hour), at(time.Hour)
	update(t, db, func(tx convo.Tx) error {
		if err := tx.UpdateAgent(ctx, a1); err != nil {
			return err
		}
		return tx.CreateAgent(ctx, sameName)
	})
	byName := read(t, db, func(tx convo.Tx) (*convo.Agent, error) { return tx.GetAgentByUsername(ctx, name) })
	same(t, byName, sameName)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Agent, error) { return tx.GetAgent(ctx, a1.ID) }), a1)
	_, err = readErr(db, func(tx convo.Tx) (*convo.Agent, error) { return tx.GetAgentByUsername(ctx, "nobody-"+convo.NewID()) })
	wantErr(t, err, convo.ENotFound, "AGENT_NOT_FOUND")
	_, err = readErr(db, func(tx convo.Tx) (*convo.Agent, error) { return tx.GetAgent(ctx, convo.NewID()) })
	wantErr(t, err, convo.ENotFound, "AGENT_NOT_FOUND")
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.UpdateAgent(ctx, newAgent(custA, "x", base)) })
	wantErr(t, err, convo.ENotFound, "AGENT_NOT_FOUND")

	agentIDs := func(p convo.AgentListParams) []string {
		list := read(t, db, func(tx convo.Tx) ([]*convo.Agent, error) { return tx.ListAgents(ctx, p) })
		return ids(list, func(a *convo.Agent) string { return a.ID })
	}
	wantIDs(t, agentIDs(convo.AgentListParams{CustomerID: custA, Page: convo.Page{Limit: 10}}), busy.ID)
	wantIDs(t, agentIDs(convo.AgentListParams{CustomerID: custA, Status: convo.AgentAvailable, Page: convo.Page{Limit: 10}}))
	if got := agentIDs(convo.AgentListParams{CustomerID: custB, Page: convo.Page{Limit: 10}}); len(got) != 3 || slices.Contains(got, busy.ID) {
		t.Errorf("customer B lists %v", got)
	}
}

func testAccessKeys(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust := convo.NewID()
	k1, k2, gone := newAccessKey(cust, at(0)), newAccessKey(cust, at(time.Second)), newAccessKey(cust, at(2*time.Second))
	gone.TMDelete = at(time.Hour)
	k1.Token = "shown once"
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateAccessKey, k1, k2, gone) })
	k1.Token = ""

	same(t, read(t, db, func(tx convo.Tx) (*convo.AccessKey, error) { return tx.GetAccessKeyByHash(ctx, k1.TokenHash) }), k1)
	same(t, read(t, db, func(tx convo.Tx) (*convo.AccessKey, error) { return tx.GetAccessKey(ctx, gone.ID) }), gone)
	_, err := readErr(db, func(tx convo.Tx) (*convo.AccessKey, error) { return tx.GetAccessKeyByHash(ctx, gone.TokenHash) })
	wantErr(t, err, convo.ENotFound, "ACCESSKEY_NOT_FOUND")
	_, err = readErr(db, func(tx convo.Tx) (*convo.AccessKey, error) { return tx.GetAccessKey(ctx, convo.NewID()) })
	wantErr(t, err, convo.ENotFound, "ACCESSKEY_NOT_FOUND")

	k2.Name, k2.TokenHash, k2.TMExpire, k2.TMUpdate = "rotated", "hash-"+convo.NewID(), at(48*time.Hour), at(time.Minute)
	update(t, db, func(tx convo.Tx) error { return tx.UpdateAccessKey(ctx, k2) })
	same(t, read(t, db, func(tx convo.Tx) (*convo.AccessKey, error) { return tx.GetAccessKeyByHash(ctx, k2.TokenHash) }), k2)
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.UpdateAccessKey(ctx, newAccessKey(cust, base)) })
	wantErr(t, err, convo.ENotFound, "ACCESSKEY_NOT_FOUND")

	list := read(t, db, func(tx convo.Tx) ([]*convo.AccessKey, error) {
		return tx.ListAccessKeys(ctx, convo.AccessKeyListParams{CustomerID: cust, Page: convo.Page{Limit: 10}})
	})
	wantIDs(t, ids(list, func(k *convo.AccessKey) string { return k.ID }), k2.ID, k1.ID)
	list = read(t, db, func(tx convo.Tx) ([]*convo.AccessKey, error) {
		return tx.ListAccessKeys(ctx, convo.AccessKeyListParams{CustomerID: convo.NewID(), Page: convo.Page{Limit: 10}})
	})
	wantIDs(t, ids(list, func(k *convo.AccessKey) string { return k.ID }))
}

func testAccounts(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	custA, custB := convo.NewID(), convo.NewID()
	a1, a2, gone, other := newAccount(custA, at(0)), newAccount(custA, at(time.Second)), newAccount(custA, at(2*time.Second)), newAccount(custB, at(3*time.Second))
	a2.ProviderData = convo.ProviderData{}
	gone.TMDelete = at(time.Hour)
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateAccount, a1, a2, gone, other) })

	for _, want := range []*convo.Account{a1, a2, gone} {
		same(t, read(t, db, func(tx convo.Tx) (*convo.Account, error) { return tx.GetAccount(ctx, want.ID) }), want)
	}
	a1.Name, a1.Secret, a1.ProviderData.AppSecret, a1.ProviderData.Number, a1.TMUpdate = "renamed", "s2", "app2", "+15550002", at(time.Minute)
	update(t, db, func(tx convo.Tx) error { return tx.UpdateAccount(ctx, a1) })
	same(t, read(t, db, func(tx convo.Tx) (*convo.Account, error) { return tx.GetAccount(ctx, a1.ID) }), a1)
	err := db.Update(ctx, func(tx convo.Tx) error { return tx.UpdateAccount(ctx, newAccount(custA, base)) })
	wantErr(t, err, convo.ENotFound, "ACCOUNT_NOT_FOUND")
	_, err = readErr(db, func(tx convo.Tx) (*convo.Account, error) { return tx.GetAccount(ctx, convo.NewID()) })
	wantErr(t, err, convo.ENotFound, "ACCOUNT_NOT_FOUND")

	accountIDs := func(p convo.AccountListParams) []string {
		p.Limit = 10
		list := read(t, db, func(tx convo.Tx) ([]*convo.Account, error) { return tx.ListAccounts(ctx, p) })
		return ids(list, func(a *convo.Account) string { return a.ID })
	}
	wantIDs(t, accountIDs(convo.AccountListParams{CustomerID: custA}), a2.ID, a1.ID)
	wantIDs(t, accountIDs(convo.AccountListParams{CustomerID: custA, Deleted: true}), gone.ID)
	wantIDs(t, accountIDs(convo.AccountListParams{CustomerID: custB}), other.ID)
}

func testConversations(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	custA, custB := convo.NewID(), convo.NewID()
	acc1, acc2, owner := convo.NewID(), convo.NewID(), convo.NewID()
	c1 := newConversation(custA, acc1, "+15550101", at(0))
	c1.OwnerType, c1.OwnerID = convo.OwnerAgent, owner
	c2 := newConversation(custA, acc2, "+15550102", at(time.Second))
	c2.Type = convo.ConversationLine
	c3 := newConversation(custA, acc1, "+15550103", at(2*time.Second))
	c3.OwnerType, c3.OwnerID = convo.OwnerAgent, owner
	unowned := newConversation(custA, acc1, "+15550104", at(3*time.Second))
	unowned.OwnerID = ""
	other := newConversation(custB, convo.NewID(), "+15550101", at(4*time.Second))
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateConversation, c1, c2, c3, unowned, other) })

	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, c1.ID) }), c1)
	unowned.OwnerID = convo.NilID // an unset owner is stored as the nil UUID
	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, unowned.ID) }), unowned)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetLiveConversation(ctx, acc2, c2.DialogID) }), c2)

	// A second live conversation of (account, dialog) conflicts without spoiling the transaction.
	later := newConversation(custA, convo.NewID(), "+15550105", at(5*time.Second))
	err := db.Update(ctx, func(tx convo.Tx) error {
		wantErr(t, tx.CreateConversation(ctx, newConversation(custA, acc1, c1.DialogID, at(5*time.Second))), convo.EConflict, "CONVERSATION_EXISTS")
		return tx.CreateConversation(ctx, later)
	})
	if err != nil {
		t.Fatalf("insert after a conflict: %v", err)
	}
	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, later.ID) }), later)

	// Deleting c2 frees its (account, dialog) for a new conversation.
	c2.TMDelete, c2.TMUpdate, c2.Name = at(time.Hour), at(time.Hour), "closed"
	again := newConversation(custA, acc2, c2.DialogID, at(6*time.Second))
	update(t, db, func(tx convo.Tx) error {
		if err := tx.UpdateConversation(ctx, c2); err != nil {
			return err
		}
		return tx.CreateConversation(ctx, again)
	})
	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, c2.ID) }), c2)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetLiveConversation(ctx, acc2, c2.DialogID) }), again)
	for _, id := range []string{convo.NewID(), "not-a-uuid"} {
		_, err = readErr(db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, id) })
		wantErr(t, err, convo.ENotFound, "CONVERSATION_NOT_FOUND")
		_, err = readErr(db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetLiveConversation(ctx, id, c1.DialogID) })
		wantErr(t, err, convo.ENotFound, "CONVERSATION_NOT_FOUND")
	}
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.UpdateConversation(ctx, newConversation(custA, acc1, "x", base)) })
	wantErr(t, err, convo.ENotFound, "CONVERSATION_NOT_FOUND")
	bad := newConversation(custA, "not-a-uuid", "x", base)
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.CreateConversation(ctx, bad) })
	wantErr(t, err, convo.EInvalid, convo.ReasonInvalidID)

	list := func(p convo.ConversationListParams) []string {
		p.Limit = 10
		return conversationIDs(t, db, p)
	}
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA}), again.ID, later.ID, unowned.ID, c3.ID, c1.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, Deleted: true}), c2.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, OwnerID: owner}), c3.ID, c1.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, OwnerID: convo.NilID}), again.ID, later.ID, unowned.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, AccountID: acc1}), unowned.ID, c3.ID, c1.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, AccountID: acc2, Deleted: true}), c2.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, Type: convo.ConversationLine, Deleted: true}), c2.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, Type: convo.ConversationLine}))
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, DialogID: "+15550101"}), c1.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custB}), other.ID)
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custB, AccountID: acc1}))
	wantIDs(t, list(convo.ConversationListParams{CustomerID: custA, OwnerID: "not-a-uuid"}))
}

func testPagination(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust, account := convo.NewID(), convo.NewID()
	tm := at(24 * time.Hour)
	older := newConversation(cust, account, "older", at(23*time.Hour))
	update(t, db, func(tx convo.Tx) error {
		for i := range 250 {
			if err := tx.CreateConversation(ctx, newConversation(cust, account, fmt.Sprint("dialog-", i), tm)); err != nil {
				return err
			}
		}
		return tx.CreateConversation(ctx, older)
	})

	var seen []string
	p := convo.ConversationListParams{CustomerID: cust, Page: convo.Page{Limit: 100}}
	for page := 0; ; page++ {
		list := read(t, db, func(tx convo.Tx) ([]*convo.Conversation, error) { return tx.ListConversations(ctx, p) })
		if len(list) == 0 {
			break
		}
		if page > 3 || len(list) > 100 {
			t.Fatalf("page %d has %d rows", page, len(list))
		}
		for _, c := range list {
			seen = append(seen, c.ID)
		}
		last := list[len(list)-1]
		p.After = &convo.Cursor{Time: last.TMCreate, ID: last.ID}
	}
	if len(seen) != 251 || seen[250] != older.ID {
		t.Fatalf("paged %d rows, want 250 sharing a time then the older one", len(seen))
	}
	sameTime := seen[:250]
	if !slices.IsSortedFunc(sameTime, func(a, b string) int { return strings.Compare(b, a) }) || len(slices.Compact(slices.Clone(sameTime))) != 250 {
		t.Error("rows sharing a time are not in strictly descending id order")
	}

	// A cursor without an id skips every row of its time.
	p.After = &convo.Cursor{Time: tm}
	wantIDs(t, conversationIDs(t, db, p), older.ID)
}

func testConcurrentConversation(t *testing.T, stores []*sqlstore.DB) {
	ctx := t.Context()
	db := stores[0]
	cust, account, dialog := convo.NewID(), convo.NewID(), "+15550199"
	meet, conflicts, n := rendezvous(int32(len(stores))), atomic.Int32{}, atomic.Int32{}
	got := concurrently(t, 32, func() (string, error) {
		var id string
		err := stores[int(n.Add(1))%len(stores)].Update(ctx, func(tx convo.Tx) error {
			c, err := tx.GetLiveConversation(ctx, account, dialog)
			if convo.ErrorStatus(err) == convo.ENotFound {
				meet()
				c = newConversation(cust, account, dialog, base)
				err = tx.CreateConversation(ctx, c)
				if convo.ErrorStatus(err) == convo.EConflict {
					conflicts.Add(1)
					c, err = tx.GetLiveConversation(ctx, account, dialog)
				}
			}
			if err != nil {
				return err
			}
			id = c.ID
			return nil
		})
		return id, err
	})
	stored := conversationIDs(t, db, convo.ConversationListParams{AccountID: account, Page: convo.Page{Limit: 100}})
	if len(stored) != 1 || len(got) != 1 || got[0] != stored[0] {
		t.Fatalf("stored %v; goroutines saw %v", stored, got)
	}
	wantRaced(t, db, conflicts.Load())
}

// testConcurrentRenames changes one conversation from many transactions,
// each reading it first (by id, or locked ahead and found among the live
// ones): every change survives, none overwrites another made meanwhile.
func testConcurrentRenames(t *testing.T, stores []*sqlstore.DB) {
	ctx := t.Context()
	c := newConversation(convo.NewID(), convo.NewID(), "+15550198", base)
	c.Detail = ""
	update(t, stores[0], func(tx convo.Tx) error { return tx.CreateConversation(ctx, c) })
	var n atomic.Int32
	concurrently(t, 32, func() (string, error) {
		i := int(n.Add(1))
		return "", stores[i%len(stores)].Update(ctx, func(tx convo.Tx) error {
			var got *convo.Conversation
			if i%2 == 0 {
				if err := tx.LockConversations(ctx, []string{convo.NewID(), c.ID, "not-a-uuid"}); err != nil {
					return err
				}
				found, err := tx.GetLiveConversations(ctx, c.AccountID, []string{c.DialogID})
				if err != nil || len(found) != 1 {
					return fmt.Errorf("GetLiveConversations: %v, %d rows", err, len(found))
				}
				got = found[0]
			} else {
				var err error
				if got, err = tx.GetConversation(ctx, c.ID); err != nil {
					return err
				}
			}
			got.Detail += "x"
			return tx.UpdateConversation(ctx, got)
		})
	})
	got := read(t, stores[0], func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, c.ID) })
	if got.Detail != strings.Repeat("x", 32) {
		t.Errorf("after 32 changes the detail is %q (%d changes)", got.Detail, len(got.Detail))
	}
}

func testMessages(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust, conv, account := convo.NewID(), convo.NewID(), convo.NewID()
	m1 := newMessage(cust, conv, account, "wamid.1", at(0))
	m1.Medias = nil
	m2 := newMessage(cust, conv, account, "", at(time.Second))
	m2.TMUpdate = convo.Never
	m3 := newMessage(cust, conv, account, "", at(2*time.Second))
	gone := newMessage(cust, conv, account, "wamid.gone", at(3*time.Second))
	gone.TMDelete = at(time.Hour)
	elsewhere := newMessage(cust, convo.NewID(), account, "wamid.2", at(4*time.Second))
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateMessage, m1, m2, m3, gone, elsewhere) })

	got := read(t, db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, m1.ID) })
	m1.Medias = []convo.Media{}
	same(t, got, m1)
	wantJSON(t, got, `"medias":[]`, `"tm_create":"2024-05-01 12:00:00.123456"`, `"tm_delete":"9999-01-01 00:00:00.000000"`)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, m2.ID) }), m2)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, gone.ID) }), gone)
	same(t, read(t, db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessageByProviderID(ctx, account, "wamid.1") }), m1)
	for _, providerID := range []string{"", "wamid.unknown"} {
		_, err := readErr(db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessageByProviderID(ctx, account, providerID) })
		wantErr(t, err, convo.ENotFound, "MESSAGE_NOT_FOUND")
	}
	_, err := readErr(db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, convo.NewID()) })
	wantErr(t, err, convo.ENotFound, "MESSAGE_NOT_FOUND")

	// A provider retry conflicts without spoiling the transaction; other accounts may reuse the id.
	otherAccount := newMessage(cust, conv, convo.NewID(), "wamid.1", at(5*time.Second))
	err = db.Update(ctx, func(tx convo.Tx) error {
		wantErr(t, tx.CreateMessage(ctx, newMessage(cust, conv, account, "wamid.1", at(5*time.Second))), convo.EConflict, "MESSAGE_EXISTS")
		return tx.CreateMessage(ctx, otherAccount)
	})
	if err != nil {
		t.Fatalf("insert after a conflict: %v", err)
	}

	m3.Status, m3.Text, m3.Medias, m3.TMUpdate = convo.MessageDone, "edited", nil, at(time.Minute)
	update(t, db, func(tx convo.Tx) error { return tx.UpdateMessage(ctx, m3) })
	m3.Medias = []convo.Media{}
	same(t, read(t, db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, m3.ID) }), m3)
	err = db.Update(ctx, func(tx convo.Tx) error { return tx.UpdateMessage(ctx, newMessage(cust, conv, account, "", base)) })
	wantErr(t, err, convo.ENotFound, "MESSAGE_NOT_FOUND")

	list := read(t, db, func(tx convo.Tx) ([]*convo.Message, error) {
		return tx.ListMessages(ctx, convo.MessageListParams{ConversationID: conv, Page: convo.Page{Limit: 10}})
	})
	wantIDs(t, ids(list, func(m *convo.Message) string { return m.ID }), otherAccount.ID, m3.ID, m2.ID, m1.ID)
	list = read(t, db, func(tx convo.Tx) ([]*convo.Message, error) {
		return tx.ListMessages(ctx, convo.MessageListParams{ConversationID: conv, Page: convo.Page{Limit: 2, After: &convo.Cursor{Time: m3.TMCreate, ID: m3.ID}}})
	})
	wantIDs(t, ids(list, func(m *convo.Message) string { return m.ID }), m2.ID, m1.ID)
}

// testBatches: the multi-row writes and reads store and find what the
// single-row ones do, across chunk boundaries, skipping provider retries.
func testBatches(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust, account := convo.NewID(), convo.NewID()
	stored := newMessage(cust, convo.NewID(), account, "batch.stored", at(0))
	update(t, db, func(tx convo.Tx) error { return tx.CreateMessage(ctx, stored) })

	// 70 rows: chunks of 64, 4 and 2; a retry of a stored message and one
	// repeated within the batch are skipped without failing the others.
	var batch []*convo.Message
	for i := range 68 {
		batch = append(batch, newMessage(cust, convo.NewID(), account, fmt.Sprintf("batch.%d", i), at(time.Duration(i)*time.Millisecond)))
	}
	retry := newMessage(cust, convo.NewID(), account, "batch.stored", at(time.Second))
	repeat := newMessage(cust, convo.NewID(), account, "batch.7", at(time.Second))
	batch = append(batch, retry, repeat)
	var written []bool
	update(t, db, func(tx convo.Tx) (err error) { written, err = tx.CreateMessages(ctx, batch); return err })
	for i, m := range batch {
		want := m != retry && m != repeat
		if written[i] != want {
			t.Errorf("message %d (provider id %s): written %v, want %v", i, m.ProviderID, written[i], want)
		}
		got, err := readErr(db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, m.ID) })
		if want {
			same(t, got, m)
		} else {
			wantErr(t, err, convo.ENotFound, "MESSAGE_NOT_FOUND")
		}
	}
	err := db.Update(ctx, func(tx convo.Tx) error { _, err := tx.CreateMessages(ctx, []*convo.Message{{ID: "nope"}}); return err })
	wantErr(t, err, convo.EInvalid, convo.ReasonInvalidID)

	// Messages written as new are stored; when one is not new (stored, or
	// twice in the batch), the transaction fails as a conflict and keeps
	// nothing, not even the writes before it.
	fresh := []*convo.Message{newMessage(cust, convo.NewID(), account, "new.1", base), newMessage(cust, convo.NewID(), account, "new.2", base)}
	update(t, db, func(tx convo.Tx) error { return tx.CreateNewMessages(ctx, fresh) })
	for _, m := range fresh {
		same(t, read(t, db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, m.ID) }), m)
	}
	for name, clash := range map[string][]*convo.Message{
		"stored":       {newMessage(cust, convo.NewID(), account, "new.3", base), newMessage(cust, convo.NewID(), account, "new.1", base)},
		"in the batch": {newMessage(cust, convo.NewID(), account, "new.4", base), newMessage(cust, convo.NewID(), account, "new.4", base)},
	} {
		conv := newConversation(cust, account, "+15550300", base)
		err := db.Update(ctx, func(tx convo.Tx) error {
			if err := tx.CreateNewConversation(ctx, conv); err != nil {
				return err
			}
			return tx.CreateNewMessages(ctx, clash)
		})
		wantErr(t, err, convo.EConflict, "MESSAGE_EXISTS")
		for _, id := range []string{clash[0].ID, clash[1].ID} {
			if _, err := readErr(db, func(tx convo.Tx) (*convo.Message, error) { return tx.GetMessage(ctx, id) }); convo.ErrorStatus(err) != convo.ENotFound {
				t.Errorf("%s: a message of the failed transaction reads back (%v)", name, err)
			}
		}
		if _, err := readErr(db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, conv.ID) }); convo.ErrorStatus(err) != convo.ENotFound {
			t.Errorf("%s: the conversation of the failed transaction reads back (%v)", name, err)
		}
	}
	// Likewise a conversation written as new while a live one has its dialog.
	live1 := newConversation(cust, account, "+15550301", base)
	update(t, db, func(tx convo.Tx) error { return tx.CreateNewConversation(ctx, live1) })
	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, live1.ID) }), live1)
	err = db.Update(ctx, func(tx convo.Tx) error {
		return tx.CreateNewConversation(ctx, newConversation(cust, account, live1.DialogID, base))
	})
	wantErr(t, err, convo.EConflict, "CONVERSATION_EXISTS")

	// Live conversations found by dialog, in chunks; deleted and other accounts' are not.
	var convs []*convo.Conversation
	var dialogs []string
	for i := range 5 {
		c := newConversation(cust, account, fmt.Sprintf("+1555020%d", i), at(time.Duration(i)*time.Second))
		convs, dialogs = append(convs, c), append(dialogs, c.DialogID)
	}
	convs[4].TMDelete = at(time.Hour)
	otherAccount := newConversation(cust, convo.NewID(), dialogs[0], base)
	update(t, db, func(tx convo.Tx) error { return createAll(ctx, tx.CreateConversation, append(convs, otherAccount)...) })
	found := read(t, db, func(tx convo.Tx) ([]*convo.Conversation, error) {
		return tx.GetLiveConversations(ctx, account, append(dialogs, "+15559999"))
	})
	slices.SortFunc(found, func(a, b *convo.Conversation) int { return strings.Compare(a.DialogID, b.DialogID) })
	wantIDs(t, ids(found, func(c *convo.Conversation) string { return c.ID }), convs[0].ID, convs[1].ID, convs[2].ID, convs[3].ID)
	same(t, found[0], convs[0])
	if none := read(t, db, func(tx convo.Tx) ([]*convo.Conversation, error) {
		return tx.GetLiveConversations(ctx, "not-a-uuid", dialogs)
	}); len(none) != 0 {
		t.Errorf("an account id that is not a UUID found %d conversations", len(none))
	}

	// A row locked ahead, found among the live ones and changed is written
	// as it was at the update: later reads of the transaction and after the
	// commit see that, not a change made to the struct afterwards. Unknown
	// and malformed ids lock nothing and fail nothing.
	renamed := *convs[1]
	renamed.Name, renamed.TMUpdate = "renamed", at(time.Minute)
	update(t, db, func(tx convo.Tx) error {
		if err := tx.LockConversations(ctx, []string{convs[4].ID, convo.NewID(), "not-a-uuid", convs[1].ID}); err != nil {
			return err
		}
		got, err := tx.GetLiveConversations(ctx, account, []string{convs[1].DialogID})
		if err != nil || len(got) != 1 {
			return fmt.Errorf("GetLiveConversations: %v, %d rows", err, len(got))
		}
		c := got[0]
		c.Name, c.TMUpdate = renamed.Name, renamed.TMUpdate
		if err := tx.UpdateConversation(ctx, c); err != nil {
			return err
		}
		c.Name = "changed after the update"
		again, err := tx.GetConversation(ctx, convs[1].ID)
		if err != nil {
			return err
		}
		same(t, again, &renamed)
		return nil
	})
	same(t, read(t, db, func(tx convo.Tx) (*convo.Conversation, error) { return tx.GetConversation(ctx, convs[1].ID) }), &renamed)

	// Events written in one batch read back as written, pending, in order.
	var evs []*convo.Event
	for i := range 3 {
		evs = append(evs, &convo.Event{ID: convo.NewID(), CustomerID: cust, Type: convo.EventMessageCreated, StreamID: convs[i].ID,
			ConversationID: convs[i].ID, Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)), NextAttemptAt: at(0), TMCreate: at(0), TMDelivered: convo.Never})
	}
	update(t, db, func(tx convo.Tx) error { return tx.CreateEvents(ctx, evs) })
	var lastPos int64
	for _, e := range evs {
		got := read(t, db, func(tx convo.Tx) (*convo.Event, error) { return tx.GetEvent(ctx, e.ID) })
		if got.Status != convo.DeliveryPending || got.Pos <= lastPos || string(got.Payload) != string(e.Payload) || got.StreamID != e.StreamID {
			t.Errorf("event %s read back as %+v, want pending after position %d", e.ID, got, lastPos)
		}
		lastPos = got.Pos
	}
}

func testConcurrentMessage(t *testing.T, stores []*sqlstore.DB) {
	ctx := t.Context()
	db := stores[0]
	cust, conv, account := convo.NewID(), convo.NewID(), convo.NewID()
	meet, conflicts, n := rendezvous(int32(len(stores))), atomic.Int32{}, atomic.Int32{}
	got := concurrently(t, 20, func() (string, error) {
		var id string
		err := stores[int(n.Add(1))%len(stores)].Update(ctx, func(tx convo.Tx) error {
			meet()
			m := newMessage(cust, conv, account, "SM-retry", base)
			err := tx.CreateMessage(ctx, m)
			if convo.ErrorStatus(err) == convo.EConflict {
				conflicts.Add(1)
				m, err = tx.GetMessageByProviderID(ctx, account, "SM-retry")
			}
			if err != nil {
				return err
			}
			id = m.ID
			return nil
		})
		return id, err
	})
	list := read(t, db, func(tx convo.Tx) ([]*convo.Message, error) {
		return tx.ListMessages(ctx, convo.MessageListParams{ConversationID: conv, Page: convo.Page{Limit: 100}})
	})
	if len(list) != 1 || len(got) != 1 || got[0] != list[0].ID {
		t.Fatalf("stored %d messages; goroutines saw %v", len(list), got)
	}
	wantRaced(t, db, conflicts.Load())
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

func testRollback(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	c := newCustomer(base)
	failure := convo.Errorf(convo.EPrecondition, "SOME_RULE", "refused")
	err := db.Update(ctx, func(tx convo.Tx) error {
		if err := tx.CreateCustomer(ctx, c); err != nil {
			return err
		}
		return failure
	})
	if err != failure {
		t.Fatalf("Update returned %v, want fn's error as is", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a panic in fn did not reach the caller")
			}
		}()
		db.Update(ctx, func(tx convo.Tx) error {
			if err := tx.CreateCustomer(ctx, c); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	_, err = readErr(db, func(tx convo.Tx) (*convo.Customer, error) { return tx.GetCustomer(ctx, c.ID) })
	wantErr(t, err, convo.ENotFound, "CUSTOMER_NOT_FOUND")
	// The store still works after the panic.
	update(t, db, func(tx convo.Tx) error { return tx.CreateCustomer(ctx, c) })
}

// testFailedWriteRollsBack checks writes that report nothing but an error
// (events, jobs): when one fails, Update fails with its error, whichever
// later call of fn saw it first, and nothing of the transaction is kept.
func testFailedWriteRollsBack(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	cust := newCustomer(base)
	update(t, db, func(tx convo.Tx) error { return tx.CreateCustomer(ctx, cust) })
	event := func(id string) *convo.Event {
		return &convo.Event{ID: id, CustomerID: cust.ID, Type: convo.EventConversationUpdated, StreamID: cust.ID, ConversationID: cust.ID,
			Payload: []byte(`{}`), NextAttemptAt: at(0), TMCreate: at(0), TMDelivered: convo.Never}
	}
	taken := event(convo.NewID())
	update(t, db, func(tx convo.Tx) error { return tx.CreateEvent(ctx, taken) })

	for _, then := range []struct {
		name string
		fn   func(tx convo.Tx) error
	}{
		{"followed by nothing", func(convo.Tx) error { return nil }},
		{"followed by a read", func(tx convo.Tx) error {
			_, err := tx.GetCustomer(ctx, cust.ID)
			return err
		}},
		{"followed by a write", func(tx convo.Tx) error {
			return tx.CreateJob(ctx, &convo.Job{ID: convo.NewID(), Kind: convo.JobPeerName, RefID: cust.ID, RunAt: at(0), TMCreate: at(0)})
		}},
	} {
		t.Run(then.name, func(t *testing.T) {
			kept := newCustomer(base)
			job := &convo.Job{ID: convo.NewID(), Kind: convo.JobPeerName, RefID: kept.ID, RunAt: at(0), TMCreate: at(0)}
			err := db.Update(ctx, func(tx convo.Tx) error {
				if err := tx.CreateCustomer(ctx, kept); err != nil {
					return err
				}
				if err := tx.CreateJob(ctx, job); err != nil {
					return err
				}
				if err := tx.CreateEvent(ctx, event(taken.ID)); err != nil {
					return err
				}
				return then.fn(tx)
			})
			wantErr(t, err, convo.EConflict, "EVENT_EXISTS")
			_, err = readErr(db, func(tx convo.Tx) (*convo.Customer, error) { return tx.GetCustomer(ctx, kept.ID) })
			wantErr(t, err, convo.ENotFound, "CUSTOMER_NOT_FOUND")
			var claimed []*convo.Job
			update(t, db, func(tx convo.Tx) (err error) {
				claimed, err = tx.ClaimJobs(ctx, convo.ClaimJobsParams{ID: job.ID, Now: at(time.Hour), LeaseUntil: at(2 * time.Hour), Limit: 1})
				return err
			})
			if len(claimed) != 0 {
				t.Errorf("the job of the failed transaction was kept: %+v", claimed[0])
			}
		})
	}
	// The store still works.
	update(t, db, func(tx convo.Tx) error { return tx.CreateEvent(ctx, event(convo.NewID())) })
}

func testViewIsReadOnly(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	c := newCustomer(base)
	if err := db.View(ctx, func(tx convo.Tx) error { return tx.CreateCustomer(ctx, c) }); err == nil {
		t.Error("View allowed a write")
	}
	_, err := readErr(db, func(tx convo.Tx) (*convo.Customer, error) { return tx.GetCustomer(ctx, c.ID) })
	wantErr(t, err, convo.ENotFound, "CUSTOMER_NOT_FOUND")
}

func testSettings(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	key := "signing-key-" + convo.NewID()
	_, err := readErr(db, func(tx convo.Tx) (string, error) { return tx.GetSetting(ctx, key) })
	wantErr(t, err, convo.ENotFound, "SETTING_NOT_FOUND")
	for _, value := range []string{"first", "second"} {
		var got string
		update(t, db, func(tx convo.Tx) (err error) { got, err = tx.InitSetting(ctx, key, value); return err })
		if got != "first" {
			t.Errorf("InitSetting(%q) = %q, want the first value", value, got)
		}
	}
	if got := read(t, db, func(tx convo.Tx) (string, error) { return tx.GetSetting(ctx, key) }); got != "first" {
		t.Errorf("GetSetting = %q", got)
	}
}

func testReopen(t *testing.T, dsn string) {
	ctx := t.Context()
	c := newCustomer(base)
	db := open(t, dsn)
	update(t, db, func(tx convo.Tx) error { return tx.CreateCustomer(ctx, c) })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	same(t, read(t, open(t, dsn), func(tx convo.Tx) (*convo.Customer, error) { return tx.GetCustomer(ctx, c.ID) }), c)
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
		TMCreate: tm, TMUpdate: tm, TMDelete: convo.Never}
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
		AccountID: accountID, ProviderID: providerID, TMCreate: tm, TMUpdate: tm, TMDelete: convo.Never}
}
