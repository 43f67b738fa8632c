package eventstore

import (
	"errors"
	"fmt"
)

// Code is an error code: stable, machine-readable, and exactly the `code`
// of the HTTP answers (problem+json); internal/httperr maps each to one HTTP
// status.
type Code string

// Error codes. Their values are the API's contract: they never change.
const (
	EINVALID      Code = "invalid_request" // the request is malformed
	EINVALIDDATA  Code = "invalid_data"    // event data or a hashed field breaks the hashing rules
	EBADCURSOR    Code = "invalid_cursor"  // a listing cursor that this server did not issue
	ENOTFOUND     Code = "not_found"
	ECONFLICT     Code = "conflict"       // expected parents are not the current leaves
	ECLIDREUSED   Code = "clid_conflict"  // a clid already used in the context for another type or other data
	EEXISTS       Code = "context_exists" // the context already has a genesis event
	EGONE         Code = "gone"           // the event was deleted
	ETOOLARGE     Code = "too_large"
	EUNAUTHORIZED Code = "unauthorized"
	EFORBIDDEN    Code = "forbidden"
	ERATELIMITED  Code = "rate_limited" // the caller makes too many requests; slow down
	EUNAVAILABLE  Code = "unavailable"  // the database cannot be reached; retry later
	EOUTOFSPACE   Code = "out_of_space" // the database has no space left to write; retry once it has
	EINTERNAL     Code = "internal"
)

// Error is a domain error: a stable Code, a message safe to show a client,
// and the underlying error, if any, for logs and errors.Is.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return string(e.Code) + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, code) true for an *Error of that code, whether it
// was made here or, through package client, read from a server's answer:
// errors.Is(err, eventstore.ENOTFOUND).
func (e *Error) Is(target error) bool {
	c, ok := target.(Code)
	return ok && e.Code == c
}

// Error makes a Code an error, for errors.Is (see Error.Is).
func (c Code) Error() string { return string(c) }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error with the given code whose message is err's.
func WrapError(code Code, err error) *Error {
	return &Error{Code: code, Message: err.Error(), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
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
