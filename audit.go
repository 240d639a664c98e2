package convo

// Actor types of audit entries: who made a change.
const (
	ActorAgent     = "agent"
	ActorAccessKey = "accesskey"
	ActorSystem    = "system"
	ActorProvider  = "provider"
)

// Audit actions.
const (
	AuditLogin              = "login"
	AuditLoginFailed        = "login_failed"
	AuditLogout             = "logout"
	AuditCreated            = "created"
	AuditDeleted            = "deleted"
	AuditAssigned           = "assigned"
	AuditUnassigned         = "unassigned"
	AuditPermissionChanged  = "permission_changed"
	AuditPasswordChanged    = "password_changed"
	AuditStatusChanged      = "status_changed"
	AuditWebhookChanged     = "webhook_changed"
	AuditCredentialsChanged = "credentials_changed"
)

// Resource types of audit entries.
const (
	ResourceAgent          = "agent"
	ResourceAccessKey      = "accesskey"
	ResourceAccount        = "account"
	ResourceConversation   = "conversation"
	ResourceCustomer       = "customer"
	ResourceFlow           = "flow"
	ResourceActiveflow     = "activeflow"
	ResourceTag            = "tag"
	ResourceCannedResponse = "canned_response"
	ResourceLabel          = "label"
)

// Redacted stands for a secret's value in an audit entry: that it changed
// is recorded, never what it is.
const Redacted = "<redacted>"

// AuditLog records who did what to which resource of a customer, written in
// the transaction of the change itself.
type AuditLog struct {
	ID           string     `json:"id"`
	CustomerID   string     `json:"customer_id"`
	Actor        AuditActor `json:"actor"`
	Action       string     `json:"action"`
	ResourceType string     `json:"resource_type"`
	ResourceID   string     `json:"resource_id"`
	// Changes holds the changed fields with their old and new values.
	Changes map[string]AuditChange `json:"changes"`
	// Address is the client address of the request that made the change.
	Address  string `json:"address"`
	TMCreate Time   `json:"tm_create"`
}

// AuditActor is who made a change: an agent, an access key, the system
// (convo's own jobs) or a provider (through an account's hook).
type AuditActor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// AuditChange is one field's value before and after a change.
type AuditChange struct {
	Old any `json:"old"`
	New any `json:"new"`
}

// AuditLogListParams selects the audit entries of a customer; empty
// filters do not filter.
type AuditLogListParams struct {
	CustomerID   string
	ActorID      string
	ResourceType string
	ResourceID   string
	Action       string
	Page
}

// LoginThrottle counts the recent failed logins of one key (a username or a
// client address) and how long further attempts are refused.
type LoginThrottle struct {
	Key         string
	Failures    int
	LastFailure Time
	// BlockedUntil is when attempts are accepted again (zero: now).
	BlockedUntil Time
}
