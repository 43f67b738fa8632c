package stream

import (
	"context"

	"github.com/eventstore-go/eventstore/store"
)

// Store is what a Hub reads the store through: the commit logs and one
// context's timeline. *store.Store is one.
type Store interface {
	// LogTypes lists the context types that have a commit log.
	LogTypes(ctx context.Context) ([]string, error)
	// LogEnd is the place after the last entry of ct's commit log.
	LogEnd(ctx context.Context, ct string) (store.LogPos, error)
	// ReadLog returns whole commits of ct's log after entry after, and
	// the last entry it passed; it never skips one that may still come.
	ReadLog(ctx context.Context, ct string, after int64, max int) (commits []*store.Commit, through int64, err error)
	// WatchLogs calls wake with the type of every log entry inserted, by
	// any process, until ctx ends; database.ErrNoChangeStreams if it cannot.
	WatchLogs(ctx context.Context, wake func(ct string)) error

	// TimelineEnd is the boundary after the newest event of ct/cid;
	// ENOTFOUND if the context does not exist.
	TimelineEnd(ctx context.Context, ct, cid string) (store.Cursor, error)
	List(ctx context.Context, ct, cid string, q store.ListQuery) (*store.Page, error)
}
