package service_test

// Rule tests of the service over a real SQLite store: who may do what,
// that another customer's resources are missing, who owns a conversation,
// and which flows are refused. The HTTP suites in cmd/convo check the same
// rules on the wire; these say which rule fails, fast.

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/convohq/convo"
	"github.com/convohq/convo/service"
)

// Who may do what: an access key and an admin may do everything here, a
// manager all but the admin's work, a plain agent nothing but its own
// conversations.
func TestRulesPermissions(t *testing.T) {
	w := newWorld(t)
	const ok, no = "ok", convo.EForbidden
	cases := []struct {
		name string
		do   func(c *convo.Caller) error
		// want is the status for the key, the admin, the manager and the agent.
		want [4]string
	}{
		{"create tag", func(c *convo.Caller) error {
			_, err := w.s.CreateTag(w.ctx, c, service.TagInput{Name: ptr(unique("tag"))})
			return err
		}, [4]string{ok, ok, ok, no}},
		{"list tags", func(c *convo.Caller) error {
			_, err := w.s.ListTags(w.ctx, c, convo.PageRequest{})
			return err
		}, [4]string{ok, ok, ok, no}},
		{"get tag", func(c *convo.Caller) error {
			_, err := w.s.GetTag(w.ctx, c, w.tag(w.key).ID)
			return err
		}, [4]string{ok, ok, ok, no}},
		{"delete tag", func(c *convo.Caller) error {
			_, err := w.s.DeleteTag(w.ctx, c, w.tag(w.key).ID)
			return err
		}, [4]string{ok, ok, ok, no}},
		{"create label", func(c *convo.Caller) error {
			_, err := w.s.CreateLabel(w.ctx, c, service.LabelInput{Name: ptr(unique("label"))})
			return err
		}, [4]string{ok, ok, ok, no}},
		{"list labels", func(c *convo.Caller) error {
			_, err := w.s.ListLabels(w.ctx, c, convo.PageRequest{})
			return err
		}, [4]string{ok, ok, ok, ok}},
		{"create flow", func(c *convo.Caller) error {
			_, err := w.s.CreateFlow(w.ctx, c, service.FlowInput{Name: ptr("f"), Actions: &[]convo.Action{{Type: convo.ActionStop}}})
			return err
		}, [4]string{ok, ok, ok, no}},
		{"get flow", func(c *convo.Caller) error {
			_, err := w.s.GetFlow(w.ctx, c, w.flow(w.key).ID)
			return err
		}, [4]string{ok, ok, ok, no}},
		{"update flow", func(c *convo.Caller) error {
			_, err := w.s.UpdateFlow(w.ctx, c, w.flow(w.key).ID, service.FlowInput{Name: ptr("renamed")})
			return err
		}, [4]string{ok, ok, ok, no}},
		{"create account", func(c *convo.Caller) error {
			_, err := w.s.CreateAccount(w.ctx, c, smsAccountInput())
			return err
		}, [4]string{ok, ok, ok, no}},
		{"list accounts", func(c *convo.Caller) error {
			_, err := w.s.ListAccounts(w.ctx, c, false, convo.PageRequest{})
			return err
		}, [4]string{ok, ok, ok, no}},
		{"delete account", func(c *convo.Caller) error {
			_, err := w.s.DeleteAccount(w.ctx, c, w.account(w.key).ID)
			return err
		}, [4]string{ok, ok, ok, no}},
		{"create agent", func(c *convo.Caller) error {
			_, err := w.s.CreateAgent(w.ctx, c, agentInput(convo.PermissionCustomerAgent))
			return err
		}, [4]string{ok, ok, ok, no}},
		{"create an admin agent", func(c *convo.Caller) error {
			_, err := w.s.CreateAgent(w.ctx, c, agentInput(convo.PermissionCustomerAdmin))
			return err
		}, [4]string{ok, ok, no, no}},
		{"grant admin", func(c *convo.Caller) error {
			a := w.createAgent(w.key, convo.PermissionCustomerAgent)
			_, err := w.s.UpdateAgentPermission(w.ctx, c, a.ID, ptr(convo.PermissionCustomerAdmin))
			return err
		}, [4]string{ok, ok, no, no}},
		{"grant super-admin", func(c *convo.Caller) error {
			a := w.createAgent(w.key, convo.PermissionCustomerAgent)
			_, err := w.s.UpdateAgentPermission(w.ctx, c, a.ID, ptr(convo.PermissionProjectSuperAdmin))
			return err
		}, [4]string{no, no, no, no}},
		{"list agents", func(c *convo.Caller) error {
			_, err := w.s.ListAgents(w.ctx, c, "", convo.PageRequest{})
			return err
		}, [4]string{ok, ok, ok, no}},
		{"delete agent", func(c *convo.Caller) error {
			_, err := w.s.DeleteAgent(w.ctx, c, w.createAgent(w.key, convo.PermissionCustomerAgent).ID)
			return err
		}, [4]string{ok, ok, ok, no}},
		{"create access key", func(c *convo.Caller) error {
			_, err := w.s.CreateAccessKey(w.ctx, c, service.AccessKeyInput{Name: ptr("k")})
			return err
		}, [4]string{ok, ok, no, no}},
		{"read own customer", func(c *convo.Caller) error {
			_, err := w.s.GetOwnCustomer(w.ctx, c)
			return err
		}, [4]string{ok, ok, no, no}},
		{"list customers", func(c *convo.Caller) error {
			_, err := w.s.ListCustomers(w.ctx, c, convo.PageRequest{})
			return err
		}, [4]string{no, no, no, no}},
		{"list audit logs", func(c *convo.Caller) error {
			_, err := w.s.ListAuditLogs(w.ctx, c, service.AuditLogFilter{}, convo.PageRequest{})
			return err
		}, [4]string{ok, ok, ok, no}},
		{"list webhook deliveries", func(c *convo.Caller) error {
			_, err := w.s.ListDeliveries(w.ctx, c, service.DeliveryFilter{}, convo.PageRequest{})
			return err
		}, [4]string{ok, ok, no, no}},
		{"create conversation", func(c *convo.Caller) error {
			_, err := w.s.CreateConversation(w.ctx, c, service.ConversationCreate{AccountID: w.account(w.key).ID, Peer: convo.Address{Type: "tel", Target: uniquePhone()}})
			return err
		}, [4]string{ok, ok, ok, no}},
		{"list all conversations", func(c *convo.Caller) error {
			_, err := w.s.ListConversations(w.ctx, c, service.ConversationFilter{}, convo.PageRequest{})
			return err
		}, [4]string{ok, ok, ok, no}},
		{"list own conversations", func(c *convo.Caller) error {
			_, err := w.s.ListConversations(w.ctx, c, service.ConversationFilter{OwnerID: c.AgentID}, convo.PageRequest{})
			return err
		}, [4]string{ok, ok, ok, ok}},
		{"rename a conversation it owns", func(c *convo.Caller) error {
			conv := w.conversation(w.key)
			w.assign(conv, w.agent)
			_, err := w.s.UpdateConversation(w.ctx, c, conv.ID, service.ConversationUpdate{Name: ptr("x")})
			return err
		}, [4]string{ok, ok, ok, no}},
		{"delete a conversation it owns", func(c *convo.Caller) error {
			conv := w.conversation(w.key)
			w.assign(conv, w.agent)
			_, err := w.s.DeleteConversation(w.ctx, c, conv.ID)
			return err
		}, [4]string{ok, ok, ok, no}},
		{"read a conversation it owns", func(c *convo.Caller) error {
			conv := w.conversation(w.key)
			w.assign(conv, w.agent)
			_, err := w.s.GetConversation(w.ctx, c, conv.ID)
			return err
		}, [4]string{ok, ok, ok, ok}},
		{"read the messages of a conversation it owns", func(c *convo.Caller) error {
			conv := w.conversation(w.key)
			w.assign(conv, w.agent)
			_, err := w.s.ListMessages(w.ctx, c, conv.ID, convo.PageRequest{})
			return err
		}, [4]string{ok, ok, ok, ok}},
		{"read another agent's conversation", func(c *convo.Caller) error {
			conv := w.conversation(w.key)
			w.assign(conv, w.other)
			_, err := w.s.GetConversation(w.ctx, c, conv.ID)
			return err
		}, [4]string{ok, ok, ok, no}},
		{"read an unassigned conversation", func(c *convo.Caller) error {
			_, err := w.s.GetConversation(w.ctx, c, w.conversation(w.key).ID)
			return err
		}, [4]string{ok, ok, ok, ok}},
		{"read an unassigned conversation the customer keeps from agents", func(c *convo.Caller) error {
			conv := w.conversation(w.key)
			w.takeUnassigned(false)
			defer w.takeUnassigned(true)
			_, err := w.s.GetConversation(w.ctx, c, conv.ID)
			return err
		}, [4]string{ok, ok, ok, no}},
		{"set the status of an unassigned conversation", func(c *convo.Caller) error {
			_, err := w.s.SetConversationStatus(w.ctx, c, w.conversation(w.key).ID, service.StatusChange{Status: ptr(convo.StatusPending)})
			return err
		}, [4]string{ok, ok, ok, no}},
		{"take an unassigned conversation", func(c *convo.Caller) error {
			_, err := w.s.TakeConversation(w.ctx, c, w.conversation(w.key).ID)
			return err
		}, [4]string{no, ok, ok, ok}},
		{"take an unassigned conversation the customer keeps from agents", func(c *convo.Caller) error {
			conv := w.conversation(w.key)
			w.takeUnassigned(false)
			defer w.takeUnassigned(true)
			_, err := w.s.TakeConversation(w.ctx, c, conv.ID)
			return err
		}, [4]string{no, ok, ok, no}},
		{"unassign a conversation it owns", func(c *convo.Caller) error {
			conv := w.conversation(w.key)
			w.assign(conv, w.agent)
			_, err := w.s.UnassignConversation(w.ctx, c, conv.ID)
			return err
		}, [4]string{ok, ok, ok, ok}},
		{"unassign another agent's conversation", func(c *convo.Caller) error {
			conv := w.conversation(w.key)
			w.assign(conv, w.other)
			_, err := w.s.UnassignConversation(w.ctx, c, conv.ID)
			return err
		}, [4]string{ok, ok, ok, no}},
	}
	callers := []struct {
		name string
		c    *convo.Caller
	}{{"access key", w.key}, {"admin", w.admin}, {"manager", w.manager}, {"agent", w.agent}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i, caller := range callers {
				if got := status(tc.do(caller.c)); got != tc.want[i] {
					t.Errorf("%s: %s, want %s", caller.name, got, tc.want[i])
				}
			}
		})
	}
}

// A refused call changes nothing: the agent's refused rename leaves the
// name, and a manager's refused grant leaves the permission.
func TestRulesRefusalsChangeNothing(t *testing.T) {
	w := newWorld(t)
	conv := w.conversation(w.key)
	w.assign(conv, w.agent)
	if _, err := w.s.UpdateConversation(w.ctx, w.agent, conv.ID, service.ConversationUpdate{Name: ptr("mine now")}); status(err) != convo.EForbidden {
		t.Fatalf("agent renames: %v, want %s", err, convo.EForbidden)
	}
	if got, err := w.s.GetConversation(w.ctx, w.key, conv.ID); err != nil || got.Name != conv.Name {
		t.Errorf("after the refused rename the name is %q (%v), want %q", got.Name, err, conv.Name)
	}
	a := w.createAgent(w.key, convo.PermissionCustomerAgent)
	if _, err := w.s.UpdateAgentPermission(w.ctx, w.manager, a.ID, ptr(convo.PermissionCustomerAdmin)); status(err) != convo.EForbidden {
		t.Fatalf("manager grants admin: %v, want %s", err, convo.EForbidden)
	}
	if got, err := w.s.GetAgent(w.ctx, w.key, a.ID); err != nil || got.Permission != convo.PermissionCustomerAgent {
		t.Errorf("after the refused grant the permission is %v (%v), want agent", got.Permission, err)
	}
}

// Another customer's resource answers exactly as a missing one does, for
// every kind of resource and every verb.
func TestRulesTenancy(t *testing.T) {
	w := newWorld(t)
	missing := convo.NewID()
	mine := map[string]string{
		"tag":          w.tag(w.key).ID,
		"canned":       w.cannedResponse(w.key).ID,
		"flow":         w.flow(w.key).ID,
		"account":      w.account(w.key).ID,
		"agent":        w.agent.AgentID,
		"conversation": w.conversation(w.key).ID,
	}
	key, err := w.s.CreateAccessKey(w.ctx, w.key, service.AccessKeyInput{Name: ptr("k")})
	if err != nil {
		t.Fatal(err)
	}
	mine["access key"] = key.ID
	note, err := w.s.CreateNote(w.ctx, w.key, mine["conversation"], service.NoteInput{Text: ptr("ours")})
	if err != nil {
		t.Fatal(err)
	}
	mine["note"] = note.ID
	s, ctx, c := w.s, w.ctx, w.stranger
	verbs := []struct {
		kind, verb string
		do         func(id string) error
	}{
		{"tag", "get", func(id string) error { _, err := s.GetTag(ctx, c, id); return err }},
		{"tag", "update", func(id string) error { _, err := s.UpdateTag(ctx, c, id, service.TagInput{Name: ptr("x")}); return err }},
		{"tag", "delete", func(id string) error { _, err := s.DeleteTag(ctx, c, id); return err }},
		{"canned", "get", func(id string) error { _, err := s.GetCannedResponse(ctx, c, id); return err }},
		{"canned", "update", func(id string) error {
			_, err := s.UpdateCannedResponse(ctx, c, id, service.CannedResponseInput{Text: ptr("x")})
			return err
		}},
		{"canned", "delete", func(id string) error { _, err := s.DeleteCannedResponse(ctx, c, id); return err }},
		{"flow", "get", func(id string) error { _, err := s.GetFlow(ctx, c, id); return err }},
		{"flow", "update", func(id string) error {
			_, err := s.UpdateFlow(ctx, c, id, service.FlowInput{Name: ptr("x")})
			return err
		}},
		{"flow", "delete", func(id string) error { _, err := s.DeleteFlow(ctx, c, id); return err }},
		{"account", "get", func(id string) error { _, err := s.GetAccount(ctx, c, id); return err }},
		{"account", "update", func(id string) error {
			_, err := s.UpdateAccount(ctx, c, id, service.AccountInput{Name: ptr("x")})
			return err
		}},
		{"account", "delete", func(id string) error { _, err := s.DeleteAccount(ctx, c, id); return err }},
		{"account", "start a conversation on", func(id string) error {
			_, err := s.CreateConversation(ctx, c, service.ConversationCreate{AccountID: id, Peer: convo.Address{Type: "tel", Target: uniquePhone()}})
			return err
		}},
		{"agent", "get", func(id string) error { _, err := s.GetAgent(ctx, c, id); return err }},
		{"agent", "update", func(id string) error {
			_, err := s.UpdateAgent(ctx, c, id, service.AgentInput{Name: ptr("x")})
			return err
		}},
		{"agent", "delete", func(id string) error { _, err := s.DeleteAgent(ctx, c, id); return err }},
		{"conversation", "get", func(id string) error { _, err := s.GetConversation(ctx, c, id); return err }},
		{"conversation", "update", func(id string) error {
			_, err := s.UpdateConversation(ctx, c, id, service.ConversationUpdate{Name: ptr("x")})
			return err
		}},
		{"conversation", "unassign", func(id string) error { _, err := s.UnassignConversation(ctx, c, id); return err }},
		{"conversation", "delete", func(id string) error { _, err := s.DeleteConversation(ctx, c, id); return err }},
		{"conversation", "list the messages of", func(id string) error {
			_, err := s.ListMessages(ctx, c, id, convo.PageRequest{})
			return err
		}},
		{"conversation", "send in", func(id string) error {
			_, err := s.SendMessage(ctx, c, id, service.MessageSend{Text: "hello"})
			return err
		}},
		{"conversation", "list the notes of", func(id string) error {
			_, err := s.ListNotes(ctx, c, id, convo.PageRequest{})
			return err
		}},
		{"conversation", "add a note to", func(id string) error {
			_, err := s.CreateNote(ctx, c, id, service.NoteInput{Text: ptr("x")})
			return err
		}},
		{"note", "update", func(id string) error {
			_, err := s.UpdateNote(ctx, c, id, service.NoteInput{Text: ptr("x")})
			return err
		}},
		{"note", "delete", func(id string) error { _, err := s.DeleteNote(ctx, c, id); return err }},
		{"access key", "get", func(id string) error { _, err := s.GetAccessKey(ctx, c, id); return err }},
		{"access key", "delete", func(id string) error { _, err := s.DeleteAccessKey(ctx, c, id); return err }},
	}
	for _, v := range verbs {
		t.Run(v.verb+" "+v.kind, func(t *testing.T) {
			err := v.do(missing)
			want := outcome(err)
			wantStatus := convo.ENotFound
			// An id in the body names a missing resource: the body is invalid.
			if v.verb == "start a conversation on" {
				wantStatus = convo.EInvalid
			}
			if convo.ErrorStatus(err) != wantStatus {
				t.Fatalf("a missing %s answers %s, want %s", v.kind, want, wantStatus)
			}
			if got := outcome(v.do(mine[v.kind])); got != want {
				t.Errorf("another customer's %s answers %s, a missing one %s", v.kind, got, want)
			}
		})
	}
	// What the stranger tried changed nothing of the first customer's.
	if _, err := w.s.GetTag(w.ctx, w.key, mine["tag"]); err != nil {
		t.Errorf("the tag is gone after another customer's delete: %v", err)
	}
	if conv, err := w.s.GetConversation(w.ctx, w.key, mine["conversation"]); err != nil || conv.Name == "x" {
		t.Errorf("the conversation after another customer's update: %+v, %v", conv, err)
	}

	if notes, err := w.s.ListNotes(w.ctx, w.key, mine["conversation"], convo.PageRequest{}); err != nil || len(notes.Result) != 1 || notes.Result[0].Text != "ours" {
		t.Errorf("the notes after another customer's changes: %+v, %v", notes, err)
	}

	// Lists hold only the caller's own.
	tags, err := w.s.ListTags(w.ctx, w.stranger, convo.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags.Result) != 0 {
		t.Errorf("the second customer lists %d tags of the first", len(tags.Result))
	}
	convs, err := w.s.ListConversations(w.ctx, w.stranger, service.ConversationFilter{}, convo.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(convs.Result) != 0 {
		t.Errorf("the second customer lists %d conversations of the first", len(convs.Result))
	}

	// References to another customer's resources are refused as references
	// to missing ones.
	strangersAgent := w.createAgent(w.stranger, convo.PermissionCustomerAgent)
	strangersFlow := w.flow(w.stranger)
	conv := w.conversation(w.key)
	for _, id := range []string{strangersAgent.ID, missing} {
		_, err := w.s.UpdateConversation(w.ctx, w.key, conv.ID, service.ConversationUpdate{OwnerID: &id})
		if got := outcome(err); got != convo.EInvalid+"/AGENT_NOT_FOUND" {
			t.Errorf("assigning to %s: %s, want %s/AGENT_NOT_FOUND", id, got, convo.EInvalid)
		}
	}
	for _, id := range []string{strangersFlow.ID, missing} {
		_, err := w.s.UpdateAccount(w.ctx, w.key, w.account(w.key).ID, service.AccountInput{MessageFlowID: &id})
		if got := outcome(err); got != convo.EInvalid+"/FLOW_NOT_FOUND" {
			t.Errorf("message_flow_id %s: %s, want %s/FLOW_NOT_FOUND", id, got, convo.EInvalid)
		}
	}
}

// Owner rules: a manager assigns to a live agent of the customer only; the
// owner sees the conversation until it lets it go.
func TestRulesAssignment(t *testing.T) {
	w := newWorld(t)
	conv := w.conversation(w.key)

	got, err := w.s.UpdateConversation(w.ctx, w.manager, conv.ID, service.ConversationUpdate{OwnerID: &w.agent.AgentID})
	if err != nil {
		t.Fatal(err)
	}
	if got.OwnerType != convo.OwnerAgent || got.OwnerID != w.agent.AgentID {
		t.Fatalf("after assigning: owner %q/%s, want agent/%s", got.OwnerType, got.OwnerID, w.agent.AgentID)
	}
	own, err := w.s.ListConversations(w.ctx, w.agent, service.ConversationFilter{OwnerID: w.agent.AgentID}, convo.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(own.Result, func(c *convo.Conversation) bool { return c.ID == conv.ID }) {
		t.Errorf("the owner's list lacks its conversation")
	}
	if _, err := w.s.ListConversations(w.ctx, w.agent, service.ConversationFilter{OwnerID: w.other.AgentID}, convo.PageRequest{}); status(err) != convo.EForbidden {
		t.Errorf("an agent lists another's conversations: %v, want %s", err, convo.EForbidden)
	}
	if _, err := w.s.GetConversation(w.ctx, w.other, conv.ID); status(err) != convo.EForbidden {
		t.Errorf("another agent reads it: %v, want %s", err, convo.EForbidden)
	}

	// Not an agent of the customer: a deleted one, a malformed id.
	gone := w.createAgent(w.key, convo.PermissionCustomerAgent)
	if _, err := w.s.DeleteAgent(w.ctx, w.key, gone.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{gone.ID, "not-an-id"} {
		_, err := w.s.UpdateConversation(w.ctx, w.key, conv.ID, service.ConversationUpdate{OwnerID: &id})
		if got := outcome(err); got != convo.EInvalid+"/AGENT_NOT_FOUND" {
			t.Errorf("assigning to %q: %s, want %s/AGENT_NOT_FOUND", id, got, convo.EInvalid)
		}
	}
	if c, _ := w.s.GetConversation(w.ctx, w.key, conv.ID); c.OwnerID != w.agent.AgentID {
		t.Errorf("a refused assignment moved the owner to %s", c.OwnerID)
	}

	// The owner lets it go, and then sees it only as the unassigned
	// queue's, which the customer may keep from its agents.
	got, err = w.s.UnassignConversation(w.ctx, w.agent, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.OwnerType != convo.OwnerNone || got.OwnerID != convo.NilID {
		t.Errorf("after unassigning: owner %q/%s, want none", got.OwnerType, got.OwnerID)
	}
	if _, err := w.s.GetConversation(w.ctx, w.agent, conv.ID); err != nil {
		t.Errorf("the former owner reads it from the queue: %v", err)
	}
	w.takeUnassigned(false)
	if _, err := w.s.GetConversation(w.ctx, w.agent, conv.ID); status(err) != convo.EForbidden {
		t.Errorf("the former owner reads it off the queue: %v, want %s", err, convo.EForbidden)
	}
	w.takeUnassigned(true)

	// The nil UUID unassigns too.
	w.assign(conv, w.other)
	if got, err := w.s.UpdateConversation(w.ctx, w.key, conv.ID, service.ConversationUpdate{OwnerID: ptr(convo.NilID)}); err != nil || got.OwnerType != convo.OwnerNone {
		t.Errorf("owner_id nil: %v, %v, want unassigned", got, err)
	}
}

// An inbound message runs the account's flow while the conversation has no
// owner; once an agent owns it, the agent answers and the flow stays out.
func TestRulesOwnedConversationSkipsTheFlow(t *testing.T) {
	w := newWorld(t)
	flow := w.flow(w.key, convo.Action{Type: convo.ActionConversationSend, Option: json.RawMessage(`{"text":"auto reply"}`)})
	acc, err := w.s.CreateAccount(w.ctx, w.key, func() service.AccountInput {
		in := smsAccountInput()
		in.MessageFlowID = &flow.ID
		return in
	}())
	if err != nil {
		t.Fatal(err)
	}
	runs := func() int {
		l, err := w.s.ListActiveflows(w.ctx, w.key, service.ActiveflowFilter{}, convo.PageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Result)
	}
	peer := uniquePhone()
	w.inbound(acc, peer, "first")
	eventually(t, func() error {
		if n := runs(); n != 1 {
			return fmt.Errorf("%d runs of the flow after the first message, want 1", n)
		}
		return nil
	})
	convs, err := w.s.ListConversations(w.ctx, w.key, service.ConversationFilter{AccountID: acc.ID}, convo.PageRequest{})
	if err != nil || len(convs.Result) != 1 {
		t.Fatalf("conversations of the account: %v, %v, want one", convs.Result, err)
	}
	w.assign(convs.Result[0], w.agent)
	w.inbound(acc, peer, "second")
	eventually(t, func() error {
		msgs, err := w.s.ListMessages(w.ctx, w.key, convs.Result[0].ID, convo.PageRequest{})
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(msgs.Result, func(m *convo.Message) bool { return m.Text == "second" }) {
			return fmt.Errorf("the second message is not stored")
		}
		return nil
	})
	if n := runs(); n != 1 {
		t.Errorf("%d runs of the flow after a message to an owned conversation, want still 1", n)
	}
}

// Flows with broken actions are refused whole, and change nothing.
func TestRulesFlowValidation(t *testing.T) {
	w := newWorld(t)
	id1, id2 := convo.NewID(), convo.NewID()
	opt := func(s string) json.RawMessage { return json.RawMessage(s) }
	cases := []struct {
		name    string
		actions []convo.Action
	}{
		{"no type", []convo.Action{{}}},
		{"malformed id", []convo.Action{{ID: "x", Type: convo.ActionStop}}},
		{"duplicate id", []convo.Action{{ID: id1, Type: convo.ActionStop}, {ID: id1, Type: convo.ActionStop}}},
		{"next_id to nowhere", []convo.Action{{ID: id1, NextID: id2, Type: convo.ActionStop}}},
		{"option not an object", []convo.Action{{Type: convo.ActionConversationSend, Option: opt(`"hi"`)}}},
		{"text not a string", []convo.Action{{Type: convo.ActionConversationSend, Option: opt(`{"text":1}`)}}},
		{"send to a malformed conversation", []convo.Action{{Type: convo.ActionConversationSend, Option: opt(`{"text":"a","conversation_id":"x"}`)}}},
		{"webhook without uri", []convo.Action{{Type: convo.ActionWebhookSend, Option: opt(`{}`)}}},
		{"webhook to a non-HTTP uri", []convo.Action{{Type: convo.ActionWebhookSend, Option: opt(`{"uri":"ftp://example.com"}`)}}},
		{"webhook with an unknown method", []convo.Action{{Type: convo.ActionWebhookSend, Option: opt(`{"uri":"https://example.com","method":"PATCH"}`)}}},
		{"variable without key", []convo.Action{{Type: convo.ActionVariableSet, Option: opt(`{"value":"v"}`)}}},
		{"branch without variable", []convo.Action{{Type: convo.ActionBranch, Option: opt(`{}`)}}},
		{"branch to nowhere", []convo.Action{{Type: convo.ActionBranch, Option: opt(`{"variable":"v","target_ids":{"a":"` + id2 + `"}}`)}}},
		{"condition with an unknown operator", []convo.Action{{Type: convo.ActionConditionVariable, Option: opt(`{"condition":"~","variable":"v"}`)}}},
		{"condition with a text number", []convo.Action{{Type: convo.ActionConditionVariable, Option: opt(`{"condition":"==","variable":"v","value_number":"1"}`)}}},
		{"goto without target", []convo.Action{{Type: convo.ActionGoto, Option: opt(`{}`)}}},
		{"goto with a fractional loop count", []convo.Action{{ID: id1, Type: convo.ActionGoto, Option: opt(`{"target_id":"` + id1 + `","loop_count":1.5}`)}}},
		{"sleep without duration", []convo.Action{{Type: convo.ActionSleep, Option: opt(`{}`)}}},
		{"sleep of a negative duration", []convo.Action{{Type: convo.ActionSleep, Option: opt(`{"duration":-1}`)}}},
		{"sleep past a time.Duration", []convo.Action{{Type: convo.ActionSleep, Option: opt(`{"duration":1e300}`)}}},
		{"too many actions", make([]convo.Action, convo.MaxFlowActions+1)},
	}
	existing := w.flow(w.key, convo.Action{Type: convo.ActionStop})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			actions := tc.actions
			if _, err := w.s.CreateFlow(w.ctx, w.key, service.FlowInput{Name: ptr("bad"), Actions: &actions}); status(err) != convo.EInvalid {
				t.Errorf("create: %v, want %s", err, convo.EInvalid)
			}
			if _, err := w.s.UpdateFlow(w.ctx, w.key, existing.ID, service.FlowInput{Name: ptr("changed"), Actions: &actions}); status(err) != convo.EInvalid {
				t.Errorf("update: %v, want %s", err, convo.EInvalid)
			}
		})
	}
	flows, err := w.s.ListFlows(w.ctx, w.key, convo.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(flows.Result) != 1 {
		t.Errorf("%d flows after only refused creations, want the 1 made before", len(flows.Result))
	}
	if f, err := w.s.GetFlow(w.ctx, w.key, existing.ID); err != nil || f.Name != existing.Name || len(f.Actions) != 1 {
		t.Errorf("the flow after refused updates: %+v, %v, want it unchanged", f, err)
	}

	// A valid flow names its jumps by id and gets ids where it gave none.
	valid := []convo.Action{
		{ID: id1, Type: convo.ActionVariableSet, Option: opt(`{"key":"k","value":"v"}`)},
		{ID: id2, Type: convo.ActionGoto, Option: opt(`{"target_id":"` + id1 + `","loop_count":2}`)},
		{Type: convo.ActionStop},
	}
	f, err := w.s.CreateFlow(w.ctx, w.key, service.FlowInput{Name: ptr("good"), Actions: &valid})
	if err != nil {
		t.Fatalf("a valid flow: %v", err)
	}
	if len(f.Actions) != 3 || convo.IsNilID(f.Actions[2].ID) {
		t.Errorf("the valid flow's actions %+v, want three with ids", f.Actions)
	}
}
