package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/convohq/convo"
	"github.com/convohq/convo/internal/testdb"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"
)

// referencePath is the VoIPbin OpenAPI subset kept beside the repository:
// ../../../shared/reference from this directory, which is where go test
// runs a package's tests.
func referencePath(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "..", "..", "..", "shared", "reference", "voipbin-openapi-subset.yaml")
}

// reference is the loaded API reference with a router over it.
type reference struct {
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options
}

// loadReference loads and validates the reference document and applies the
// differences convo makes on purpose, for a server writing timestamps in
// format times. Each is listed here; nothing else is tolerated.
func loadReference(t *testing.T, times convo.TimeFormat) *reference {
	path := referencePath(t)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("the API reference %s is not present in this checkout", path)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the reference does not validate: %v", err)
	}
	// The router matches on servers; requests here are local.
	doc.Servers = openapi3.Servers{{URL: "/v1.0"}}

	schemas := doc.Components.Schemas
	schema := func(name string) *openapi3.Schema {
		s := schemas[name]
		if s == nil || s.Value == nil {
			t.Fatalf("the reference has no schema %s", name)
		}
		return s.Value
	}

	// Difference 1 (PRODUCT §1): by default (--time-format seed) timestamps
	// use the seed's wire format "2022-06-23 05:05:40.950834", and
	// "9999-01-01 00:00:00.000000" for a moment that has not happened, where
	// the reference says RFC 3339 date-time. With --time-format rfc3339 they
	// are RFC 3339 in UTC with microseconds, "2022-06-23T05:05:40.950834Z".
	// Either way only the configured form is accepted as date-time.
	doc.SetStringFormatValidator("date-time", openapi3.NewCallbackValidator(func(s string) error {
		pattern := wireTimePattern
		if times == convo.TimeRFC3339 {
			pattern = rfc3339TimePattern
		}
		if !pattern.MatchString(s) {
			return fmt.Errorf("%q is not a %s timestamp", s, times)
		}
		_, err := convo.ParseTime(s)
		return err
	}))
	// Difference 6 (PRODUCT §1), with --time-format rfc3339 only: a moment
	// that has not happened is null, as VoIPbin writes it since February
	// 2026, where the reference's date-time fields are not nullable.
	if times == convo.TimeRFC3339 {
		for _, s := range schemas {
			nullableTimes(s, map[*openapi3.Schema]bool{})
		}
	}

	// Difference 2 (PRODUCT §1, §3, §6): convo serves WhatsApp, whose
	// addresses have the type "whatsapp", missing from CommonAddress.type.
	addrType := schema("CommonAddress").Properties["type"].Value
	addrType.Enum = append(addrType.Enum, convo.AddressWhatsApp)

	// Difference 3 (PRODUCT §3, §9): an account's provider_data is returned
	// with its secret keys removed, where the reference marks the whole object
	// write-only. Its app_secret stays write-only: returning it fails.
	pd := schema("ConversationManagerAccountProviderData")
	pd.WriteOnly = false
	if pd.Properties["app_secret"] == nil {
		t.Fatal("the reference's provider_data has no app_secret")
	}
	pd.Properties["app_secret"].Value.WriteOnly = true

	// Difference 4 (PRODUCT §1, "success is HTTP 200"): POST /agents answers
	// 200 where the reference documents 201; the body is the same agent.
	agents := doc.Paths.Value("/agents").Post
	agents.Responses.Set("200", agents.Responses.Status(http.StatusCreated))

	// Difference 5 (PRODUCT §2): permission is a set of bits. The agent made
	// at first start and by `convo bootstrap --super-admin` holds customer
	// admin plus project super-admin, 0x0021 = 33, a combination the
	// reference's list of named values does not spell out.
	perm := schema("AgentManagerAgentPermission")
	perm.Enum = append(perm.Enum, float64(convo.PermissionCustomerAdmin|convo.PermissionProjectSuperAdmin))

	router, err := legacyrouter.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	return &reference{doc: doc, router: router, opts: &openapi3filter.Options{
		IncludeResponseStatus:   true, // an undocumented status is an error
		MultiError:              true,
		SchemaValidationOptions: doc.GetSchemaValidationOptions(),
	}}
}

// validate checks r, the answer to method path, against the reference's
// operation for asMethod asPath (the same request unless an operation
// convo adds is checked against the reference's schema of the same resource).
func (ref *reference) validate(t *testing.T, r *response, asMethod, asPath string) {
	t.Helper()
	// A relative URL: the router matches the server "/v1.0" against the whole URL.
	req, err := http.NewRequest(asMethod, asPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	route, params, err := ref.router.FindRoute(req)
	if err != nil {
		t.Fatalf("the reference has no operation %s %s: %v", asMethod, asPath, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: ref.opts},
		Status:                 r.Status,
		Header:                 r.Header,
		Body:                   io.NopCloser(bytes.NewReader(r.Body)),
		Options:                ref.opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s: status %d answer does not match the reference:\n%v\nbody: %s", asMethod, asPath, r.Status, err, r.Body)
	}
}

// nullableTimes lets every date-time property under s be null.
func nullableTimes(ref *openapi3.SchemaRef, seen map[*openapi3.Schema]bool) {
	if ref == nil || ref.Value == nil || seen[ref.Value] {
		return
	}
	s := ref.Value
	seen[s] = true
	if s.Format == "date-time" {
		s.Nullable = true
	}
	for _, p := range s.Properties {
		nullableTimes(p, seen)
	}
	nullableTimes(s.Items, seen)
	for _, group := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
		for _, sub := range group {
			nullableTimes(sub, seen)
		}
	}
	if s.AdditionalProperties.Schema != nil {
		nullableTimes(s.AdditionalProperties.Schema, seen)
	}
}

// rfc3339TimePattern is a timestamp as --time-format rfc3339 writes it.
var rfc3339TimePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$`)

// TestOpenAPICompatibility checks every answer against the reference, with
// a server in each time format.
func TestOpenAPICompatibility(t *testing.T) {
	for _, times := range []convo.TimeFormat{convo.TimeSeed, convo.TimeRFC3339} {
		t.Run(string(times), func(t *testing.T) { testOpenAPICompatibility(t, times) })
	}
}

func testOpenAPICompatibility(t *testing.T, times convo.TimeFormat) {
	ref := loadReference(t, times)
	testdb.ForEach(t, func(t *testing.T, b testdb.Backend) {
		ts := startServer(t, b, withConfig(func(c *Config) { c.TimeFormat = string(times) }))
		key := ts.as(ts.AdminKey)
		adminToken := ts.login(t, "admin", ts.AdminPassword)

		// Data for every endpoint: an SMS account, a conversation with an
		// incoming message, an agent owning it, another customer, a key.
		account, number := key.newSMSAccountNumber()
		peer := uniquePhone()
		conv := key.startConversation(account, peer)
		convID := str(t, conv, "id")
		agentID, agentToken := key.newAgent(convo.PermissionCustomerAgent)
		key.ok("PUT", "/v1.0/conversations/"+convID, map[string]any{"owner_id": agentID})
		ctx := context.Background()
		now := convo.NewTime(ts.Clock.Now())
		msg := &convo.Message{
			ID: convo.NewID(), CustomerID: ts.CustomerID, ConversationID: convID,
			Direction: convo.DirectionIncoming, Status: convo.MessageDone, ReferenceType: convo.ConversationMessage, ReferenceID: convo.NewID(),
			Source:      convo.Address{Type: convo.AddressTel, Target: peer},
			Destination: convo.Address{Type: convo.AddressTel, Target: number},
			Text:        "Hello, is my order on its way?", Medias: []convo.Media{},
			TMCreate: now, TMUpdate: now, TMDelete: convo.Never,
			AccountID: account, ProviderID: "SM" + strings.Repeat("a", 32),
		}
		// A later MMS with a picture, so that the media schema is exercised too.
		later := convo.NewTime(now.Add(time.Millisecond))
		mms := *msg
		mms.ID, mms.ReferenceID, mms.ProviderID, mms.Text = convo.NewID(), convo.NewID(), "MM"+strings.Repeat("b", 32), "Here is the label"
		mms.TMCreate, mms.TMUpdate = later, later
		mms.Medias = []convo.Media{{ID: convo.NewID(), CustomerID: ts.CustomerID, Type: convo.MediaImage,
			Filename: "https://media.example.com/label.jpg", TMCreate: later, TMUpdate: later, TMDelete: convo.Never}}
		if err := ts.store.Update(ctx, func(tx convo.Tx) error {
			if err := tx.CreateMessage(ctx, msg); err != nil {
				return err
			}
			return tx.CreateMessage(ctx, &mms)
		}); err != nil {
			t.Fatalf("insert messages: %v", err)
		}
		otherCustomer, _ := ts.as(adminToken).newCustomer()
		keyID := str(t, key.ok("POST", "/v1.0/accesskeys", map[string]any{"name": "spare"}), "id")
		spareAgent, _ := key.newAgent(convo.PermissionCustomerAgent)
		tagID := str(t, key.ok("POST", "/v1.0/tags", map[string]any{"name": "vip", "detail": "VIP customers"}), "id")
		spareConv := str(t, key.newConversation(account), "id")
		spareAccount := key.newSMSAccount()
		waAccount := str(t, key.ok("POST", "/v1.0/conversation_accounts", map[string]any{
			"type": "whatsapp", "name": "wa", "detail": "", "secret": "verify-me", "token": "wa-t0ken",
			"provider_data": map[string]any{"phone_number_id": "109876543211", "display_phone_number": "+1 555 010 2031", "app_secret": "app-5ecret"}}), "id")

		flowID := str(t, key.ok("POST", "/v1.0/flows", map[string]any{"name": "greeting", "actions": []any{
			map[string]any{"type": "stop"}}}), "id")

		type check struct {
			name, method, path string
			cred               string
			body               any
			// asMethod and asPath, when set, name the reference operation
			// whose schema applies to an operation the reference lacks.
			asMethod, asPath string
			code             int
		}
		checks := []check{
			{name: "list conversations", method: "GET", path: "/v1.0/conversations"},
			{name: "list conversations of an owner", method: "GET", path: "/v1.0/conversations" + q("owner_id", agentID), cred: agentToken},
			{name: "get conversation", method: "GET", path: "/v1.0/conversations/" + convID},
			{name: "update conversation", method: "PUT", path: "/v1.0/conversations/" + convID, body: map[string]any{"name": "Order 1234"}},
			{name: "empty update", method: "PUT", path: "/v1.0/conversations/" + convID, body: map[string]any{}},
			// POST /conversations and DELETE /conversations/{id} are convo's
			// (PRODUCT §4) and absent from the reference: their answer is the
			// conversation as GET /conversations/{id} documents it.
			{name: "create conversation", method: "POST", path: "/v1.0/conversations",
				body:     map[string]any{"account_id": account, "peer": map[string]any{"type": "tel", "target": uniquePhone()}},
				asMethod: "GET", asPath: "/v1.0/conversations/" + convID},
			{name: "create whatsapp conversation", method: "POST", path: "/v1.0/conversations",
				body:     map[string]any{"account_id": waAccount, "peer": map[string]any{"type": "whatsapp", "target": "15550109999", "target_name": "Bea"}},
				asMethod: "GET", asPath: "/v1.0/conversations/" + convID},
			{name: "delete conversation", method: "DELETE", path: "/v1.0/conversations/" + spareConv, asMethod: "GET", asPath: "/v1.0/conversations/" + spareConv},
			{name: "messages", method: "GET", path: "/v1.0/conversations/" + convID + "/messages"},
			{name: "service_agents list", method: "GET", path: "/v1.0/service_agents/conversations", cred: agentToken},
			{name: "service_agents get", method: "GET", path: "/v1.0/service_agents/conversations/" + convID, cred: agentToken},
			{name: "service_agents messages", method: "GET", path: "/v1.0/service_agents/conversations/" + convID + "/messages", cred: agentToken},
			{name: "service_agents unassign", method: "POST", path: "/v1.0/service_agents/conversations/" + convID + "/unassign", cred: agentToken},
			{name: "service_agents put", method: "PUT", path: "/v1.0/service_agents/conversations/" + convID, body: map[string]any{"owner_id": agentID}},
			{name: "conversations/unassign", method: "POST", path: "/v1.0/conversations/" + convID + "/unassign"},
			{name: "list accounts", method: "GET", path: "/v1.0/conversation_accounts"},
			{name: "create account", method: "POST", path: "/v1.0/conversation_accounts", body: map[string]any{
				"type": "sms", "name": "second", "detail": "d", "secret": "", "token": "t0ken-value",
				"provider_data": map[string]any{"account_sid": "AC" + strings.Repeat("3", 32), "number": uniquePhone()}}},
			// Exactly as VoIPbin's clients send it, without provider_data.
			{name: "create account as VoIPbin's clients do", method: "POST", path: "/v1.0/conversation_accounts",
				body: `{"type":"sms","name":"main","detail":"d","token":"tok","secret":"sec"}`},
			{name: "create whatsapp account", method: "POST", path: "/v1.0/conversation_accounts", body: map[string]any{
				"type": "whatsapp", "name": "wa", "detail": "d", "secret": "verify-me", "token": "wa-t0ken",
				"provider_data": map[string]any{"phone_number_id": "109876543210", "display_phone_number": "+15550102030", "app_secret": "app-5ecret"}}},
			{name: "get account", method: "GET", path: "/v1.0/conversation_accounts/" + account},
			{name: "update account", method: "PUT", path: "/v1.0/conversation_accounts/" + account, body: map[string]any{"name": "renamed"}},
			{name: "delete account", method: "DELETE", path: "/v1.0/conversation_accounts/" + spareAccount},
			{name: "list agents", method: "GET", path: "/v1.0/agents"},
			{name: "create agent", method: "POST", path: "/v1.0/agents", body: map[string]any{
				"username": unique("oa"), "password": "password-oa", "name": "O A", "detail": "", "ring_method": "ringall",
				"permission": 64, "tag_ids": []string{}, "addresses": []any{}}},
			{name: "get agent", method: "GET", path: "/v1.0/agents/" + agentID},
			{name: "update agent", method: "PUT", path: "/v1.0/agents/" + agentID, body: map[string]any{"name": "Agent Smith", "ring_method": "linear"}},
			{name: "update agent with an empty ring_method", method: "PUT", path: "/v1.0/agents/" + agentID, body: map[string]any{"ring_method": ""}},
			{name: "agent permission", method: "PUT", path: "/v1.0/agents/" + agentID + "/permission", body: map[string]any{"permission": 16}},
			{name: "agent status", method: "PUT", path: "/v1.0/agents/" + agentID + "/status", body: map[string]any{"status": "available"}},
			{name: "agent password", method: "PUT", path: "/v1.0/agents/" + agentID + "/password", body: map[string]any{"password": "another-password"}},
			{name: "delete agent", method: "DELETE", path: "/v1.0/agents/" + spareAgent},
			{name: "agent addresses", method: "PUT", path: "/v1.0/agents/" + agentID + "/addresses", body: map[string]any{
				"addresses": []any{map[string]any{"type": "tel", "target": "+15550100111", "target_name": "", "name": "desk", "detail": ""}}}},
			{name: "agent tag_ids", method: "PUT", path: "/v1.0/agents/" + agentID + "/tag_ids", body: map[string]any{"tag_ids": []string{tagID}}},
			{name: "list access keys", method: "GET", path: "/v1.0/accesskeys"},
			{name: "create access key", method: "POST", path: "/v1.0/accesskeys", body: map[string]any{"name": "n", "detail": "d", "expire": 3600}},
			{name: "get access key", method: "GET", path: "/v1.0/accesskeys/" + keyID},
			{name: "update access key", method: "PUT", path: "/v1.0/accesskeys/" + keyID, body: map[string]any{"name": "renamed"}},
			{name: "delete access key", method: "DELETE", path: "/v1.0/accesskeys/" + keyID},
			{name: "get customer", method: "GET", path: "/v1.0/customer"},
			{name: "update customer", method: "PUT", path: "/v1.0/customer", body: map[string]any{
				"name": "Acme", "detail": "d", "email": "ops@example.com", "phone_number": "+15550100000", "address": "1 Main St",
				"webhook_method": "POST", "webhook_uri": webhookSink(t)}},
			{name: "list customers", method: "GET", path: "/v1.0/customers", cred: adminToken},
			{name: "create customer", method: "POST", path: "/v1.0/customers", cred: adminToken, body: map[string]any{
				"name": "Other", "detail": "", "email": "", "phone_number": "", "address": "", "webhook_method": "", "webhook_uri": ""}},
			{name: "get customer by id", method: "GET", path: "/v1.0/customers/" + otherCustomer, cred: adminToken},
			{name: "update customer by id", method: "PUT", path: "/v1.0/customers/" + otherCustomer, cred: adminToken, body: map[string]any{"detail": "changed"}},
			{name: "delete customer", method: "DELETE", path: "/v1.0/customers/" + otherCustomer, cred: adminToken},
			// The password change above ended agentToken.
			{name: "me with a token", method: "GET", path: "/v1.0/me", cred: "fresh"},
			{name: "me as super-admin", method: "GET", path: "/v1.0/me", cred: adminToken},
			{name: "me with an access key", method: "GET", path: "/v1.0/me"},
			// POST /activeflows with VoIPbin's body, by flow and by inline actions.
			{name: "start activeflow", method: "POST", path: "/v1.0/activeflows", body: map[string]any{
				"id": convo.NewID(), "flow_id": flowID, "variables": map[string]any{"campaign_id": "summer-2026"},
				"webhook_uri": "https://example.com/webhooks/activeflow", "webhook_method": "POST"}},
			{name: "start activeflow with actions", method: "POST", path: "/v1.0/activeflows", body: map[string]any{
				"actions": []any{map[string]any{"type": "variable_set", "option": map[string]any{"key": "k", "value": "v"}}}}},
			{name: "list activeflows", method: "GET", path: "/v1.0/activeflows"},
			// The agent app's routes VoIPbin documents and the reference
			// leaves out answer the resources the reference describes.
			{name: "service_agents me", method: "GET", path: "/v1.0/service_agents/me", cred: "fresh", asMethod: "GET", asPath: "/v1.0/me"},
			{name: "service_agents update me", method: "PUT", path: "/v1.0/service_agents/me", cred: "fresh",
				body: map[string]any{"name": "Ann", "detail": "days", "ring_method": "ringall"}, asMethod: "PUT", asPath: "/v1.0/agents/" + agentID},
			{name: "service_agents my status", method: "PUT", path: "/v1.0/service_agents/me/status", cred: "fresh",
				body: map[string]any{"status": "busy"}, asMethod: "PUT", asPath: "/v1.0/agents/" + agentID + "/status"},
			{name: "service_agents my addresses", method: "PUT", path: "/v1.0/service_agents/me/addresses", cred: "fresh",
				body: map[string]any{"addresses": []any{map[string]any{"type": "sip", "target": "sip:ann@example.com"}}}, asMethod: "PUT", asPath: "/v1.0/agents/" + agentID + "/addresses"},
			{name: "service_agents my password", method: "PUT", path: "/v1.0/service_agents/me/password", cred: "fresh",
				body: map[string]any{"password": "another-password"}, asMethod: "PUT", asPath: "/v1.0/agents/" + agentID + "/password"},
			{name: "service_agents agents", method: "GET", path: "/v1.0/service_agents/agents", cred: "fresh", asMethod: "GET", asPath: "/v1.0/agents"},
			{name: "service_agents agent", method: "GET", path: "/v1.0/service_agents/agents/" + agentID, cred: "fresh", asMethod: "GET", asPath: "/v1.0/agents/" + agentID},
			{name: "service_agents customer", method: "GET", path: "/v1.0/service_agents/customer", cred: "fresh", asMethod: "GET", asPath: "/v1.0/customer"},
			// Error answers in the documented envelope.
			{name: "missing conversation", method: "GET", path: "/v1.0/conversations/" + convo.NewID(), code: http.StatusNotFound},
			{name: "malformed id", method: "GET", path: "/v1.0/conversations/nope", code: http.StatusBadRequest},
			{name: "no credential", method: "GET", path: "/v1.0/conversations", cred: "-", code: http.StatusUnauthorized},
			{name: "agent may not update", method: "PUT", path: "/v1.0/conversations/" + convID, cred: "fresh", body: map[string]any{"name": "x"}, code: http.StatusForbidden},
		}
		for _, c := range checks {
			t.Run(c.name, func(t *testing.T) {
				cred := c.cred
				switch cred {
				case "":
					cred = ts.AdminKey
				case "-":
					cred = ""
				case "fresh":
					username := str(t, key.ok("GET", "/v1.0/agents/"+agentID, nil), "username")
					cred = ts.login(t, username, "another-password")
				}
				r := call(t, c.method, ts.URL()+c.path, cred, c.body)
				want := c.code
				if want == 0 {
					want = http.StatusOK
				}
				if r.Status != want {
					t.Fatalf("%s %s: status %d, want %d\n%s", c.method, c.path, r.Status, want, r.Body)
				}
				asMethod, asPath := c.method, c.path
				if c.asMethod != "" {
					asMethod, asPath = c.asMethod, c.asPath
				}
				ref.validate(t, r, asMethod, asPath)
			})
		}
		// The messages inserted above are what the messages endpoint shows, newest first.
		got := rows(t, key.ok("GET", "/v1.0/conversations/"+convID+"/messages", nil))
		if len(got) != 2 || got[0]["id"] != mms.ID || got[1]["id"] != msg.ID || got[1]["text"] != msg.Text || got[1]["direction"] != "incoming" {
			t.Errorf("messages %v, want the MMS then the SMS inserted", got)
		} else if medias := got[0]["medias"].([]any); len(medias) != 1 || medias[0].(map[string]any)["filename"] != "https://media.example.com/label.jpg" {
			t.Errorf("MMS medias %v, want the one picture", medias)
		}
	})
}
