package database

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/eventstore-go/eventstore"
)

// duplicateKey is the server's code for a unique key taken (E11000).
const duplicateKey = 11000

// outOfDiskSpace is MongoDB's OutOfDiskSpace.
const outOfDiskSpace = 14031

// ErrNotFound is what a read of one document answers when there is none.
var ErrNotFound = mongo.ErrNoDocuments

// IsDuplicate reports whether err is, or holds, a unique key taken.
func IsDuplicate(err error) bool {
	var ie *InsertError
	if errors.As(err, &ie) && ie.Duplicate {
		return true
	}
	return mongo.IsDuplicateKeyError(err)
}

// OnlyDuplicates reports whether err is nil or consists only of duplicate
// key errors: documents that were already written, fine for idempotent
// writes such as an unordered insert of documents that may be there.
func OnlyDuplicates(err error) bool {
	if err == nil {
		return true
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) {
		if bwe.WriteConcernError != nil {
			return false
		}
		for _, we := range bwe.WriteErrors {
			if we.Code != duplicateKey {
				return false
			}
		}
		return len(bwe.WriteErrors) > 0
	}
	var we mongo.WriteException
	if errors.As(err, &we) {
		if we.WriteConcernError != nil {
			return false
		}
		for _, e := range we.WriteErrors {
			if e.Code != duplicateKey {
				return false
			}
		}
		return len(we.WriteErrors) > 0
	}
	return false
}

// OutOfSpace reports whether a database error says that it has no space
// left to write: SQLite's SQLITE_FULL as FerretDB passes it on ("database
// or disk is full (13)", inside an InternalError), MongoDB's
// OutOfDiskSpace (14031), or the system's ENOSPC in any message.
func OutOfSpace(err error) bool {
	if err == nil {
		return false
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) && ce.Code == outOfDiskSpace {
		return true
	}
	var we mongo.WriteException
	if errors.As(err, &we) {
		for _, e := range we.WriteErrors {
			if e.Code == outOfDiskSpace {
				return true
			}
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "database or disk is full") || strings.Contains(msg, "No space left on device") ||
		strings.Contains(msg, "no space left on device")
}

// Wrap turns a database error of operation op into the *eventstore.Error
// its callers answer with: not found, conflict (a duplicate), unavailable
// (no answer in time), out of space, or internal. An *eventstore.Error and
// a cancellation pass unchanged.
func Wrap(op string, err error) error {
	var e *eventstore.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return err
	case errors.Is(err, mongo.ErrNoDocuments):
		return &eventstore.Error{Code: eventstore.ENOTFOUND, Message: "not found", Err: err}
	case IsDuplicate(err):
		return &eventstore.Error{Code: eventstore.ECONFLICT, Message: "conflict", Err: err}
	case mongo.IsTimeout(err), mongo.IsNetworkError(err), errors.Is(err, context.DeadlineExceeded):
		return &eventstore.Error{Code: eventstore.EUNAVAILABLE, Message: "the database did not answer in time; retry", Err: fmt.Errorf("%s: %w", op, err)}
	case errors.Is(err, context.Canceled):
		return err
	case OutOfSpace(err):
		return &eventstore.Error{Code: eventstore.EOUTOFSPACE, Message: "the database is out of space; writes resume once space is freed",
			Err: fmt.Errorf("%s: %w", op, err)}
	}
	return &eventstore.Error{Code: eventstore.EINTERNAL, Err: fmt.Errorf("%s: %w", op, err)}
}
