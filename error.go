package eventstore

import (
	"errors"
	"fmt"
)

// Error codes: stable, machine-readable, and exactly the `code` of the
// API's problem+json answers. The api package maps each to one HTTP status.
const (
	EINVALID      = "invalid_request" // the request is malformed
	EINVALIDDATA  = "invalid_data"    // event data or a hashed field breaks the hashing rules
	EBADCURSOR    = "invalid_cursor"  // a listing cursor that this server did not issue
	ENOTFOUND     = "not_found"
	ECONFLICT     = "conflict"       // expected parents are not the current leaves
	EEXISTS       = "context_exists" // the context already has a genesis event
	EGONE         = "gone"           // the event was deleted
	ETOOLARGE     = "too_large"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	EUNAVAILABLE  = "unavailable" // the database cannot be reached; retry later
	EINTERNAL     = "internal"
)

// Error is a domain error: a stable Code, a message safe to show a client,
// and the underlying error, if any, for logs and errors.Is.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return e.Code + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error with the given code whose message is err's.
func WrapError(code string, err error) *Error {
	return &Error{Code: code, Message: err.Error(), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err: the message of its
// *Error, or a generic text for internal errors, which must not leak.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		if e.Message == "" && e.Err != nil && e.Code != EINTERNAL {
			return e.Err.Error()
		}
		if e.Code == EINTERNAL && e.Message == "" {
			return "internal error"
		}
		return e.Message
	}
	return "internal error"
}
