package sqlstore

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
)

// TestListPlans pins the plans of every list and claim on a database of
// some size, first with no planner statistics at all (a database just
// bulk-loaded or restored, or never analyzed: autovacuum may be off), then
// after ANALYZE. Each must walk the index of its filter in the list's order
// and stop at the page's end, never gather the filter's rows through a
// bitmap (of one index or two combined) and sort them: without statistics
// PostgreSQL did that for the conversation list, 560 ms a page at 200,000
// conversations. A list of deleted rows must walk an index of deleted rows,
// not every live one. Every filter combination the API offers is tried, on
// the first page and after a cursor; on PostgreSQL both the plan made for
// the values and the generic plan a cached statement may switch to.
func TestListPlans(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		db, err := Open(t.Context(), b.DSN, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		s := seedLists(t, db)
		for _, analyzed := range []bool{false, true} {
			name := "never analyzed"
			if analyzed {
				name = "analyzed"
				analyzeTables(t, db)
			}
			if got := statisticsKept(t, db); got != analyzed {
				t.Fatalf("%s: the database keeps statistics: %v", name, got)
			}
			t.Run(name, func(t *testing.T) {
				for _, c := range listPlanCases(s) {
					t.Run(c.name, func(t *testing.T) {
						rec := &recorder{q: sqlQuerier{db.writer}}
						if err := c.run(t.Context(), &tx{q: rec, postgres: db.dialect == DialectPostgres}); err != nil {
							t.Fatal(err)
						}
						rec.stmts = c.walks(rec.stmts)
						if db.dialect == DialectPostgres {
							// Statements that are not walks may be compiled, if ever costly enough.
							pinned := slices.ContainsFunc(rec.stmts, func(st recorded) bool { return st.query == pinSQL })
							for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
								plan := explainPrepared(t, db, rec.stmts, c.verb(), mode)
								if !pinned {
									plan = slices.DeleteFunc(plan, func(line string) bool { return line == "JIT:" })
								}
								checkPostgresWalk(t, mode, plan, c)
							}
							return
						}
						var plan []string
						for _, st := range rec.stmts {
							lines, err := explain(t.Context(), sqlQuerier{db.writer}, st)
							if err != nil {
								t.Fatalf("explain %q: %v", st.query, err)
							}
							plan = append(plan, lines...)
						}
						checkSQLiteWalk(t, plan, c)
					})
				}
				if db.dialect == DialectPostgres {
					checkSearchPlans(t, db, s.customer)
				}
			})
		}
	})
}

// listPlanCase is a list or claim and the index its plan must walk.
type listPlanCase struct {
	name, index string
	// byPosition marks the lists of waiting and dead deliveries, which look
	// their few events up by position and sort them.
	byPosition bool
	// update marks a claim, an UPDATE whose pick walks the index.
	update bool
	// walk, when set, is a part of the one statement that walks the index:
	// the statements that find what it walks (labels by name) are not checked.
	walk string
	run  func(ctx context.Context, tx *tx) error
}

// walks returns the statements of stmts whose plans c checks, with the
// settings they run under.
func (c listPlanCase) walks(stmts []recorded) []recorded {
	if c.walk == "" {
		return stmts
	}
	var kept []recorded
	for _, st := range stmts {
		if st.query == pinSQL || st.query == unpinSQL || strings.Contains(st.query, c.walk) {
			kept = append(kept, st)
		}
	}
	return kept
}

func (c listPlanCase) verb() string {
	if c.update {
		return "UPDATE"
	}
	return "SELECT"
}

// checkPostgresWalk fails t unless plan (made in mode) scans c's index
// and neither sorts, combines indexes in a bitmap nor reads a whole table.
func checkPostgresWalk(t *testing.T, mode string, plan []string, c listPlanCase) {
	t.Helper()
	all := strings.Join(plan, "\n")
	if !regexp.MustCompile(`Index (Only )?Scan (Backward )?using ` + c.index + ` on `).MatchString(all) {
		t.Errorf("%s: the plan does not walk %s:\n%s", mode, c.index, all)
	}
	// The waiting and dead deliveries are few, their positions read whole and sorted.
	if c.byPosition {
		all = regexp.MustCompile(`Seq Scan on (event_queue|dead_events)|Sort`).ReplaceAllString(all, "")
	}
	// A bitmap of a few keys (a claim's picks) reads what it returns. A
	// walk is never compiled (see pinSQL).
	for _, step := range []string{"BitmapAnd", "Seq Scan", "Sort", "JIT:"} {
		if strings.Contains(all, step) {
			t.Errorf("%s: the plan has a %s:\n%s", mode, step, strings.Join(plan, "\n"))
		}
	}
	if c.byPosition && !regexp.MustCompile(`Index Cond: [^\n]*pos = ANY`).MatchString(all) {
		t.Errorf("%s: the plan does not look the events up by position:\n%s", mode, all)
	}
}

// checkSQLiteWalk fails t unless plan searches c's index and neither sorts
// in a temporary tree nor scans a table.
func checkSQLiteWalk(t *testing.T, plan []string, c listPlanCase) {
	t.Helper()
	all := strings.Join(plan, "\n")
	if !regexp.MustCompile(`(?m)USING (COVERING )?INDEX ` + c.index + `( |$)`).MatchString(all) {
		t.Errorf("the plan does not walk %s:\n%s", c.index, all)
	}
	for _, line := range plan {
		name, scan := strings.CutPrefix(line, "SCAN ")
		if scan && !strings.Contains(name, " USING ") || strings.Contains(line, "TEMP B-TREE") && !c.byPosition {
			t.Errorf("plan step %q reads more than it returns:\n%s", line, all)
		}
	}
}

// listSeed is what seedLists wrote that the cases list by.
type listSeed struct {
	customer, owner, account, dialog, conversation, flow, activeflowRef string
	// middle is a cursor halfway down the customer's conversations.
	middle *convo.Cursor
	// page is a page of the owner's conversations, read and unread.
	page []string
}

// listPlanCases returns every list with every filter combination the API
// offers, each on its first page and after a cursor, and the two claims.
func listPlanCases(s listSeed) []listPlanCase {
	var cases []listPlanCase
	for _, page := range []struct {
		name string
		page convo.Page
	}{{"first page", convo.Page{Limit: 100}}, {"after a cursor", convo.Page{After: s.middle, Limit: 100}}} {
		add := func(name, index string, run func(ctx context.Context, tx *tx, p convo.Page) error) {
			cases = append(cases, listPlanCase{name: name + ", " + page.name, index: index, run: func(ctx context.Context, tx *tx) error { return run(ctx, tx, page.page) }})
		}
		for _, deleted := range []bool{false, true} {
			for mask := range 16 {
				p := convo.ConversationListParams{CustomerID: s.customer, Deleted: deleted}
				var filters []string
				if mask&1 != 0 {
					p.OwnerID, filters = s.owner, append(filters, "owner")
				}
				if mask&2 != 0 {
					p.AccountID, filters = s.account, append(filters, "account")
				}
				if mask&4 != 0 {
					p.Type, filters = convo.ConversationLine, append(filters, "type")
				}
				if mask&8 != 0 {
					p.DialogID, filters = s.dialog, append(filters, "dialog")
				}
				if deleted {
					filters = append(filters, "deleted")
				}
				add(fmt.Sprintf("conversations %v", filters), conversationIndex(p), func(ctx context.Context, tx *tx, page convo.Page) error {
					p.Page = page
					_, err := tx.ListConversations(ctx, p)
					return err
				})
			}
		}
		// Lists by last activity: an owner's (the unassigned queue is the
		// nil owner's) or the customer's, of one status, of several or of any.
		for mask := range 16 {
			p := convo.ConversationListParams{CustomerID: s.customer, ByActivity: true}
			var filters []string
			switch {
			case mask&1 != 0:
				p.OwnerID, filters = s.owner, append(filters, "owner")
			case mask&2 != 0:
				p.Unassigned, filters = true, append(filters, "unassigned")
			}
			switch {
			case mask&4 != 0:
				p.Statuses, filters = []string{convo.StatusOpen}, append(filters, "open")
			case mask&8 != 0:
				p.Statuses, filters = []string{convo.StatusOpen, convo.StatusPending}, append(filters, "open or pending")
			}
			if mask&3 == 3 || mask&12 == 12 {
				p.AccountID, filters = s.account, append(filters, "account")
			}
			add(fmt.Sprintf("conversations by activity %v", filters), activityIndex(p), func(ctx context.Context, tx *tx, page convo.Page) error {
				p.Page = page
				_, err := tx.ListConversations(ctx, p)
				return err
			})
		}
		// Lists of a label walk its rows in the list's order; of several,
		// the rarest one's. An agent's unread list walks its conversations.
		labelled := func(name, index string, p convo.ConversationListParams) {
			add(name, index, func(ctx context.Context, tx *tx, page convo.Page) error {
				p.CustomerID, p.Page = s.customer, page
				_, err := tx.ListConversations(ctx, p)
				return err
			})
			cases[len(cases)-1].walk = "conversation_labels AS cl"
		}
		labelled("conversations of a common label", "conversation_labels_by_time", convo.ConversationListParams{Labels: []string{"billing"}})
		labelled("conversations of a common label by activity", "conversation_labels_by_activity", convo.ConversationListParams{Labels: []string{"billing"}, ByActivity: true})
		labelled("conversations of a rare label by activity", "conversation_labels_by_activity", convo.ConversationListParams{Labels: []string{"vip"}, ByActivity: true})
		labelled("open conversations of an owner and two labels by activity", "conversation_labels_by_activity",
			convo.ConversationListParams{OwnerID: s.owner, Statuses: []string{convo.StatusOpen}, Labels: []string{"billing", "vip"}, ByActivity: true})
		labelled("deleted conversations of a label", "conversation_labels_by_time", convo.ConversationListParams{Labels: []string{"billing"}, Deleted: true})
		for _, statuses := range [][]string{nil, {convo.StatusOpen}} {
			p := convo.ConversationListParams{CustomerID: s.customer, OwnerID: s.owner, UnreadFor: s.owner, Statuses: statuses, ByActivity: true}
			add(fmt.Sprintf("unread conversations of an owner by activity %v", statuses), activityIndex(p), func(ctx context.Context, tx *tx, page convo.Page) error {
				p.Page = page
				_, err := tx.ListConversations(ctx, p)
				return err
			})
		}
		add("customers", "customers_by_time", func(ctx context.Context, tx *tx, p convo.Page) error {
			_, err := tx.ListCustomers(ctx, convo.CustomerListParams{Page: p})
			return err
		})
		for _, status := range []string{"", convo.AgentAvailable} {
			add("agents of status "+status, "agents_by_customer", func(ctx context.Context, tx *tx, p convo.Page) error {
				_, err := tx.ListAgents(ctx, convo.AgentListParams{CustomerID: s.customer, Status: status, Page: p})
				return err
			})
		}
		add("access keys", "access_keys_by_customer", func(ctx context.Context, tx *tx, p convo.Page) error {
			_, err := tx.ListAccessKeys(ctx, convo.AccessKeyListParams{CustomerID: s.customer, Page: p})
			return err
		})
		for deleted, index := range map[bool]string{false: "accounts_by_customer", true: "accounts_deleted_by_customer"} {
			add(fmt.Sprintf("accounts, deleted %v", deleted), index, func(ctx context.Context, tx *tx, p convo.Page) error {
				_, err := tx.ListAccounts(ctx, convo.AccountListParams{CustomerID: s.customer, Deleted: deleted, Page: p})
				return err
			})
		}
		add("messages", "messages_by_conversation", func(ctx context.Context, tx *tx, p convo.Page) error {
			_, err := tx.ListMessages(ctx, convo.MessageListParams{ConversationID: s.conversation, Page: p})
			return err
		})
		add("flows", "flows_by_customer", func(ctx context.Context, tx *tx, p convo.Page) error {
			_, err := tx.ListFlows(ctx, convo.FlowListParams{CustomerID: s.customer, Page: p})
			return err
		})
		for _, f := range []struct{ flow, ref, index string }{
			{"", "", "activeflows_by_customer"}, {s.flow, "", "activeflows_by_flow"},
			{"", s.activeflowRef, "activeflows_by_reference"}, {s.flow, s.activeflowRef, "activeflows_by_reference"},
		} {
			add(fmt.Sprintf("activeflows of flow %q reference %q", f.flow, f.ref), f.index, func(ctx context.Context, tx *tx, p convo.Page) error {
				_, err := tx.ListActiveflows(ctx, convo.ActiveflowListParams{CustomerID: s.customer, FlowID: f.flow, ReferenceID: f.ref, Page: p})
				return err
			})
		}
		for mask := range 8 {
			p := convo.EventListParams{CustomerID: s.customer}
			if mask&1 != 0 {
				p.Status = convo.DeliveryDelivered
			}
			if mask&2 != 0 {
				p.Type = convo.EventMessageCreated
			}
			if mask&4 != 0 {
				p.ConversationID = s.conversation
			}
			add(fmt.Sprintf("deliveries of status %q type %q conversation %q", p.Status, p.Type, p.ConversationID), "events_by_customer", func(ctx context.Context, tx *tx, page convo.Page) error {
				p.Page = page
				_, err := tx.ListEvents(ctx, p)
				return err
			})
		}
		for mask := range 16 {
			p := convo.AuditLogListParams{CustomerID: s.customer}
			if mask&1 != 0 {
				p.ActorID = s.owner
			}
			if mask&2 != 0 {
				p.ResourceType = convo.ResourceConversation
			}
			if mask&4 != 0 {
				p.ResourceID = s.conversation
			}
			if mask&8 != 0 {
				p.Action = convo.AuditAssigned
			}
			index := "audit_logs_by_customer"
			switch {
			case p.ResourceID != "":
				index = "audit_logs_by_resource"
			case p.ActorID != "":
				index = "audit_logs_by_actor"
			case p.Action != "":
				index = "audit_logs_by_action"
			case p.ResourceType != "":
				index = "audit_logs_by_resource_type"
			}
			add(fmt.Sprintf("audit logs of actor %q resource %q %q action %q", p.ActorID, p.ResourceType, p.ResourceID, p.Action), index, func(ctx context.Context, tx *tx, page convo.Page) error {
				p.Page = page
				_, err := tx.ListAuditLogs(ctx, p)
				return err
			})
		}
		for _, status := range []string{convo.DeliveryPending, convo.DeliveryFailed, convo.DeliveryDead} {
			add("deliveries "+status, "(events_pos|events_by_customer_pos)", func(ctx context.Context, tx *tx, p convo.Page) error {
				_, err := tx.ListEvents(ctx, convo.EventListParams{CustomerID: s.customer, Status: status, Page: p})
				return err
			})
			cases[len(cases)-1].byPosition = true
		}
	}
	after := int64(1000)
	cases = append(cases,
		listPlanCase{name: "idle conversations to resolve", index: "conversations_activity_by_status", run: func(ctx context.Context, tx *tx) error {
			_, err := tx.ListIdleConversations(ctx, convo.IdleConversationParams{CustomerID: s.customer, AccountID: s.account, Status: convo.StatusOpen,
				Before: convo.NewTime(time.Now().Add(-24 * time.Hour)), Limit: 100})
			return err
		}},
		// The positions of all customers' events may serve one with most of them.
		listPlanCase{name: "realtime replay", index: "(events_by_customer_pos|events_pos)", run: func(ctx context.Context, tx *tx) error {
			_, err := tx.ListEvents(ctx, convo.EventListParams{CustomerID: s.customer, AfterPos: &after, Page: convo.Page{Limit: 100}})
			return err
		}},
		// An agent's page of conversations: their unread counts, each mark
		// looked up by key (never all of the agent's marks read), the
		// messages of the unread ones alone counted.
		listPlanCase{name: "unread counts of a page", index: "(read_marks_pkey|sqlite_autoindex_conversations_1)", run: func(ctx context.Context, tx *tx) error {
			_, err := tx.UnreadCounts(ctx, s.owner, s.page)
			return err
		}},
		listPlanCase{name: "job claim", index: "jobs_due", update: true, run: func(ctx context.Context, tx *tx) error {
			now := convo.NewTime(time.Now())
			_, err := tx.ClaimJobs(ctx, convo.ClaimJobsParams{Now: now, LeaseUntil: now, Limit: 32})
			return err
		}},
		listPlanCase{name: "delivery claim", index: "event_queue_due", update: true, run: func(ctx context.Context, tx *tx) error {
			now := convo.NewTime(time.Now())
			_, err := tx.ClaimEvents(ctx, convo.ClaimEventsParams{Now: now, LeaseUntil: now, Limit: 64})
			return err
		}},
	)
	return cases
}

// conversationIndex is the index a conversation list of p walks: the one
// of its most selective filter.
func conversationIndex(p convo.ConversationListParams) string {
	switch {
	case p.DialogID != "":
		return "conversations_by_dialog"
	case p.OwnerID != "" && p.Deleted:
		return "conversations_deleted_by_owner"
	case p.OwnerID != "":
		return "conversations_by_owner"
	case p.AccountID != "" && p.Deleted:
		return "conversations_deleted_by_account"
	case p.AccountID != "":
		return "conversations_by_customer_account"
	case p.Deleted:
		return "conversations_deleted_by_customer"
	}
	return "conversations_by_customer"
}

// activityIndex is the index a conversation list by activity of p walks.
func activityIndex(p convo.ConversationListParams) string {
	owner := p.OwnerID != "" || p.Unassigned
	switch {
	case owner && len(p.Statuses) == 1:
		return "conversations_activity_by_owner_status"
	case owner:
		return "conversations_activity_by_owner"
	case len(p.Statuses) == 1:
		return "conversations_activity_by_status"
	}
	return "conversations_activity_by_customer"
}

// listTables are the tables seedLists writes.
const listTables = "customers, agents, access_keys, accounts, conversations, messages, flows, activeflows, events, event_queue, dead_events, jobs, audit_logs, labels, conversation_labels, read_marks"

// analyzeTables has the database gather statistics of listTables.
func analyzeTables(t *testing.T, db *DB) {
	t.Helper()
	query := "ANALYZE"
	if db.dialect == DialectPostgres {
		// This schema's tables only: other tests' databases share the server.
		query += " " + listTables
	}
	if _, err := db.writer.ExecContext(t.Context(), query); err != nil {
		t.Fatal(err)
	}
}

// statisticsKept reports whether the database holds planner statistics of
// any table.
func statisticsKept(t *testing.T, db *DB) bool {
	t.Helper()
	query := "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1')"
	if db.dialect == DialectPostgres {
		query = "SELECT EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = current_schema())"
	}
	var kept bool
	if err := db.writer.QueryRowContext(t.Context(), query).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	return kept
}

// seedLists writes three customers, the first with most rows: 24,000
// conversations (70% the first customer's) over three accounts each and
// six agents (a third owned, one in 25 deleted, one dialog on every
// account), 5,000 messages, 6,000 activeflows, 15,000 events (one in ten
// waiting, a few dead) and 3,000 jobs; and 300 more customers.
func seedLists(t *testing.T, db *DB) listSeed {
	t.Helper()
	ctx := t.Context()
	if db.dialect == DialectPostgres {
		// Nothing may gather statistics behind the test's back.
		for _, table := range strings.Split(listTables, ", ") {
			if _, err := db.writer.ExecContext(ctx, "ALTER TABLE "+table+" SET (autovacuum_enabled = false)"); err != nil {
				t.Fatal(err)
			}
		}
	}
	base := time.Now().Add(-48 * time.Hour)
	at := func(i int) convo.Time { return convo.NewTime(base.Add(time.Duration(i) * time.Second)) }
	id := convo.NewID
	type tenant struct {
		customer convo.Customer
		accounts []convo.Account
		agents   []string
		flows    []string
	}
	var (
		tenants      []tenant
		custs        []convo.Customer
		agentRows    []convo.Agent
		keys         []convo.AccessKey
		accountRows  []convo.Account
		convs        []convo.Conversation
		msgs         []convo.Message
		flowRows     []convo.Flow
		afs          []convo.Activeflow
		evs          []*convo.Event
		s            listSeed
		deletedAt    = func(i int) convo.Time { return at(i + 1) }
		liveOrDelete = func(i, every int) convo.Time {
			if i%every == every-1 {
				return deletedAt(i)
			}
			return convo.Never
		}
	)
	for c := range 303 {
		cust := convo.Customer{ID: id(), Name: fmt.Sprintf("customer %d", c), TMCreate: at(c), TMUpdate: at(c), TMDelete: liveOrDelete(c, 10)}
		if c < 3 {
			cust.TMDelete, cust.WebhookMethod, cust.WebhookURI = convo.Never, "POST", "https://example.com/hook"
			tn := tenant{customer: cust}
			for a, typ := range []string{convo.AccountLine, convo.AccountSMS, convo.AccountWhatsApp, convo.AccountLine, convo.AccountSMS} {
				acct := convo.Account{ID: id(), CustomerID: cust.ID, Type: typ, Name: typ, TMCreate: at(a), TMUpdate: at(a), TMDelete: convo.Never}
				if a >= 3 {
					acct.TMDelete = deletedAt(a)
				} else {
					tn.accounts = append(tn.accounts, acct)
				}
				accountRows = append(accountRows, acct)
			}
			for a := range 6 {
				ag := convo.Agent{ID: id(), CustomerID: cust.ID, Username: fmt.Sprintf("agent-%d-%d", c, a), Status: []string{convo.AgentAvailable, convo.AgentAway}[a%2],
					TagIDs: []string{}, Addresses: []convo.Address{}, TMCreate: at(a), TMUpdate: at(a), TMDelete: liveOrDelete(a, 6)}
				agentRows, tn.agents = append(agentRows, ag), append(tn.agents, ag.ID)
			}
			for k := range 5 {
				keys = append(keys, convo.AccessKey{ID: id(), CustomerID: cust.ID, TokenHash: id(), TMExpire: convo.Never, TMCreate: at(k), TMUpdate: at(k), TMDelete: liveOrDelete(k, 5)})
			}
			for f := range 3 {
				fl := convo.Flow{ID: id(), CustomerID: cust.ID, Actions: []convo.Action{}, TMCreate: at(f), TMUpdate: at(f), TMDelete: convo.Never}
				flowRows, tn.flows = append(flowRows, fl), append(tn.flows, fl.ID)
			}
			tenants = append(tenants, tn)
		}
		custs = append(custs, cust)
	}
	first := tenants[0]
	s.customer, s.owner, s.account, s.flow = first.customer.ID, first.agents[0], first.accounts[0].ID, first.flows[0]
	s.dialog = "U-everywhere"
	for i := range 24000 {
		tn := tenants[[]int{0, 0, 0, 0, 0, 0, 0, 1, 1, 2}[i%10]]
		acct := tn.accounts[i%3]
		c := convo.Conversation{ID: id(), CustomerID: tn.customer.ID, OwnerID: convo.NilID, AccountID: acct.ID, Type: acct.Type,
			DialogID: fmt.Sprintf("U%d", i), Self: convo.Address{Type: acct.Type}, Peer: convo.Address{Type: acct.Type, Target: fmt.Sprintf("U%d", i)},
			Status:       []string{convo.StatusOpen, convo.StatusOpen, convo.StatusResolved, convo.StatusPending, convo.StatusSnoozed}[i%5],
			SnoozedUntil: convo.Never, TMLastMessage: convo.Never,
			// Activity in another order than creation: a message came to some.
			TMCreate: at(i), TMUpdate: at(i), TMDelete: liveOrDelete(i, 25), TMActivity: at((i * 7919) % 24000)}
		if i%3 == 0 {
			c.OwnerType, c.OwnerID = convo.OwnerAgent, tn.agents[(i/3)%len(tn.agents)]
		}
		if i%97 == 0 {
			// One peer talks to every account, a conversation at a time.
			c.DialogID, c.Peer.Target = s.dialog, s.dialog
			if i+97*3 < 24000 {
				c.TMDelete = deletedAt(i)
			}
		}
		convs = append(convs, c)
		if i == 12000 {
			s.middle = &convo.Cursor{Time: c.TMCreate, ID: c.ID}
		}
	}
	s.conversation, s.activeflowRef = convs[0].ID, convs[10].ID
	for i := range 5000 {
		conv := convs[0]
		if i >= 3000 {
			conv = convs[10*(i%100)]
		}
		msgs = append(msgs, convo.Message{ID: id(), CustomerID: conv.CustomerID, ConversationID: conv.ID, Direction: convo.DirectionIncoming, Status: convo.MessageDone,
			Source: conv.Peer, Destination: conv.Self, Text: "hello", Medias: []convo.Media{}, AccountID: conv.AccountID, ProviderID: fmt.Sprint(i),
			TMCreate: at(i), TMUpdate: at(i), TMDelete: convo.Never})
	}
	for i := range 6000 {
		ref := convs[10*(i%500)]
		tn := tenants[0]
		if ref.CustomerID != tn.customer.ID {
			ref = convs[10]
		}
		afs = append(afs, convo.Activeflow{ID: id(), CustomerID: tn.customer.ID, FlowID: tn.flows[i%3], Status: convo.ActiveflowRunning,
			ReferenceType: "conversation", ReferenceID: ref.ID, Actions: []convo.Action{}, ExecutedActions: []convo.Action{},
			Variables: map[string]string{}, LoopCounts: map[string]int{}, TMCreate: at(i), TMUpdate: at(i), TMDelete: liveOrDelete(i, 20)})
	}
	for i := range 15000 {
		conv := convs[10*(i%300)+7*(i/12000)]
		evs = append(evs, &convo.Event{ID: id(), CustomerID: conv.CustomerID, Type: convo.EventMessageCreated, StreamID: conv.ID, ConversationID: conv.ID,
			Payload: []byte(`{}`), NextAttemptAt: at(i), TMCreate: at(i), TMDelivered: convo.Never})
	}
	// 20,000 audit entries, most of the first customer's: agents log in,
	// conversations are assigned and unassigned.
	var audits []convo.AuditLog
	for i := range 20000 {
		conv := convs[i%len(convs)]
		a := convo.AuditLog{ID: id(), CustomerID: conv.CustomerID, Actor: convo.AuditActor{Type: convo.ActorAgent, ID: conv.OwnerID},
			Action: convo.AuditAssigned, ResourceType: convo.ResourceConversation, ResourceID: conv.ID,
			Changes: map[string]convo.AuditChange{}, Address: "192.0.2.1", TMCreate: at(i)}
		if i%3 == 0 {
			a.Action, a.ResourceType, a.ResourceID = convo.AuditLogin, convo.ResourceAgent, conv.OwnerID
		}
		audits = append(audits, a)
	}
	// The first customer's labels: billing on one conversation in 20, vip
	// on one in 500; the owner has read one of its conversations in two.
	var (
		labelRows []convo.Label
		labelled  []struct {
			conv  *convo.Conversation
			label string
		}
		marks []convo.ReadMark
	)
	for _, name := range []string{"billing", "vip"} {
		labelRows = append(labelRows, convo.Label{ID: id(), CustomerID: s.customer, Name: name, TMCreate: at(0), TMUpdate: at(0), TMDelete: convo.Never})
	}
	for i := range convs {
		c := &convs[i]
		if c.CustomerID != s.customer {
			continue
		}
		for l, every := range []int{20, 500} {
			if i%every == 0 {
				labelled = append(labelled, struct {
					conv  *convo.Conversation
					label string
				}{c, labelRows[l].ID})
			}
		}
		if c.OwnerID == s.owner && len(s.page) < 100 {
			s.page = append(s.page, c.ID)
		}
		if c.OwnerID == s.owner && i%2 == 0 {
			marks = append(marks, convo.ReadMark{AgentID: s.owner, ConversationID: c.ID, MessageID: id(), TMMessage: c.TMActivity, TMUpdate: c.TMActivity})
		}
	}
	err := db.seedTx(ctx, func(q querier) error {
		w := db.tx(q)
		for _, f := range []func() error{
			func() error { return insertRows(ctx, w, "customers", customers, custs) },
			func() error { return insertRows(ctx, w, "agents", agents, agentRows) },
			func() error { return insertRows(ctx, w, "access_keys", accessKeys, keys) },
			func() error { return insertRows(ctx, w, "accounts", accounts, accountRows) },
			func() error { return insertRows(ctx, w, "conversations", conversations, convs) },
			func() error { return insertRows(ctx, w, "messages", messages, msgs) },
			func() error { return insertRows(ctx, w, "flows", flows, flowRows) },
			func() error { return insertRows(ctx, w, "activeflows", activeflows, afs) },
			func() error { return w.CreateEvents(ctx, evs) },
			func() error { return insertRows(ctx, w, "audit_logs", auditLogs, audits) },
			func() error { return insertRows(ctx, w, "labels", labels, labelRows) },
			func() error {
				return insertChunks(ctx, w, "conversation_labels", strings.Split(conversationLabelColumns, ", "), len(labelled), func(i int) []any {
					c := labelled[i].conv
					return []any{c.ID, labelled[i].label, c.CustomerID, c.TMActivity.Micros(), c.TMCreate.Micros()}
				})
			},
			func() error {
				return insertChunks(ctx, w, "read_marks", strings.Split(readMarkColumns, ", "), len(marks), func(i int) []any {
					m := marks[i]
					return []any{m.AgentID, m.ConversationID, m.MessageID, m.TMMessage.Micros(), m.TMUpdate.Micros()}
				})
			},
		} {
			if err := f(); err != nil {
				return err
			}
		}
		for i := range 3000 {
			runAt := base.Add(time.Duration(i-1500) * time.Minute)
			if err := w.CreateJob(ctx, &convo.Job{ID: id(), Kind: "line_profile", RefID: id(), RunAt: convo.NewTime(runAt), TMCreate: at(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Most events were delivered long ago; one in ten waits, some of those
	// after a failure, and a few were given up on.
	for _, q := range []string{
		"UPDATE events SET status = 'delivered', attempts = 1, tm_delivered = tm_create WHERE pos % 10 <> 0",
		"UPDATE events SET status = 'failed', attempts = 1 WHERE pos % 30 = 0",
		"UPDATE events SET status = 'dead', attempts = 9, tm_delivered = tm_create WHERE pos % 10 <> 0 AND pos % 499 = 0",
		"INSERT INTO dead_events (pos) SELECT pos FROM events WHERE status = 'dead'",
		"DELETE FROM event_queue WHERE pos IN (SELECT pos FROM events WHERE status IN ('delivered', 'dead'))",
		// Two conversations in three have heard from their peer.
		"UPDATE conversations SET tm_last_incoming = tm_activity, last_incoming_id = id WHERE tm_create % 3 <> 0",
	} {
		if _, err := db.writer.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return s
}

// checkSearchPlans fails t unless a search too rare to fill its page from
// the newest rows asks the trigram indexes, in the plan made for its values
// and in the generic plan, and never walks a whole table or its primary
// key: after ANALYZE the generic plan walked every message newest first.
func checkSearchPlans(t *testing.T, db *DB, customer string) {
	t.Run("search", func(t *testing.T) {
		for _, kind := range []string{convo.SearchConversation, convo.SearchMessage} {
			rec := &recorder{q: sqlQuerier{db.writer}}
			p := convo.SearchParams{CustomerID: customer, Query: "no such text", Kind: kind, Limit: 50}
			if _, err := (&tx{q: rec, postgres: true}).Search(t.Context(), p); err != nil {
				t.Fatal(err)
			}
			var trigram []recorded
			for i, st := range rec.stmts {
				if st.query == trigramsSQL && i+1 < len(rec.stmts) {
					trigram = append(trigram, st, rec.stmts[i+1])
				}
			}
			if len(trigram) == 0 {
				t.Fatalf("%s: no query asked the trigram index", kind)
			}
			for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
				all := strings.Join(explainPrepared(t, db, trigram, "SELECT", mode), "\n")
				if !strings.Contains(all, "Bitmap Index Scan on "+kind+"s_search") {
					t.Errorf("%s, %s: the plan does not ask the trigram index:\n%s", kind, mode, all)
				}
				if regexp.MustCompile(`Seq Scan|Index Scan (Backward )?using (messages|conversations)_pkey on ` + kind).MatchString(all) {
					t.Errorf("%s, %s: the plan walks a table:\n%s", kind, mode, all)
				}
			}
		}
	})
	// An agent owning a few conversations: their rows alone, by btree
	// indexes, never the trigram index nor a whole table.
	t.Run("search of a few conversations", func(t *testing.T) {
		for _, kind := range []string{convo.SearchConversation, convo.SearchMessage} {
			rec := &recorder{q: sqlQuerier{db.writer}}
			p := convo.SearchParams{CustomerID: customer, Query: "ord", Kind: kind, Limit: 50,
				Visible: &convo.SearchVisibility{OwnerID: convo.NewID()}}
			if _, err := (&tx{q: rec, postgres: true}).Search(t.Context(), p); err != nil {
				t.Fatal(err)
			}
			var scoped []recorded
			for i, st := range rec.stmts {
				if st.query == scopeSQL && i+1 < len(rec.stmts) {
					scoped = append(scoped, st, rec.stmts[i+1])
				}
			}
			if len(scoped) != 4 {
				t.Fatalf("%s: %d statements ran with scopeSQL, want the count and the search", kind, len(scoped)/2)
			}
			want := regexp.MustCompile(`Index (Only )?Scan using conversations_\w*by_owner\w* on conversations`)
			if kind == convo.SearchMessage {
				want = regexp.MustCompile(`Index Scan using messages_by_conversation on messages`)
			}
			for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
				all := strings.Join(explainPrepared(t, db, scoped, "SELECT", mode), "\n")
				if !want.MatchString(all) {
					t.Errorf("%s, %s: the plan does not use %s:\n%s", kind, mode, want, all)
				}
				if regexp.MustCompile(`Seq Scan|Bitmap|_search|_pkey|Hash|Merge`).MatchString(all) {
					t.Errorf("%s, %s: the plan reads beyond the conversations' rows:\n%s", kind, mode, all)
				}
			}
		}
	})
}
