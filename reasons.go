package convo

// Reasons of the store: a resource that does not exist (ENotFound), and a
// unique key already taken (EConflict). Callers compare an error's reason
// with these, never with a literal.
const (
	ReasonCustomerNotFound       = "CUSTOMER_NOT_FOUND"
	ReasonCustomerExists         = "CUSTOMER_EXISTS"
	ReasonAgentNotFound          = "AGENT_NOT_FOUND"
	ReasonUsernameTaken          = "USERNAME_TAKEN"
	ReasonAccessKeyNotFound      = "ACCESSKEY_NOT_FOUND"
	ReasonAccessKeyExists        = "ACCESSKEY_EXISTS"
	ReasonAccountNotFound        = "ACCOUNT_NOT_FOUND"
	ReasonAccountExists          = "ACCOUNT_EXISTS"
	ReasonConversationNotFound   = "CONVERSATION_NOT_FOUND"
	ReasonConversationExists     = "CONVERSATION_EXISTS"
	ReasonMessageNotFound        = "MESSAGE_NOT_FOUND"
	ReasonMessageExists          = "MESSAGE_EXISTS"
	ReasonFlowNotFound           = "FLOW_NOT_FOUND"
	ReasonFlowExists             = "FLOW_EXISTS"
	ReasonActiveflowNotFound     = "ACTIVEFLOW_NOT_FOUND"
	ReasonActiveflowExists       = "ACTIVEFLOW_EXISTS"
	ReasonTagNotFound            = "TAG_NOT_FOUND"
	ReasonTagNameTaken           = "TAG_NAME_TAKEN"
	ReasonCannedResponseNotFound = "CANNED_RESPONSE_NOT_FOUND"
	ReasonShortCodeTaken         = "SHORT_CODE_TAKEN"
	ReasonLabelNotFound          = "LABEL_NOT_FOUND"
	ReasonLabelNameTaken         = "LABEL_NAME_TAKEN"
	ReasonReadMarkNotFound       = "READ_MARK_NOT_FOUND"
	ReasonNoteNotFound           = "NOTE_NOT_FOUND"
	ReasonNoteExists             = "NOTE_EXISTS"
	ReasonEventNotFound          = "EVENT_NOT_FOUND"
	ReasonEventExists            = "EVENT_EXISTS"
	ReasonJobNotFound            = "JOB_NOT_FOUND"
	ReasonJobExists              = "JOB_EXISTS"
	ReasonSettingNotFound        = "SETTING_NOT_FOUND"
	ReasonSettingExists          = "SETTING_EXISTS"
	ReasonAuditLogNotFound       = "AUDIT_LOG_NOT_FOUND"
	ReasonAuditLogExists         = "AUDIT_LOG_EXISTS"
	ReasonLoginThrottleNotFound  = "LOGIN_THROTTLE_NOT_FOUND"
	ReasonLoginThrottleExists    = "LOGIN_THROTTLE_EXISTS"
)

// Reasons of conversation status and the unassigned queue.
const (
	// ReasonAlreadyAssigned answers a take of a conversation someone owns.
	ReasonAlreadyAssigned = "ALREADY_ASSIGNED"
	// ReasonInvalidStatus refuses an unknown conversation status.
	ReasonInvalidStatus = "INVALID_STATUS"
	// ReasonInvalidSnoozedUntil refuses a snooze without a future snoozed_until.
	ReasonInvalidSnoozedUntil = "INVALID_SNOOZED_UNTIL"
	// ReasonInvalidResolvedInbound refuses a resolved_inbound other than reopen or new.
	ReasonInvalidResolvedInbound = "INVALID_RESOLVED_INBOUND"
	// ReasonInvalidAutoResolve refuses an auto_resolve_after that is not a
	// duration between MinAutoResolve and MaxAutoResolve.
	ReasonInvalidAutoResolve = "INVALID_AUTO_RESOLVE_AFTER"
	// ReasonInvalidFilter refuses list filters that contradict each other or are unknown.
	ReasonInvalidFilter = "INVALID_FILTER"
)

// Reasons of sending a message.
const (
	// ReasonEmptyMessage: nothing to send, neither text nor medias.
	ReasonEmptyMessage = "EMPTY_MESSAGE"
	// ReasonTextAndCannedResponse: a send names both its text and a canned
	// response to take the text from.
	ReasonTextAndCannedResponse = "TEXT_AND_CANNED_RESPONSE"
)

// Reasons of a refused search (400): q shorter than MinSearchQuery
// characters, q holding control characters, a type filter convo does not know.
const (
	ReasonQueryTooShort     = "QUERY_TOO_SHORT"
	ReasonInvalidQuery      = "INVALID_QUERY"
	ReasonInvalidSearchType = "INVALID_TYPE"
)

// Reasons of the labels and read state of conversations.
const (
	// ReasonInvalidLabelName refuses a label name that is empty, too long
	// or holds a comma.
	ReasonInvalidLabelName = "INVALID_LABEL_NAME"
	// ReasonInvalidLabelColor refuses a color that is not "#rrggbb".
	ReasonInvalidLabelColor = "INVALID_LABEL_COLOR"
	// ReasonUnknownLabel refuses labels for a conversation that name no
	// live label of the customer.
	ReasonUnknownLabel = "UNKNOWN_LABEL"
	// ReasonInvalidLabels refuses a labels body that is not a list of names.
	ReasonInvalidLabels = "INVALID_LABELS"
	// ReasonReadNeedsAgent (EForbidden) refuses a read mark from an access
	// key: read state belongs to an agent.
	ReasonReadNeedsAgent = "READ_NEEDS_AGENT"
	// ReasonInvalidUnread refuses an unread filter other than true or false.
	ReasonInvalidUnread = "INVALID_UNREAD"
)

// Codes of convo's own on a failed message's error, when no provider gave
// one. Provider codes (Meta's, Twilio's, LINE's) are shown as they came.
const (
	// ReasonProviderUnreachable: no answer from the provider after every retry.
	ReasonProviderUnreachable = "PROVIDER_UNREACHABLE"
	// ReasonProviderUnavailable: the provider answered 5xx or 429 after every retry.
	ReasonProviderUnavailable = "PROVIDER_UNAVAILABLE"
	// ReasonProviderRefused: the provider refused the message without a code.
	ReasonProviderRefused = "PROVIDER_REFUSED"
	// ReasonSendFailed: the message could not be sent for a reason of convo's
	// (its account was deleted or lost its settings).
	ReasonSendFailed = "SEND_FAILED"
)
