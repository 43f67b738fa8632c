package store

import (
	"context"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/migrations"
)

// The places streams start and resume from: a place in a commit log
// (LogPos), the end of a context's timeline (a Cursor). Package stream
// writes them as the cursors it hands out.

// LogPos is a place in a context type's commit log: every commit before
// entry Entry has been delivered, and the first Done events of commit
// Entry.
type LogPos struct {
	Entry int64
	Done  int
}

// LogEnd is the place after the last entry of context type ct's commit
// log: what a stream that starts at the present starts from.
func (s *Store) LogEnd(ctx context.Context, ct string) (LogPos, error) {
	end, err := s.logEnd(ctx, ct, 1)
	return LogPos{Entry: end}, dbError("commit log", err)
}

// LogTypes lists the context types that have an events collection, and
// so a commit log, without reading the contexts registry.
func (s *Store) LogTypes(ctx context.Context) ([]string, error) {
	names, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, dbError("context types", err)
	}
	var types []string
	for _, n := range names {
		if ct, ok := strings.CutSuffix(n, "_events"); ok && hashing.ValidateContextType(ct) == nil && n == migrations.EventsCollection(ct) {
			types = append(types, ct)
		}
	}
	slices.Sort(types)
	return types, nil
}

// TimelineEnd is the boundary after the newest event of context ct/cid.
func (s *Store) TimelineEnd(ctx context.Context, ct, cid string) (Cursor, error) {
	if err := eventstore.ValidateContext(ct, cid); err != nil {
		return Cursor{}, err
	}
	h, err := s.head(ctx, ct, cid)
	if err != nil {
		return Cursor{}, err
	}
	return h.end(), nil
}
