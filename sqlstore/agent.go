package sqlstore

import (
	"context"

	"github.com/convohq/convo"
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
