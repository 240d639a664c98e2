package convo

import "slices"

// Permission is a set of agent permission bits.
type Permission uint64

// Permission bits.
const (
	PermissionNone              Permission = 0x0000
	PermissionProjectSuperAdmin Permission = 0x0001
	PermissionCustomerAgent     Permission = 0x0010
	PermissionCustomerAdmin     Permission = 0x0020
	PermissionCustomerManager   Permission = 0x0040
)

// permissionMask holds every bit convo knows; others are refused.
const permissionMask = PermissionProjectSuperAdmin | PermissionCustomerAgent | PermissionCustomerAdmin | PermissionCustomerManager

// Valid reports whether p holds only known bits.
func (p Permission) Valid() bool { return p&^permissionMask == 0 }

// Agent statuses.
const (
	AgentAvailable = "available"
	AgentAway      = "away"
	AgentBusy      = "busy"
	AgentOffline   = "offline"
)

// ValidAgentStatus reports whether s is a status an agent may set.
func ValidAgentStatus(s string) bool {
	return slices.Contains([]string{AgentAvailable, AgentAway, AgentBusy, AgentOffline}, s)
}

// Customer is a tenant.
type Customer struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Detail        string `json:"detail"`
	Email         string `json:"email"`
	PhoneNumber   string `json:"phone_number"`
	Address       string `json:"address"`
	WebhookMethod string `json:"webhook_method"`
	WebhookURI    string `json:"webhook_uri"`
	// WebhookSecret signs webhooks; write-only.
	WebhookSecret string `json:"-"`
	// AgentsTakeUnassigned lets plain agents list and take unassigned
	// conversations (default true).
	AgentsTakeUnassigned bool `json:"agents_take_unassigned"`
	TMCreate             Time `json:"tm_create"`
	TMUpdate             Time `json:"tm_update"`
	TMDelete             Time `json:"tm_delete"`
}

// Agent is a login of a customer.
type Agent struct {
	ID         string     `json:"id"`
	CustomerID string     `json:"customer_id"`
	Username   string     `json:"username"`
	Name       string     `json:"name"`
	Detail     string     `json:"detail"`
	RingMethod string     `json:"ring_method"`
	Status     string     `json:"status"`
	Permission Permission `json:"permission"`
	TagIDs     []string   `json:"tag_ids"`
	Addresses  []Address  `json:"addresses"`
	// PasswordHash is a bcrypt hash; never rendered.
	PasswordHash string `json:"-"`
	// TokenVersion is carried by the agent's login tokens; raising it ends
	// every token issued before.
	TokenVersion int64 `json:"-"`
	TMCreate     Time  `json:"tm_create"`
	TMUpdate     Time  `json:"tm_update"`
	TMDelete     Time  `json:"tm_delete"`
}

// AccessKey is an API credential acting as its customer's admin.
type AccessKey struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	Name       string `json:"name"`
	Detail     string `json:"detail"`
	// Token is the key itself, present only in the answer that created it.
	Token       string `json:"token,omitempty"`
	TokenPrefix string `json:"token_prefix"`
	// TokenHash is the SHA-256 of the token, the only form stored.
	TokenHash string `json:"-"`
	TMExpire  Time   `json:"tm_expire"`
	TMCreate  Time   `json:"tm_create"`
	TMUpdate  Time   `json:"tm_update"`
	TMDelete  Time   `json:"tm_delete"`
}

// Caller is who makes a request: an agent, or an access key acting as its
// customer's admin.
type Caller struct {
	CustomerID string
	// AgentID is the agent's id, or NilID for an access key.
	AgentID     string
	AccessKeyID string
	Permission  Permission
	// Address is the client address of the request, for the audit log.
	Address string
}

// IsSuperAdmin reports whether the caller holds the project super-admin bit.
func (c *Caller) IsSuperAdmin() bool { return c.Permission&PermissionProjectSuperAdmin != 0 }

// IsManager reports whether the caller is an admin or manager of its customer
// (access keys and super-admins count as admins).
func (c *Caller) IsManager() bool {
	return c.AccessKeyID != "" || c.Permission&(PermissionProjectSuperAdmin|PermissionCustomerAdmin|PermissionCustomerManager) != 0
}

// IsAdmin reports whether the caller is its customer's admin (not merely a manager).
func (c *Caller) IsAdmin() bool {
	return c.AccessKeyID != "" || c.Permission&(PermissionProjectSuperAdmin|PermissionCustomerAdmin) != 0
}
