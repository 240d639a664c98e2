package convo

import (
	"errors"
	"fmt"
	"time"
)

// Error statuses. Each maps to one HTTP status code.
const (
	EInvalid      = "INVALID_ARGUMENT"
	EUnauthorized = "UNAUTHENTICATED"
	EForbidden    = "PERMISSION_DENIED"
	ENotFound     = "NOT_FOUND"
	EConflict     = "ALREADY_EXISTS"
	EPrecondition = "FAILED_PRECONDITION"
	EExhausted    = "RESOURCE_EXHAUSTED"
	EUnavailable  = "UNAVAILABLE"
	EInternal     = "INTERNAL"
)

// Error is a failure meant for a client: a status, an UPPER_SNAKE reason and
// a human-readable message. Any other error is internal and never shown.
type Error struct {
	Status  string
	Reason  string
	Message string
	// RetryAfter, when set, tells the client how long to wait before trying
	// again (RESOURCE_EXHAUSTED, UNAVAILABLE).
	RetryAfter time.Duration
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("convo: %s %s: %s", e.Status, e.Reason, e.Message)
}

// Errorf returns an *Error with a formatted message.
func Errorf(status, reason, format string, args ...any) *Error {
	return &Error{Status: status, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// ErrorStatus returns the status of err, EInternal for errors that are not *Error.
func ErrorStatus(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return EInternal
}

// ErrorReason returns the reason of err, "INTERNAL" for errors that are not *Error.
func ErrorReason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return "INTERNAL"
}

// ErrorMessage returns the client-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Reasons shared by several packages.
const (
	ReasonInvalidID       = "INVALID_ID"
	ReasonInvalidJSON     = "INVALID_JSON_BODY"
	ReasonInvalidToken    = "INVALID_PAGE_TOKEN"
	ReasonUnauthenticated = "UNAUTHENTICATED"
	ReasonPermission      = "PERMISSION_DENIED"
	// ReasonRouteNotFound answers a path no route serves.
	ReasonRouteNotFound = "ROUTE_NOT_FOUND"
)

// NotFound returns the error for a missing resource of the given kind
// (e.g. "conversation" gives CONVERSATION_NOT_FOUND).
func NotFound(reason, what string) *Error {
	return &Error{Status: ENotFound, Reason: reason, Message: what + " not found"}
}

// Forbidden returns the error for a caller lacking permission.
func Forbidden(format string, args ...any) *Error {
	return Errorf(EForbidden, ReasonPermission, format, args...)
}

// Invalid returns an INVALID_ARGUMENT error.
func Invalid(reason, format string, args ...any) *Error {
	return Errorf(EInvalid, reason, format, args...)
}

// Reasons of EUnavailable: convo cannot serve the request now, and the
// client retries it later.
const (
	// ReasonDatabaseUnavailable says the database does not answer now,
	// e.g. while it restarts.
	ReasonDatabaseUnavailable = "DATABASE_UNAVAILABLE"
	// ReasonMigrationsPending says the database lacks schema migrations
	// this build needs.
	ReasonMigrationsPending = "MIGRATIONS_PENDING"
)

// ReasonAccountNotConfigured (EPrecondition) refuses a send through, or a
// hook for, an account that lacks a setting its provider needs.
const ReasonAccountNotConfigured = "ACCOUNT_NOT_CONFIGURED"
