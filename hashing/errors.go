package hashing

import (
	"errors"
	"fmt"
	"strconv"
)

// Errors for refused data. Each refused case of the spec has its own error;
// they reach callers wrapped in a *DataError that says where.
var (
	ErrSyntax          = errors.New("malformed JSON")
	ErrInvalidUTF8     = errors.New("invalid UTF-8")
	ErrLoneSurrogate   = errors.New("lone surrogate in string escape")
	ErrDuplicateMember = errors.New("duplicate member name")
	ErrIntegerRange    = errors.New("integer beyond ±(2^53−1)")
	ErrNumberRange     = errors.New("number is not a finite IEEE-754 double")
	ErrMemberDollar    = errors.New("member name starts with '$'")
	ErrMemberDot       = errors.New("member name contains '.'")
	ErrMemberNUL       = errors.New("member name contains NUL")
	ErrTooDeep         = errors.New("nesting deeper than 32 levels")
	ErrTooLarge        = errors.New("canonical size over 64 KiB")
	ErrNotObject       = errors.New("data must be a JSON object")
	ErrUnsupportedType = errors.New("value type not allowed in event data")
)

// Errors for refused hashed fields, wrapped in a *FieldError.
var (
	ErrBadSrc         = errors.New("must be lowercase DNS labels [a-z0-9-] separated by '.', optional :port, at most 255 bytes")
	ErrBadContextType = errors.New("must match ^[a-z][a-z0-9_-]{0,31}$")
	ErrBadContextID   = errors.New("must match ^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
	ErrBadEventType   = errors.New("must match ^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)*$, at most 64 characters")
	ErrBadTimestamp   = errors.New("must be milliseconds since the epoch in [0, 2^53-1]")
	ErrBadEventID     = errors.New("must be 64 lowercase hex characters")
	ErrPidsUnsorted   = errors.New("must be sorted ascending")
	ErrPidsDuplicate  = errors.New("must not contain duplicates")
	ErrPidsTooMany    = errors.New("must name at most 20 parents")
)

// DataError is refused event data: which rule (Err) and where (Path, a JSON
// pointer into the data; Offset, a byte offset into raw JSON when known, else -1).
type DataError struct {
	Err    error
	Path   string
	Offset int
	Detail string // the offending member name or literal, when useful
}

func (e *DataError) Error() string {
	msg := e.Err.Error()
	if e.Detail != "" {
		msg += " " + strconv.Quote(e.Detail)
	}
	where := e.Path
	if where == "" {
		where = "/"
	}
	if e.Offset >= 0 {
		return fmt.Sprintf("%s at %s (byte %d)", msg, where, e.Offset)
	}
	return fmt.Sprintf("%s at %s", msg, where)
}

func (e *DataError) Unwrap() error { return e.Err }

// FieldError is a refused hashed field such as src or pids.
type FieldError struct {
	Field string
	Value string
	Err   error
}

func (e *FieldError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %v", e.Field, e.Err)
	}
	v := e.Value
	if len(v) > 80 {
		v = v[:80] + "…"
	}
	return fmt.Sprintf("%s %q: %v", e.Field, v, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }
