package sqlstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/convohq/convo"
)

// live and deleted select rows by tm_delete; the literal (convo.Never in
// microseconds) must match the partial indexes of the migrations.
const (
	live    = "tm_delete = 253370764800000000"
	deleted = "tm_delete <> 253370764800000000"
)

// table maps a domain type to the columns of its table.
type table[T any] struct {
	kind
	name    string
	columns []string // the fixed columns (id first), then the mutable ones
	nFixed  int
	// fields returns pointers to row's fields in the order of columns.
	fields func(row *T) []any
	// idColumns holds the positions of UUID columns, checked before writing.
	idColumns []int

	selectSQL, insertSQL, updateSQL string
	// columnsSQL is selectSQL without the table's name.
	columnsSQL string
	// indexes are those its lists walk, the preferred first (see listIndex).
	indexes []listIndex
	// insertHead and onConflictSQL frame the VALUES of the inserts.
	insertHead, onConflictSQL string
}

// idColumnNames are the columns of type UUID on PostgreSQL.
var idColumnNames = map[string]bool{"id": true, "customer_id": true, "owner_id": true, "account_id": true, "conversation_id": true, "flow_id": true}

// newTable describes table name: fixed columns are written once by insert
// (id first), mutable ones by every update; onConflict, when set, is the
// ON CONFLICT target whose clash is reported as k.conflict.
func newTable[T any](k kind, name, fixed, mutable, onConflict string, fields func(*T) []any) *table[T] {
	fixedCols, mutableCols := strings.Split(fixed, ", "), strings.Split(mutable, ", ")
	cols := slices.Concat(fixedCols, mutableCols)
	tb := &table[T]{kind: k, name: name, fields: fields, columns: cols, nFixed: len(fixedCols)}
	for i, c := range cols {
		if idColumnNames[c] {
			tb.idColumns = append(tb.idColumns, i)
		}
	}
	all := strings.Join(cols, ", ")
	tb.columnsSQL = "SELECT " + all + " FROM "
	tb.selectSQL = tb.columnsSQL + name
	tb.insertHead = "INSERT INTO " + name + " (" + all + ") VALUES "
	if onConflict != "" {
		tb.onConflictSQL = " ON CONFLICT " + onConflict + " DO NOTHING"
	}
	tb.insertSQL = tb.insertHead + tb.valuesSQL(1) + tb.onConflictSQL
	tb.updateSQL = "UPDATE " + name + " SET " + strings.Join(mutableCols, " = ?, ") + " = ? WHERE id = ?"
	return tb
}

// insert writes row; a clash on the ON CONFLICT target returns the conflict
// error and leaves the transaction usable.
func (tb *table[T]) insert(ctx context.Context, t *tx, row *T) error {
	f := tb.fields(row)
	if err := tb.checkIDs(f); err != nil {
		return err
	}
	res, err := t.q.ExecContext(ctx, t.sql(tb.insertSQL), f...)
	if err != nil {
		return interpretError(err, tb.kind)
	}
	if n, err := res.RowsAffected(); err != nil {
		return interpretError(err, tb.kind)
	} else if n == 0 {
		return tb.conflictError()
	}
	return nil
}

// insertMany writes rows with multi-row INSERTs and reports for each
// whether it was written (false: it clashed on the ON CONFLICT target).
func (tb *table[T]) insertMany(ctx context.Context, t *tx, rows []*T) ([]bool, error) {
	written := make([]bool, len(rows))
	ids := make(map[string]int, len(rows))
	err := inChunks(len(rows), func(start, n int) error {
		args := make([]any, 0, n*len(tb.columns))
		for i, row := range rows[start : start+n] {
			f := tb.fields(row)
			if err := tb.checkIDs(f); err != nil {
				return err
			}
			ids[*f[0].(*string)] = start + i
			args = append(args, f...)
		}
		res, err := t.q.QueryContext(ctx, t.sql(tb.insertManySQL(n)), args...)
		if err != nil {
			return interpretError(err, tb.kind)
		}
		for res.Next() {
			var id string
			if err := res.Scan(&id); err != nil {
				res.Close()
				return interpretError(err, tb.kind)
			}
			written[ids[id]] = true
		}
		return interpretError(errors.Join(res.Err(), res.Close()), tb.kind)
	})
	return written, err
}

// maxChunk bounds the rows of one multi-row statement.
const maxChunk = 64

// placeholders returns n comma-separated parameters.
func placeholders(n int) string {
	return "?" + strings.Repeat(", ?", n-1)
}

// inChunks calls fn for consecutive chunks of n items, each of a
// power-of-two size up to maxChunk, so that few distinct statements exist
// to compile and cache.
func inChunks(n int, fn func(start, size int) error) error {
	for start := 0; start < n; {
		size := 1
		for size*2 <= n-start && size*2 <= maxChunk {
			size *= 2
		}
		if err := fn(start, size); err != nil {
			return err
		}
		start += size
	}
	return nil
}

// insertManySQL is the INSERT of n rows, returning the ids written.
func (tb *table[T]) insertManySQL(n int) string {
	return tb.insertHead + tb.valuesSQL(n) + tb.onConflictSQL + " RETURNING id"
}

// valuesSQL is the placeholders of n rows.
func (tb *table[T]) valuesSQL(n int) string {
	row := "(" + placeholders(len(tb.columns)) + ")"
	return row + strings.Repeat(", "+row, n-1)
}

// insertNew writes rows known to be new, held back to the transaction's
// next round trip (see execLater): a clash on a unique key fails the
// transaction with the conflict error, at the latest at the commit.
func (tb *table[T]) insertNew(ctx context.Context, t *tx, rows []*T) error {
	values := make([][]any, len(rows))
	for i, row := range rows {
		f := tb.fields(row)
		if err := tb.checkIDs(f); err != nil {
			return err
		}
		var ok bool
		if values[i], ok = snapshot(f); !ok {
			return fmt.Errorf("sqlstore: %s has a column of a kind that cannot be held back", tb.what)
		}
	}
	if t.postgres && len(rows) > 0 {
		return tb.insertColumns(ctx, t, values)
	}
	return inChunks(len(values), func(start, n int) error {
		// No ON CONFLICT: a clash is an error.
		return t.execLater(ctx, tb.kind, tb.insertHead+tb.valuesSQL(n), slices.Concat(values[start:start+n]...)...)
	})
}

// insertColumns writes rows of plain values on PostgreSQL in one statement
// for any number of rows, which travel column by column as arrays.
func (tb *table[T]) insertColumns(ctx context.Context, t *tx, values [][]any) error {
	arrays, types, err := pgArrays(values)
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", tb.what, err)
	}
	selected := make([]string, len(tb.columns))
	for i, c := range tb.columns {
		selected[i] = c
		if idColumnNames[c] {
			selected[i] += "::uuid"
		}
	}
	query := "INSERT INTO " + tb.name + " (" + strings.Join(tb.columns, ", ") + ") SELECT " + strings.Join(selected, ", ") +
		" FROM unnest(" + unnestParams(types) + ") AS v(" + strings.Join(tb.columns, ", ") + ")"
	return t.execLater(ctx, tb.kind, query, arrays...)
}

// update writes the mutable columns of the row with row's id.
func (tb *table[T]) update(ctx context.Context, t *tx, row *T) error {
	f := tb.fields(row)
	if _, ok := canonicalID(*f[0].(*string)); !ok {
		return convo.NotFound(tb.notFound, tb.what)
	}
	if err := tb.checkIDs(f); err != nil {
		return err
	}
	args := append(f[tb.nFixed:], f[0])
	if t.holds(tb.name, *f[0].(*string)) {
		// The row is locked by this transaction, so the update cannot miss
		// it: it travels with the next statement, as of now.
		if values, ok := snapshot(args); ok {
			return t.execLater(ctx, tb.kind, tb.updateSQL, values...)
		}
	}
	res, err := t.q.ExecContext(ctx, t.sql(tb.updateSQL), args...)
	if err != nil {
		return interpretError(err, tb.kind)
	}
	if n, err := res.RowsAffected(); err != nil {
		return interpretError(err, tb.kind)
	} else if n == 0 {
		return convo.NotFound(tb.notFound, tb.what)
	}
	return nil
}

// checkIDs puts the UUID fields in canonical form, so that both dialects
// store and compare the same text, and rejects malformed ones.
func (tb *table[T]) checkIDs(f []any) error {
	for _, i := range tb.idColumns {
		var p *string
		switch v := f[i].(type) {
		case *string:
			p = v
		case optionalID:
			if *v.id == "" {
				continue
			}
			p = v.id
		}
		id, ok := canonicalID(*p)
		if !ok {
			return convo.Invalid(convo.ReasonInvalidID, "%s %s is not a UUID", tb.what, tb.columns[i])
		}
		*p = id
	}
	return nil
}

// get returns the one row matching where.
func (tb *table[T]) get(ctx context.Context, t *tx, where string, args ...any) (*T, error) {
	row := new(T)
	query := tb.selectSQL + " WHERE " + where
	if t.lockRows {
		query += " FOR UPDATE"
	}
	f := tb.fields(row)
	if err := t.q.QueryRowContext(ctx, t.sql(query), args...).Scan(f...); err != nil {
		return nil, interpretError(err, tb.kind)
	}
	if t.lockRows {
		t.hold(tb.name, *f[0].(*string))
	}
	return row, nil
}

// getByID returns the row with id, live or deleted.
func (tb *table[T]) getByID(ctx context.Context, t *tx, id string) (*T, error) {
	id, ok := canonicalID(id)
	if !ok {
		return nil, convo.NotFound(tb.notFound, tb.what)
	}
	return tb.get(ctx, t, "id = ?", id)
}

// query returns the rows of a query selecting the table's columns.
func (tb *table[T]) query(ctx context.Context, t *tx, query string, args ...any) ([]*T, error) {
	res, err := t.q.QueryContext(ctx, t.sql(query), args...)
	return tb.read(t, res, err)
}

// read returns the rows of res, the result of a query selecting the
// table's columns, or err.
func (tb *table[T]) read(t *tx, res rows, err error) ([]*T, error) {
	if err != nil {
		return nil, interpretError(err, tb.kind)
	}
	defer res.Close()
	rows := []*T{}
	for res.Next() {
		row := new(T)
		f := tb.fields(row)
		if err := res.Scan(f...); err != nil {
			return nil, interpretError(err, tb.kind)
		}
		t.found(tb.name, *f[0].(*string))
		rows = append(rows, row)
	}
	if err := res.Err(); err != nil {
		return nil, interpretError(err, tb.kind)
	}
	return rows, nil
}

// canonicalID returns id in canonical form; PostgreSQL would reject a
// malformed one and abort the transaction.
func canonicalID(id string) (string, bool) {
	c, err := convo.ParseID(id)
	return c, err == nil
}

var customers = newTable(
	kind{what: "customer", notFound: convo.ReasonCustomerNotFound, conflict: convo.ReasonCustomerExists, conflictDetail: "the customer exists"},
	"customers", "id, tm_create",
	"name, detail, email, phone_number, address, webhook_method, webhook_uri, webhook_secret, tm_update, tm_delete", "",
	func(c *convo.Customer) []any {
		return []any{&c.ID, micros{&c.TMCreate},
			&c.Name, &c.Detail, &c.Email, &c.PhoneNumber, &c.Address, &c.WebhookMethod, &c.WebhookURI, &c.WebhookSecret, micros{&c.TMUpdate}, micros{&c.TMDelete}}
	}).listedBy(
	allBy("customers_by_time"),
)

var agents = newTable(
	kind{what: "agent", notFound: convo.ReasonAgentNotFound, conflict: convo.ReasonUsernameTaken, conflictDetail: "the username is taken"},
	"agents", "id, customer_id, tm_create",
	"username, name, detail, ring_method, status, permission, tag_ids, addresses, password_hash, token_version, tm_update, tm_delete",
	"(username) WHERE "+live,
	func(a *convo.Agent) []any {
		return []any{&a.ID, &a.CustomerID, micros{&a.TMCreate},
			&a.Username, &a.Name, &a.Detail, &a.RingMethod, &a.Status, &a.Permission, jsonText{&a.TagIDs}, jsonText{&a.Addresses}, &a.PasswordHash, &a.TokenVersion, micros{&a.TMUpdate}, micros{&a.TMDelete}}
	}).listedBy(
	allBy("agents_by_customer", "customer_id"),
)

var accessKeys = newTable(
	kind{what: "access key", notFound: convo.ReasonAccessKeyNotFound, conflict: convo.ReasonAccessKeyExists, conflictDetail: "the access key exists"},
	"access_keys", "id, customer_id, tm_create",
	"name, detail, token_prefix, token_hash, tm_expire, tm_update, tm_delete", "",
	func(k *convo.AccessKey) []any {
		return []any{&k.ID, &k.CustomerID, micros{&k.TMCreate},
			&k.Name, &k.Detail, &k.TokenPrefix, &k.TokenHash, micros{&k.TMExpire}, micros{&k.TMUpdate}, micros{&k.TMDelete}}
	}).listedBy(
	allBy("access_keys_by_customer", "customer_id"),
)

var accounts = newTable(
	kind{what: "account", notFound: convo.ReasonAccountNotFound, conflict: convo.ReasonAccountExists, conflictDetail: "the account exists"},
	"accounts", "id, customer_id, tm_create",
	"type, name, detail, secret, token, provider_data, app_secret, message_flow_id, tm_update, tm_delete", "",
	func(a *convo.Account) []any {
		return []any{&a.ID, &a.CustomerID, micros{&a.TMCreate},
			&a.Type, &a.Name, &a.Detail, &a.Secret, &a.Token, jsonText{&a.ProviderData}, &a.ProviderData.AppSecret, &a.MessageFlowID, micros{&a.TMUpdate}, micros{&a.TMDelete}}
	}).listedBy(
	deletedBy("accounts_deleted_by_customer", "customer_id"),
	allBy("accounts_by_customer", "customer_id"),
)

var conversations = newTable(
	kind{what: "conversation", notFound: convo.ReasonConversationNotFound, conflict: convo.ReasonConversationExists, conflictDetail: "a live conversation of this account and dialog exists"},
	"conversations", "id, customer_id, tm_create",
	"owner_type, owner_id, account_id, name, detail, type, dialog_id, self, peer, tm_update, tm_delete",
	"(account_id, dialog_id) WHERE "+live,
	func(c *convo.Conversation) []any {
		return []any{&c.ID, &c.CustomerID, micros{&c.TMCreate},
			&c.OwnerType, optionalID{&c.OwnerID}, &c.AccountID, &c.Name, &c.Detail, &c.Type, &c.DialogID, jsonText{&c.Self}, jsonText{&c.Peer}, micros{&c.TMUpdate}, micros{&c.TMDelete}}
	}).listedBy(
	// A dialog holds a conversation or two, live or deleted; an owner fewer
	// than an account. Live rows are walked in indexes of every row (see the
	// migration 00010).
	allBy("conversations_by_dialog", "customer_id", "dialog_id"),
	deletedBy("conversations_deleted_by_owner", "customer_id", "owner_id"),
	allBy("conversations_by_owner", "customer_id", "owner_id"),
	deletedBy("conversations_deleted_by_account", "customer_id", "account_id"),
	allBy("conversations_by_customer_account", "customer_id", "account_id"),
	deletedBy("conversations_deleted_by_customer", "customer_id"),
	allBy("conversations_by_customer", "customer_id"),
)

var messages = newTable(
	kind{what: "message", notFound: convo.ReasonMessageNotFound, conflict: convo.ReasonMessageExists, conflictDetail: "the provider's message is already stored"},
	"messages", "id, customer_id, tm_create",
	"conversation_id, direction, status, reference_type, reference_id, source, destination, text, medias, account_id, provider_id, tm_update, tm_delete",
	"(account_id, provider_id) WHERE provider_id <> ''",
	func(m *convo.Message) []any {
		return []any{&m.ID, &m.CustomerID, micros{&m.TMCreate},
			&m.ConversationID, &m.Direction, &m.Status, &m.ReferenceType, &m.ReferenceID, jsonText{&m.Source}, jsonText{&m.Destination}, &m.Text, jsonText{&m.Medias}, optionalID{&m.AccountID}, &m.ProviderID, micros{&m.TMUpdate}, micros{&m.TMDelete}}
	}).listedBy(
	// Messages are never deleted: one index of all.
	allBy("messages_by_conversation", "conversation_id"),
)

var settings = kind{what: "setting", notFound: convo.ReasonSettingNotFound, conflict: convo.ReasonSettingExists, conflictDetail: "the setting exists"}

func (t *tx) CreateCustomer(ctx context.Context, c *convo.Customer) error {
	return customers.insert(ctx, t, c)
}

func (t *tx) GetCustomer(ctx context.Context, id string) (*convo.Customer, error) {
	return customers.getByID(ctx, t, id)
}

func (t *tx) ListCustomers(ctx context.Context, p convo.CustomerListParams) ([]*convo.Customer, error) {
	var f filter
	f.deleted(false)
	return customers.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateCustomer(ctx context.Context, c *convo.Customer) error {
	return customers.update(ctx, t, c)
}

func (t *tx) CountCustomers(ctx context.Context) (int, error) {
	var n int
	err := t.q.QueryRowContext(ctx, "SELECT count(*) FROM customers").Scan(&n)
	return n, interpretError(err, customers.kind)
}

func (t *tx) CreateAgent(ctx context.Context, a *convo.Agent) error {
	return agents.insert(ctx, t, a)
}

func (t *tx) GetAgent(ctx context.Context, id string) (*convo.Agent, error) {
	return agents.getByID(ctx, t, id)
}

func (t *tx) GetAgentByUsername(ctx context.Context, username string) (*convo.Agent, error) {
	return agents.get(ctx, t, "username = ? AND "+live, username)
}

func (t *tx) ListAgents(ctx context.Context, p convo.AgentListParams) ([]*convo.Agent, error) {
	var f filter
	f.equalID("customer_id", p.CustomerID)
	f.equal("status", p.Status)
	f.deleted(false)
	return agents.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateAgent(ctx context.Context, a *convo.Agent) error {
	return agents.update(ctx, t, a)
}

func (t *tx) CreateAccessKey(ctx context.Context, k *convo.AccessKey) error {
	return accessKeys.insert(ctx, t, k)
}

func (t *tx) GetAccessKey(ctx context.Context, id string) (*convo.AccessKey, error) {
	return accessKeys.getByID(ctx, t, id)
}

func (t *tx) GetAccessKeyByHash(ctx context.Context, hash string) (*convo.AccessKey, error) {
	return accessKeys.get(ctx, t, "token_hash = ? AND "+live, hash)
}

func (t *tx) ListAccessKeys(ctx context.Context, p convo.AccessKeyListParams) ([]*convo.AccessKey, error) {
	var f filter
	f.equalID("customer_id", p.CustomerID)
	f.deleted(false)
	return accessKeys.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateAccessKey(ctx context.Context, k *convo.AccessKey) error {
	return accessKeys.update(ctx, t, k)
}

func (t *tx) CreateAccount(ctx context.Context, a *convo.Account) error {
	return accounts.insert(ctx, t, a)
}

func (t *tx) GetAccount(ctx context.Context, id string) (*convo.Account, error) {
	return accounts.getByID(ctx, t, id)
}

func (t *tx) ListAccounts(ctx context.Context, p convo.AccountListParams) ([]*convo.Account, error) {
	var f filter
	f.equalID("customer_id", p.CustomerID)
	f.deleted(p.Deleted)
	return accounts.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateAccount(ctx context.Context, a *convo.Account) error {
	return accounts.update(ctx, t, a)
}

func (t *tx) CreateConversation(ctx context.Context, c *convo.Conversation) error {
	return conversations.insert(ctx, t, c)
}

func (t *tx) CreateNewConversation(ctx context.Context, c *convo.Conversation) error {
	return conversations.insertNew(ctx, t, []*convo.Conversation{c})
}

func (t *tx) GetConversation(ctx context.Context, id string) (*convo.Conversation, error) {
	return conversations.getByID(ctx, t, id)
}

func (t *tx) LockConversations(ctx context.Context, ids []string) error {
	if !t.lockRows {
		return nil
	}
	var canonical []string
	for _, id := range ids {
		if id, ok := canonicalID(id); ok {
			canonical = append(canonical, id)
		}
	}
	if len(canonical) == 0 {
		return nil
	}
	// Locked one by one in id order, so that two transactions locking the
	// same rows cannot each wait for the other. A statement per row: over
	// an array of ids, PostgreSQL planned the statement anew at every call
	// (~180 µs), as the few ids of a call always looked cheaper than its
	// generic plan; a lookup by key keeps its cached plan.
	slices.Sort(canonical)
	for _, id := range slices.Compact(canonical) {
		t.lockLater(conversations.name, id)
		if err := t.execLater(ctx, conversations.kind, "SELECT 1 FROM conversations WHERE id = ? FOR UPDATE", id); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) GetLiveConversation(ctx context.Context, accountID, dialogID string) (*convo.Conversation, error) {
	accountID, ok := canonicalID(accountID)
	if !ok {
		return nil, convo.NotFound(conversations.notFound, conversations.what)
	}
	return conversations.get(ctx, t, "account_id = ? AND dialog_id = ? AND "+live, accountID, dialogID)
}

func (t *tx) GetLiveConversations(ctx context.Context, accountID string, dialogIDs []string) ([]*convo.Conversation, error) {
	accountID, ok := canonicalID(accountID)
	if !ok || len(dialogIDs) == 0 {
		return []*convo.Conversation{}, nil
	}
	if t.postgres {
		// One statement for any number of dialogs (a statement is a round
		// trip), each looked up by index. LIMIT keeps the lookup apart: a
		// join's cached generic plan, made while the table was young, walked
		// the account's whole index range instead.
		return conversations.query(ctx, t, "SELECT c.* FROM unnest(?::text[]) AS d(want) CROSS JOIN LATERAL ("+
			conversations.selectSQL+" WHERE account_id = ? AND dialog_id = d.want AND "+live+" LIMIT 1) c", dialogIDs, accountID)
	}
	var found []*convo.Conversation
	err := inChunks(len(dialogIDs), func(start, n int) error {
		args := make([]any, 0, 2*n)
		for _, d := range dialogIDs[start : start+n] {
			args = append(args, accountID, d)
		}
		// One exact lookup per dialog; a statement costs no round trip here.
		branch := conversations.selectSQL + " WHERE account_id = ? AND dialog_id = ? AND " + live
		rows, err := conversations.query(ctx, t, branch+strings.Repeat(" UNION ALL "+branch, n-1), args...)
		found = append(found, rows...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

func (t *tx) ListConversations(ctx context.Context, p convo.ConversationListParams) ([]*convo.Conversation, error) {
	var f filter
	f.equalID("customer_id", p.CustomerID)
	f.equalID("owner_id", p.OwnerID)
	f.equalID("account_id", p.AccountID)
	f.equal("type", p.Type)
	f.equal("dialog_id", p.DialogID)
	f.deleted(p.Deleted)
	return conversations.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateConversation(ctx context.Context, c *convo.Conversation) error {
	return conversations.update(ctx, t, c)
}

func (t *tx) CreateMessage(ctx context.Context, m *convo.Message) error {
	return messages.insert(ctx, t, m)
}

func (t *tx) CreateMessages(ctx context.Context, ms []*convo.Message) ([]bool, error) {
	return messages.insertMany(ctx, t, ms)
}

func (t *tx) CreateNewMessages(ctx context.Context, ms []*convo.Message) error {
	return messages.insertNew(ctx, t, ms)
}

func (t *tx) GetMessage(ctx context.Context, id string) (*convo.Message, error) {
	return messages.getByID(ctx, t, id)
}

func (t *tx) GetMessageByProviderID(ctx context.Context, accountID, providerID string) (*convo.Message, error) {
	accountID, ok := canonicalID(cmp.Or(accountID, convo.NilID))
	if !ok {
		return nil, convo.NotFound(messages.notFound, messages.what)
	}
	// provider_id <> '' keeps unknown (empty) ids from matching and lets both
	// databases use the partial unique index.
	return messages.get(ctx, t, "account_id = ? AND provider_id = ? AND provider_id <> ''", accountID, providerID)
}

func (t *tx) ListMessages(ctx context.Context, p convo.MessageListParams) ([]*convo.Message, error) {
	// Without a conversation there is nothing to list, rather than every message.
	f := filter{none: p.ConversationID == ""}
	f.equalID("conversation_id", p.ConversationID)
	f.deleted(false)
	return messages.list(ctx, t, f, p.Page)
}

func (t *tx) UpdateMessage(ctx context.Context, m *convo.Message) error {
	return messages.update(ctx, t, m)
}

func (t *tx) GetSetting(ctx context.Context, key string) (string, error) {
	var value string
	err := t.q.QueryRowContext(ctx, t.sql("SELECT value FROM settings WHERE key = ?"), key).Scan(&value)
	return value, interpretError(err, settings)
}

func (t *tx) InitSetting(ctx context.Context, key, value string) (string, error) {
	if _, err := t.q.ExecContext(ctx, t.sql("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"), key, value); err != nil {
		return "", interpretError(err, settings)
	}
	return t.GetSetting(ctx, key)
}

var jobs = kind{what: "job", notFound: convo.ReasonJobNotFound, conflict: convo.ReasonJobExists, conflictDetail: "the job exists"}

func (t *tx) CreateJob(ctx context.Context, j *convo.Job) error {
	var lockedUntil int64 // unclaimed
	if !j.LockedUntil.IsZero() {
		lockedUntil = j.LockedUntil.Micros()
	}
	return t.execLater(ctx, jobs, "INSERT INTO jobs (id, kind, ref_id, run_at, locked_until, attempts, last_error, tm_create) VALUES (?, ?, ?, ?, ?, ?, '', ?)",
		j.ID, j.Kind, j.RefID, j.RunAt.Micros(), lockedUntil, j.Attempts, j.TMCreate.Micros())
}

func (t *tx) ClaimJobs(ctx context.Context, p convo.ClaimJobsParams) ([]*convo.Job, error) {
	now := p.Now.Micros()
	due, args := "run_at <= ? AND locked_until <= ? ORDER BY run_at LIMIT ?", []any{p.LeaseUntil.Micros(), now, now, max(p.Limit, 1)}
	if p.ID != "" {
		id, ok := canonicalID(p.ID)
		if !ok {
			return nil, nil
		}
		due, args = "id = ? AND locked_until <= ?", []any{p.LeaseUntil.Micros(), id, now}
	}
	picked := "id IN (SELECT id FROM jobs WHERE " + due + ")"
	if t.postgres {
		// Several processes poll one database: each job goes to exactly one.
		// The ids picked are an array, looked up one by one: joined with
		// the table, a claim read every job to match a few.
		picked = "id = ANY(ARRAY(SELECT id FROM jobs WHERE " + due + " FOR UPDATE SKIP LOCKED))"
	}
	query := "UPDATE jobs SET locked_until = ?, attempts = attempts + 1 WHERE " + picked + " RETURNING id, kind, ref_id, run_at, attempts, last_error, tm_create"
	var res rows
	var err error
	if p.ID != "" {
		res, err = t.q.QueryContext(ctx, t.sql(query), args...)
	} else {
		// Walked in due order, not read whole and sorted (see pinSQL).
		res, err = t.queryInOrder(ctx, query, args...)
	}
	if err != nil {
		return nil, interpretError(err, jobs)
	}
	defer res.Close()
	var claimed []*convo.Job
	for res.Next() {
		j := &convo.Job{}
		if err := res.Scan(&j.ID, &j.Kind, &j.RefID, micros{&j.RunAt}, &j.Attempts, &j.LastError, micros{&j.TMCreate}); err != nil {
			return nil, interpretError(err, jobs)
		}
		claimed = append(claimed, j)
	}
	return claimed, interpretError(res.Err(), jobs)
}

func (t *tx) ReleaseJobLeases(ctx context.Context, ends []convo.Time) error {
	return t.releaseLeases(ctx, jobs, "UPDATE jobs SET locked_until = 0, attempts = attempts - 1 WHERE locked_until", ends)
}

// releaseLeases runs update, a statement ending in its lease column, on
// the rows leased until any of ends.
func (t *tx) releaseLeases(ctx context.Context, k kind, update string, ends []convo.Time) error {
	values := make([]int64, len(ends))
	for i, e := range ends {
		values[i] = e.Micros()
	}
	if t.postgres {
		return t.execLater(ctx, k, update+" = ANY(?::bigint[])", values)
	}
	return inChunks(len(values), func(start, n int) error {
		args := make([]any, n)
		for i := range args {
			args[i] = values[start+i]
		}
		return t.execLater(ctx, k, update+" IN ("+placeholders(n)+")", args...)
	})
}

func (t *tx) RescheduleJob(ctx context.Context, id string, runAt convo.Time, lastError string) error {
	return t.execLater(ctx, jobs, "UPDATE jobs SET run_at = ?, locked_until = 0, last_error = ? WHERE id = ?", runAt.Micros(), lastError, id)
}

func (t *tx) DeleteJob(ctx context.Context, id string) error {
	return t.execLater(ctx, jobs, "DELETE FROM jobs WHERE id = ?", id)
}
