package store

import (
	"context"
	"crypto/hmac"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/migrations"
)

// LogPos is a place in a context type's commit log: every commit before
// entry Entry has been delivered, and the first Done events of commit
// Entry.
type LogPos struct {
	Entry int64
	Done  int
}

// After is the place just after event i of commit c.
func After(c *Commit, i int) LogPos {
	if i == len(c.Events)-1 {
		return LogPos{Entry: c.Log + 1}
	}
	return LogPos{Entry: c.Log, Done: i + 1}
}

// StreamCursor is where a server-wide stream is: a place in the commit log
// of each context type. A type it does not name had nothing delivered.
type StreamCursor map[string]LogPos

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

// A stream cursor is written "<ct>:<entry>.<done>,…" (types sorted) and
// a tag, bound to this server and to the stream's scope: the context type
// it follows, or every type ("*").

// EncodeStreamCursor writes c as a cursor of the server-wide stream of
// scope ("" for every context type).
func (s *Store) EncodeStreamCursor(scope string, c StreamCursor) string {
	types := make([]string, 0, len(c))
	for ct := range c {
		types = append(types, ct)
	}
	slices.Sort(types)
	parts := make([]string, len(types))
	for i, ct := range types {
		parts[i] = fmt.Sprintf("%s:%d.%d", ct, c[ct].Entry, c[ct].Done)
	}
	body := strings.Join(parts, ",")
	return body + "~" + s.cursorTag(streamScope(scope), body)
}

// DecodeStreamCursor reads a server-wide stream cursor of scope;
// EBADCURSOR unless this server issued it for that scope.
func (s *Store) DecodeStreamCursor(scope, text string) (StreamCursor, error) {
	bad := eventstore.Errorf(eventstore.EBADCURSOR, "cursor %q was not issued for this stream by this server", text)
	body, tag, ok := cutLast(text, "~")
	if !ok || !hmac.Equal([]byte(tag), []byte(s.cursorTag(streamScope(scope), body))) {
		return nil, bad
	}
	c := StreamCursor{}
	if body == "" {
		return c, nil
	}
	for _, part := range strings.Split(body, ",") {
		ct, pos, ok := strings.Cut(part, ":")
		entry, done, ok2 := strings.Cut(pos, ".")
		e, err1 := strconv.ParseInt(entry, 10, 64)
		d, err2 := strconv.Atoi(done)
		if !ok || !ok2 || err1 != nil || err2 != nil || e < 1 || d < 0 || hashing.ValidateContextType(ct) != nil {
			return nil, bad
		}
		c[ct] = LogPos{Entry: e, Done: d}
	}
	return c, nil
}

func streamScope(scope string) string {
	if scope == "" {
		return "stream *"
	}
	return "stream " + scope
}
