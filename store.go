package convo

import "context"

// Store is the durable state of convo. Every use case runs in one transaction.
type Store interface {
	// Update runs fn in one read-write transaction. When Update returns nil,
	// everything fn wrote is durably committed. An error from fn rolls back.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn with read-only access to committed state.
	View(ctx context.Context, fn func(Tx) error) error
	// Tidy reclaims the room that finished deliveries left in the delivery
	// queue, so that claims stay quick; a no-op where the database reclaims
	// it as it goes.
	Tidy(ctx context.Context) error
	// Ready reports whether the database answers and has every migration
	// applied: nil, or an EUnavailable error whose reason says which.
	Ready(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// Tx is the set of queries available inside a Store transaction. Getters
// return soft-deleted rows too (the caller decides); a missing row is an
// *Error with status ENotFound, never a nil result. The error of a write
// that reports nothing but an error (CreateEvent, CreateEvents, CreateJob,
// ReleaseJobLeases, ReleaseEventLeases,
// RescheduleJob, DeleteJob, LockConversations, CreateNewConversation,
// CreateNewMessages, RecordDeliveries, and an update of a row the
// transaction read and locked) may instead come from a later call of the
// same transaction or from Update, which then rolls back as for any error.
type Tx interface {
	CreateCustomer(ctx context.Context, c *Customer) error
	GetCustomer(ctx context.Context, id string) (*Customer, error)
	ListCustomers(ctx context.Context, p CustomerListParams) ([]*Customer, error)
	UpdateCustomer(ctx context.Context, c *Customer) error
	CountCustomers(ctx context.Context) (int, error)

	// CreateAgent fails with EConflict when a live agent has the username.
	CreateAgent(ctx context.Context, a *Agent) error
	GetAgent(ctx context.Context, id string) (*Agent, error)
	// GetAgentByUsername finds a live agent.
	GetAgentByUsername(ctx context.Context, username string) (*Agent, error)
	ListAgents(ctx context.Context, p AgentListParams) ([]*Agent, error)
	UpdateAgent(ctx context.Context, a *Agent) error
	// ListTaggedAgents returns the live agents of a customer whose tag_ids
	// hold tagID, in no particular order.
	ListTaggedAgents(ctx context.Context, customerID, tagID string) ([]*Agent, error)

	// CreateTag fails with EConflict when a live tag of the customer has the
	// name; so does UpdateTag, possibly only at a later call or the commit.
	CreateTag(ctx context.Context, t *Tag) error
	GetTag(ctx context.Context, id string) (*Tag, error)
	// GetLiveTags returns the live tags of a customer among ids, in no
	// particular order; in an Update they stay locked until the commit.
	GetLiveTags(ctx context.Context, customerID string, ids []string) ([]*Tag, error)
	ListTags(ctx context.Context, p TagListParams) ([]*Tag, error)
	UpdateTag(ctx context.Context, t *Tag) error

	// CreateCannedResponse fails with EConflict when a live canned response
	// of the customer has the short code; so does UpdateCannedResponse,
	// possibly only at a later call or the commit.
	CreateCannedResponse(ctx context.Context, r *CannedResponse) error
	GetCannedResponse(ctx context.Context, id string) (*CannedResponse, error)
	ListCannedResponses(ctx context.Context, p CannedResponseListParams) ([]*CannedResponse, error)
	UpdateCannedResponse(ctx context.Context, r *CannedResponse) error
	// CreateLabel fails with EConflict when a live label of the customer
	// has the name, ignoring case; so does UpdateLabel, possibly only at a
	// later call or the commit.
	CreateLabel(ctx context.Context, l *Label) error
	GetLabel(ctx context.Context, id string) (*Label, error)
	// GetLiveLabelsByName returns the live labels of a customer whose names
	// are among names, ignoring case, in no particular order; in an Update
	// they stay locked until the commit.
	GetLiveLabelsByName(ctx context.Context, customerID string, names []string) ([]*Label, error)
	ListLabels(ctx context.Context, p LabelListParams) ([]*Label, error)
	UpdateLabel(ctx context.Context, l *Label) error
	// SetConversationLabels makes labelIDs the labels of a conversation.
	SetConversationLabels(ctx context.Context, conversationID string, labelIDs []string) error
	// UnlabelConversations takes a label off every conversation.
	UnlabelConversations(ctx context.Context, labelID string) error
	// ConversationLabels returns the names of the live labels of each of
	// the conversations that has any, in no particular order.
	ConversationLabels(ctx context.Context, conversationIDs []string) (map[string][]string, error)

	// MarkRead moves an agent's read mark of a conversation forward to m:
	// a mark at or after m stays. It returns the mark in force.
	MarkRead(ctx context.Context, m *ReadMark) (*ReadMark, error)
	// GetReadMark returns an agent's read mark of a conversation (ENotFound
	// when it has read none of it).
	GetReadMark(ctx context.Context, agentID, conversationID string) (*ReadMark, error)
	// UnreadCounts counts, for each of the conversations that has any, the
	// incoming messages after the agent's read mark (all of them without one).
	UnreadCounts(ctx context.Context, agentID string, conversationIDs []string) (map[string]int, error)

	CreateNote(ctx context.Context, n *Note) error
	GetNote(ctx context.Context, id string) (*Note, error)
	// ListNotes lists a conversation's live notes, newest first.
	ListNotes(ctx context.Context, p NoteListParams) ([]*Note, error)
	UpdateNote(ctx context.Context, n *Note) error

	CreateAccessKey(ctx context.Context, k *AccessKey) error
	GetAccessKey(ctx context.Context, id string) (*AccessKey, error)
	// GetAccessKeyByHash finds a live key by the SHA-256 of its token.
	GetAccessKeyByHash(ctx context.Context, hash string) (*AccessKey, error)
	ListAccessKeys(ctx context.Context, p AccessKeyListParams) ([]*AccessKey, error)
	UpdateAccessKey(ctx context.Context, k *AccessKey) error

	CreateAccount(ctx context.Context, a *Account) error
	GetAccount(ctx context.Context, id string) (*Account, error)
	ListAccounts(ctx context.Context, p AccountListParams) ([]*Account, error)
	UpdateAccount(ctx context.Context, a *Account) error

	// CreateConversation fails with EConflict, without aborting the
	// transaction, when a live conversation has the same (account, dialog).
	CreateConversation(ctx context.Context, c *Conversation) error
	// CreateNewConversation writes a conversation believed new without
	// waiting to learn whether it was: when a live conversation has the
	// same (account, dialog), the transaction fails with EConflict, possibly
	// only at a later call or at the commit. It saves a round trip where
	// such clashes are rare.
	CreateNewConversation(ctx context.Context, c *Conversation) error
	GetConversation(ctx context.Context, id string) (*Conversation, error)
	// LockConversations locks the conversations with these ids until the
	// commit, as reading each with GetConversation would, without reading
	// them: the lock is taken with the transaction's next statement, and
	// later reads see the rows as locked. Ids without one are ignored.
	LockConversations(ctx context.Context, ids []string) error
	// GetLiveConversation finds the live conversation of (account, dialog).
	GetLiveConversation(ctx context.Context, accountID, dialogID string) (*Conversation, error)
	// GetLiveConversations finds the live conversations of an account with
	// any of dialogIDs, in no particular order; dialogs without one are left
	// out. Unlike the single-row reads it locks nothing: a caller that
	// changes one of them rereads it with GetConversation first.
	GetLiveConversations(ctx context.Context, accountID string, dialogIDs []string) ([]*Conversation, error)
	ListConversations(ctx context.Context, p ConversationListParams) ([]*Conversation, error)
	// UpdateConversation writes a conversation's changeable fields; never
	// its last message, which only TouchConversations writes.
	UpdateConversation(ctx context.Context, c *Conversation) error
	// TouchConversations records each touch's message as its conversation's
	// last message, and its time as the conversation's activity, where it is
	// newer than the one recorded: a conversation's last message only moves
	// forward, whatever the order of concurrent writers. It writes those
	// columns alone, so it and UpdateConversation never undo each other.
	// The unread state and the lists of a label rely on it: every message
	// created must be touched with, in the same transaction.
	TouchConversations(ctx context.Context, touches []Touch) error
	// SupersedeConversation makes a resolved conversation no longer the
	// live one of its dialog (it stays listed and readable), so that a new
	// one may be created; it reports false when it was not the live one or
	// not resolved (a concurrent writer superseded, reopened or deleted it).
	SupersedeConversation(ctx context.Context, id string) (bool, error)
	// ListIdleConversations lists the live conversations of an account in
	// a status whose last activity came before p.Before, oldest first.
	ListIdleConversations(ctx context.Context, p IdleConversationParams) ([]*Conversation, error)
	// ListAutoResolveAccounts lists the live accounts, of every customer,
	// whose auto_resolve_after is set.
	ListAutoResolveAccounts(ctx context.Context) ([]*Account, error)

	// CreateMessage fails with EConflict, without aborting the transaction,
	// when a message with the same non-empty (AccountID, ProviderID) exists.
	CreateMessage(ctx context.Context, m *Message) error
	// CreateMessages writes many messages at once and reports for each
	// whether it was stored: false when its (AccountID, ProviderID) exists
	// already, or earlier in ms.
	CreateMessages(ctx context.Context, ms []*Message) ([]bool, error)
	// CreateNewMessages writes messages believed new, as
	// CreateNewConversation does a conversation: one whose (AccountID,
	// ProviderID) is stored already, or earlier in ms, fails the transaction
	// with EConflict, possibly only at a later call or at the commit.
	CreateNewMessages(ctx context.Context, ms []*Message) error
	GetMessage(ctx context.Context, id string) (*Message, error)
	GetMessageByProviderID(ctx context.Context, accountID, providerID string) (*Message, error)
	// MessageParts returns the provider's id of each part of a message sent
	// in several calls that the provider accepted, by part index.
	MessageParts(ctx context.Context, messageID string) (map[int]string, error)
	// RecordMessagePart records that the provider accepted a part; a part
	// recorded already keeps its first id.
	RecordMessagePart(ctx context.Context, messageID string, part int, providerID string, at Time) error
	ListMessages(ctx context.Context, p MessageListParams) ([]*Message, error)
	UpdateMessage(ctx context.Context, m *Message) error
	// SetPeerOptOut records that the peer of dialogID opted out of the
	// account's messages (optedOut) or back in, and reports whether that
	// changed anything.
	SetPeerOptOut(ctx context.Context, accountID, dialogID string, optedOut bool, at Time) (bool, error)
	// PeersOptedOut reports which of keys are opted out (absent: not).
	PeersOptedOut(ctx context.Context, keys []PeerKey) (map[PeerKey]bool, error)
	// SaveReplyTokens keeps each conversation's newest reply token.
	SaveReplyTokens(ctx context.Context, tokens []ReplyToken) error
	// ClaimReplyToken takes the conversation's reply token, once: it
	// returns "" when there is none, or when it arrived before notBefore.
	ClaimReplyToken(ctx context.Context, conversationID string, notBefore Time) (string, error)
	// Search finds a customer's conversations whose name, peer name or
	// target or dialog id hold p.Query, then messages whose text does, each
	// kind newest first in the order the database stored them, using its
	// trigram index; see SearchParams.
	Search(ctx context.Context, p SearchParams) ([]*SearchHit, error)

	// CreateJob records work to run after the commit.
	CreateJob(ctx context.Context, j *Job) error
	// EnsureJob creates j unless a job with its id exists.
	EnsureJob(ctx context.Context, j *Job) error
	// ClaimJobs leases due jobs (or the one with p.ID) to the caller until
	// p.LeaseUntil and counts the attempt; jobs leased by others are skipped.
	ClaimJobs(ctx context.Context, p ClaimJobsParams) ([]*Job, error)
	// ReleaseJobLeases undoes claims whose outcome is unknown (their commit
	// failed with the database): the jobs leased until exactly one of ends
	// are free again. A claimer picks ends that name its claims.
	ReleaseJobLeases(ctx context.Context, ends []Time) error
	// RescheduleJob releases a job's lease and makes it due at runAt.
	RescheduleJob(ctx context.Context, id string, runAt Time, lastError string) error
	// DeleteJob removes a finished job.
	DeleteJob(ctx context.Context, id string) error

	CreateFlow(ctx context.Context, f *Flow) error
	GetFlow(ctx context.Context, id string) (*Flow, error)
	ListFlows(ctx context.Context, p FlowListParams) ([]*Flow, error)
	UpdateFlow(ctx context.Context, f *Flow) error
	// CountFlowAccounts counts the live accounts whose message flow is flowID.
	CountFlowAccounts(ctx context.Context, flowID string) (int, error)

	CreateActiveflow(ctx context.Context, a *Activeflow) error
	GetActiveflow(ctx context.Context, id string) (*Activeflow, error)
	ListActiveflows(ctx context.Context, p ActiveflowListParams) ([]*Activeflow, error)
	UpdateActiveflow(ctx context.Context, a *Activeflow) error

	// CreateEvent writes an event to the outbox with its position: events
	// are delivered in position order within their stream. It is skipped
	// from the start when nobody would receive it (no target of its own,
	// and a customer without a webhook, or deleted), pending otherwise.
	CreateEvent(ctx context.Context, e *Event) error
	// CreateEvents writes many events at once, as CreateEvent would each.
	CreateEvents(ctx context.Context, es []*Event) error
	// SettledEvents reports the highest settled position (below it no event
	// can appear any more, also not from a transaction still open) and how
	// many settled events after position after wait for delivery, up to limit.
	SettledEvents(ctx context.Context, after int64, limit int) (Settled, error)
	// ClaimEvents leases deliverable events: settled, due, not leased, and
	// with no undelivered event before them in their stream.
	ClaimEvents(ctx context.Context, p ClaimEventsParams) ([]*Event, error)
	// ReleaseEventLeases frees the events leased until exactly one of ends,
	// as ReleaseJobLeases does jobs.
	ReleaseEventLeases(ctx context.Context, ends []Time) error
	// RecordDeliveries writes events' delivery states and the attempts made.
	RecordDeliveries(ctx context.Context, outcomes []DeliveryOutcome) error
	GetEvent(ctx context.Context, id string) (*Event, error)
	// LastEventPos is the highest settled position.
	LastEventPos(ctx context.Context) (int64, error)
	ListEvents(ctx context.Context, p EventListParams) ([]*Event, error)
	ListEventAttempts(ctx context.Context, eventID string) ([]*EventAttempt, error)
	// PruneEvents deletes up to limit delivered and skipped events created
	// before t, oldest first, and returns how many it deleted.
	PruneEvents(ctx context.Context, before Time, limit int) (int, error)

	// CreateAuditLog records an audit entry with the change of the
	// transaction (its error may come from a later call, as for events).
	CreateAuditLog(ctx context.Context, a *AuditLog) error
	ListAuditLogs(ctx context.Context, p AuditLogListParams) ([]*AuditLog, error)
	// PruneAuditLogs deletes up to limit entries created before t, oldest
	// first, and returns how many it deleted.
	PruneAuditLogs(ctx context.Context, before Time, limit int) (int, error)

	// GetLoginThrottles returns the throttles of those keys that have one.
	GetLoginThrottles(ctx context.Context, keys []string) ([]*LoginThrottle, error)
	// CountLoginFailure adds a failure at at to key's count, which starts
	// again from one when key's last failure and the end of its block came
	// before since, and returns the throttle as it is now. Concurrent
	// failures are all counted.
	CountLoginFailure(ctx context.Context, key string, at, since Time) (*LoginThrottle, error)
	// BlockLogins refuses key's logins until until.
	BlockLogins(ctx context.Context, key string, until Time) error
	// ClearLoginThrottle forgets key's failures.
	ClearLoginThrottle(ctx context.Context, key string) error
	// PruneLoginThrottles forgets the throttles whose last failure came
	// before t and that block nothing any more.
	PruneLoginThrottles(ctx context.Context, before Time) (int, error)

	// CreateStoredMedia records a medium whose bytes are held; EConflict
	// when its id is recorded already.
	CreateStoredMedia(ctx context.Context, m *StoredMedia) error
	GetStoredMedia(ctx context.Context, id string) (*StoredMedia, error)
	// PruneStoredMedias deletes up to limit media recorded before t, oldest
	// first, with their chunks, and returns them.
	PruneStoredMedias(ctx context.Context, before Time, limit int) ([]*StoredMedia, error)
	// PutMediaChunks replaces the bytes of medium id held in the database.
	PutMediaChunks(ctx context.Context, id string, chunks [][]byte) error
	// GetMediaChunk returns chunk seq of medium id (ENotFound past the last).
	GetMediaChunk(ctx context.Context, id string, seq int) ([]byte, error)
	DeleteMediaChunks(ctx context.Context, id string) error

	// GetSetting returns a process-wide setting (ENotFound when unset).
	GetSetting(ctx context.Context, key string) (string, error)
	// InitSetting stores value under key unless the key is set, and returns
	// the value in force, so that concurrent first starts agree.
	InitSetting(ctx context.Context, key, value string) (string, error)
}

// Cursor is a position in a newest-first list: rows strictly older than
// (Time, ID). An empty ID means strictly older than Time.
type Cursor struct {
	Time Time
	ID   string
}

// Page selects a slice of a newest-first list.
type Page struct {
	// After, when set, starts the page after that position.
	After *Cursor
	// Limit is the number of rows to return at most.
	Limit int
}

// CustomerListParams selects customers (live ones only).
type CustomerListParams struct {
	Page
}

// AgentListParams selects live agents of a customer.
type AgentListParams struct {
	CustomerID string
	// Status, when set, keeps agents with that status.
	Status string
	Page
}

// AccessKeyListParams selects live access keys of a customer.
type AccessKeyListParams struct {
	CustomerID string
	Page
}

// AccountListParams selects accounts of a customer.
type AccountListParams struct {
	CustomerID string
	Deleted    bool
	Page
}

// ConversationListParams selects conversations of a customer. Empty filter
// fields do not filter. Deleted false lists live rows, true deleted ones.
type ConversationListParams struct {
	CustomerID string
	OwnerID    string
	// Unassigned keeps conversations nobody owns (OwnerID is then empty).
	Unassigned bool
	AccountID  string
	Type       string
	DialogID   string
	// Statuses keeps conversations in any of these statuses.
	Statuses []string
	Deleted  bool
	// ByActivity orders the list by last activity (TMActivity), newest
	// first, and the page's cursor is read as such; else by TMCreate.
	ByActivity bool
	// Labels keeps conversations holding a live label of each of these
	// names (compared ignoring case); a name no live label has matches
	// nothing.
	Labels []string
	// UnreadFor, when set, keeps conversations with an incoming message
	// after that agent's read mark (any incoming message when it has none);
	// the nil UUID (an access key, which has no read state) keeps none.
	UnreadFor string
	Page
}

// IdleConversationParams selects conversations for auto-resolution.
type IdleConversationParams struct {
	CustomerID string
	AccountID  string
	Status     string
	Before     Time
	Limit      int
}

// FlowListParams selects the live flows of a customer.
type FlowListParams struct {
	CustomerID string
	Page
}

// ActiveflowListParams selects the live activeflows of a customer; empty
// filters do not filter.
type ActiveflowListParams struct {
	CustomerID  string
	FlowID      string
	ReferenceID string
	Page
}

// MessageListParams selects the messages of one conversation.
type MessageListParams struct {
	ConversationID string
	Page
}
