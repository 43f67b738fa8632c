package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/hashing"

	"github.com/eventstore-go/eventstore/internal/database"
)

// Phase 1 of a write (doc.go, "The path of an append"): what a caller of
// this server asks (CreateContext, Append, Update, Delete, Share), checked
// and made into a request for its context's writer (queue.go).

// requestKind is what a request asks of its context's writer.
type requestKind int

const (
	kindCreate requestKind = iota
	kindAppend
	kindEdit
	kindShare
	kindIngest
)

// request is one caller's write, waiting in a writer's queue.
type request struct {
	kind      requestKind
	t         string
	o         bson.Raw
	canonical []byte // canonical JSON of o
	clid      string
	expected  []string // expected parents, sorted; nil: any
	target    string   // edits
	remote    []*eventstore.Event
	// Of an ingest: the server the events came from, and the events
	// that an event.delete of the same call names (request_ingest.go: proof).
	from    string
	proofed map[string]bool

	// results
	done    bool
	event   *eventstore.Event
	existed bool
	ingest  []IngestResult
	err     error
}

// NewEvent is an event a client asks to append.
type NewEvent struct {
	T    string          // event type
	O    json.RawMessage // data, a JSON object; nil means {}
	Clid string          // optional client id: a second append with it returns the first event
	// ExpectedPids, when not nil, must equal the context's current leaves
	// or the append fails with a conflict.
	ExpectedPids []string
}

// maxClidLength bounds a client id, in bytes.
const maxClidLength = 128

// CreateContext creates context ct/cid with its genesis event of type t
// (ct when empty) and data o. It fails with EEXISTS if the context exists.
func (s *Store) CreateContext(ctx context.Context, ct, cid, t string, o json.RawMessage) (ev *eventstore.Event, err error) {
	defer s.observe("create", time.Now(), &err)
	if t == "" {
		t = ct
	}
	r, err := s.localRequest(kindCreate, ct, cid, NewEvent{T: t, O: o})
	if err != nil {
		return nil, err
	}
	if err := s.prepareType(ctx, ct); err != nil {
		return nil, dbError("prepare", err)
	}
	if err := s.register(ctx, ct, cid); err != nil {
		return nil, err
	}
	s.submit(ctx, ct, cid, r)
	return r.event, r.err
}

// register records a context in the contexts registry (idempotent), so that
// the audit and listings find it even before its first hint.
func (s *Store) register(ctx context.Context, ct, cid string) error {
	err := s.conn.Write(ctx, func() error {
		_, err := s.contexts().UpdateOne(ctx, bson.D{{Key: "_id", Value: contextKey(ct, cid)}},
			bson.D{{Key: "$setOnInsert", Value: contextDoc{ID: contextKey(ct, cid), Ct: ct, Cid: cid, Created: bson.DateTime(s.opts.Now().UnixMilli())}}},
			options.UpdateOne().SetUpsert(true))
		return err
	})
	if err != nil && !database.OnlyDuplicates(err) { // two upserts racing: one inserts, the other may see a duplicate
		return dbError("register", err)
	}
	return nil
}

// Append appends a local event to context ct/cid: its parents are the
// current leaves, src is this server. existed is true when in.Clid was
// already used in the context; the event returned is then the first one.
func (s *Store) Append(ctx context.Context, ct, cid string, in NewEvent) (ev *eventstore.Event, existed bool, err error) {
	defer s.observe("append", time.Now(), &err)
	if eventstore.Reserved(in.T) {
		return nil, false, eventstore.Errorf(eventstore.EINVALID, "t %q is reserved: updates, deletes and sharing have their own operations", in.T)
	}
	r, err := s.localRequest(kindAppend, ct, cid, in)
	if err != nil {
		return nil, false, err
	}
	s.submit(ctx, ct, cid, r)
	return r.event, r.existed, r.err
}

// Update appends an event.update event that edits target's d, and applies
// it. It fails with ENOTFOUND if the target is not in the context and EGONE
// if it was deleted.
func (s *Store) Update(ctx context.Context, ct, cid, target string, ed edits.Edit) (ev *eventstore.Event, err error) {
	defer s.observe("update", time.Now(), &err)
	if err := ed.Validate(); err != nil {
		return nil, err
	}
	return s.edit(ctx, ct, cid, eventstore.TypeUpdate, target, ed)
}

// Delete appends an event.delete event for target, which then loses o and
// d and gets deletedAt; its hashed fields stay. EGONE if already deleted.
func (s *Store) Delete(ctx context.Context, ct, cid, target string) (ev *eventstore.Event, err error) {
	defer s.observe("delete", time.Now(), &err)
	return s.edit(ctx, ct, cid, eventstore.TypeDelete, target, edits.Edit{})
}

// Share appends a server.join event: from then on the context is shared
// with server, which every participant computes the same way from the
// events (Participants). Sharing with a participant changes nothing and
// returns the event that made it one, if any.
func (s *Store) Share(ctx context.Context, ct, cid, server string) (ev *eventstore.Event, err error) {
	defer s.observe("share", time.Now(), &err)
	if err := hashing.ValidateSrc(server); err != nil {
		return nil, eventstore.WrapError(eventstore.EINVALID, fmt.Errorf("server: %w", err))
	}
	o, err := hashing.CanonicalObject(hashing.Object{{Name: "server", Value: server}})
	if err != nil {
		return nil, err
	}
	r, err := s.localRequest(kindShare, ct, cid, NewEvent{T: eventstore.TypeServerJoin, O: o})
	if err != nil {
		return nil, err
	}
	r.target = server
	s.submit(ctx, ct, cid, r)
	return r.event, r.err
}

func (s *Store) edit(ctx context.Context, ct, cid, t, target string, ed edits.Edit) (*eventstore.Event, error) {
	if err := hashing.ValidateEventID(target); err != nil {
		return nil, eventstore.WrapError(eventstore.EINVALID, err)
	}
	o, err := edits.Encode(target, ed)
	if err != nil {
		return nil, err
	}
	r, err := s.localRequest(kindEdit, ct, cid, NewEvent{T: t, O: o})
	if err != nil {
		return nil, err
	}
	r.target = target
	s.submit(ctx, ct, cid, r)
	return r.event, r.err
}

// localRequest validates a local write and prepares its request.
func (s *Store) localRequest(kind requestKind, ct, cid string, in NewEvent) (*request, error) {
	if err := eventstore.ValidateContext(ct, cid); err != nil {
		return nil, err
	}
	if err := hashing.ValidateEventType(in.T); err != nil {
		return nil, eventstore.WrapError(eventstore.EINVALID, err)
	}
	if in.O == nil {
		in.O = json.RawMessage("{}")
	}
	o, canonical, err := storedData(in.O)
	if err != nil {
		return nil, eventstore.WrapError(eventstore.EINVALIDDATA, fmt.Errorf("o: %w", err))
	}
	if err := validateClid(in.Clid); err != nil {
		return nil, err
	}
	var expected []string
	if in.ExpectedPids != nil {
		expected = slices.Sorted(slices.Values(in.ExpectedPids))
		if err := hashing.ValidatePids(expected); err != nil {
			return nil, eventstore.WrapError(eventstore.EINVALID, err)
		}
	}
	return &request{kind: kind, t: in.T, o: o, canonical: canonical, clid: in.Clid, expected: expected}, nil
}

func validateClid(clid string) error {
	if clid == "" {
		return nil
	}
	if len(clid) > maxClidLength || !utf8.ValidString(clid) || strings.ContainsFunc(clid, unicode.IsControl) {
		return eventstore.Errorf(eventstore.EINVALID, "clid must be 1 to %d bytes of UTF-8 without control characters", maxClidLength)
	}
	return nil
}
