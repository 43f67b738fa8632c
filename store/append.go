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
	"github.com/eventstore-go/eventstore/migrations"

	"github.com/eventstore-go/eventstore/internal/database"
)

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

// request plans one request on top of the batch so far and returns the
// event documents it adds.
func (pl *planner) request(ctx context.Context, r *request, k *known) ([]eventDoc, error) {
	exists := pl.head != nil || pl.next.Genesis != ""
	fail := func(err error) ([]eventDoc, error) {
		pl.p.answer(func() { r.err, r.done = err, true })
		return nil, nil
	}
	switch r.kind {
	case kindCreate:
		if exists {
			return fail(eventstore.Errorf(eventstore.EEXISTS, "context %s/%s already exists", pl.ct, pl.cid))
		}
		e := pl.localEvent(r.t, r.canonical, "")
		doc := pl.addEvent(e, r.o)
		pl.p.answer(func() { r.event, r.done = e, true })
		return []eventDoc{doc}, nil
	case kindIngest:
		return pl.ingest(ctx, r, k)
	}
	if !exists {
		return fail(eventstore.Errorf(eventstore.ENOTFOUND, "context %s/%s does not exist", pl.ct, pl.cid))
	}
	if r.clid != "" {
		if e := k.clids[r.clid]; e != nil {
			return pl.repeat(r, e)
		}
	}
	if r.expected != nil {
		current := leafIDs(pl.next.Leaves)
		if !slices.Equal(current, r.expected) {
			return fail(eventstore.Errorf(eventstore.ECONFLICT, "the given pids are not the current leaves %v", current))
		}
	}
	if r.kind == kindEdit {
		if err := pl.checkTarget(ctx, r, k); err != nil {
			return fail(err)
		}
	}
	if r.kind == kindShare && slices.Contains(pl.next.Participation.Servers, r.target) {
		pl.p.answer(func() { r.existed, r.done = true, true })
		return nil, nil
	}
	e := pl.localEvent(r.t, r.canonical, r.clid)
	doc := pl.addEvent(e, r.o)
	if r.clid != "" {
		k.clids[r.clid] = e // a second request with this clid in the batch gets this event
		pl.records = append(pl.records, clidRecord{ID: migrations.ClidRecordID(pl.cid, r.clid), Cid: pl.cid, Event: e.ID,
			At: bson.DateTime(pl.s.opts.Now().UnixMilli())})
	}
	if r.kind == kindEdit && r.t == eventstore.TypeDelete {
		k.deleted[r.target] = true
	}
	pl.p.answer(func() { r.event, r.done = e, true })
	return []eventDoc{doc}, nil
}

// repeat answers request r, whose clid event e already used: with e, if r
// asks for what e is (its type and data: a retry), and else with
// ECLIDREUSED, since the same clid for another message is a client's bug
// to be told of, not a retry to be answered. The answer carries isLeaf as
// the first one did while e is still a leaf (not as the flags stored in
// the database, which follow later).
func (pl *planner) repeat(r *request, e *eventstore.Event) ([]eventDoc, error) {
	if e.T != r.t || e.DHash != hashing.DataHash(r.canonical) {
		err := eventstore.Errorf(eventstore.ECLIDREUSED,
			"clid %q was already used in %s/%s for event %s, of type %q and other data; a retry must send the same t and o", r.clid, pl.ct, pl.cid, e.ID, e.T)
		if e.T == r.t {
			err = eventstore.Errorf(eventstore.ECLIDREUSED,
				"clid %q was already used in %s/%s for event %s, with other data; a retry must send the same t and o", r.clid, pl.ct, pl.cid, e.ID)
		}
		pl.p.answer(func() { r.err, r.done = err, true })
		return nil, nil
	}
	answer := *e
	answer.IsLeaf = slices.ContainsFunc(pl.next.Leaves, func(l leaf) bool { return l.ID == e.ID })
	pl.p.answer(func() { r.event, r.existed, r.done = &answer, true, true })
	return nil, nil
}

// mayEdit applies the authorship rule: an event is updated or deleted only
// by its own server, or by the room's creator (the src of its genesis),
// which moderates the room.
func (pl *planner) mayEdit(ctx context.Context, k *known, editor, author, target string) error {
	if editor == author {
		return nil
	}
	creator := ""
	if e := pl.added[pl.next.Genesis]; e != nil {
		creator = e.Src
	} else if d, err := k.lookup(ctx, pl.s, pl.ct, pl.cid, pl.next.Genesis); err != nil {
		return err
	} else if d != nil {
		creator = d.Src
	}
	if editor == creator {
		return nil
	}
	return eventstore.Errorf(eventstore.EFORBIDDEN, "event %s is %s's: only %s, or %s which created %s/%s, may edit or delete it",
		target, author, author, creator, pl.ct, pl.cid)
}

// checkTarget checks the target of an update or delete: in this context,
// not itself an edit, not deleted, and (for updates) able to take the edit
// within the data limits.
func (pl *planner) checkTarget(ctx context.Context, r *request, k *known) error {
	var target *eventstore.Event
	if e, ok := pl.added[r.target]; ok {
		target = e
	} else if d := k.docs[r.target]; d != nil && d.Cid == pl.cid && d.Ct == pl.ct {
		var err error
		if target, err = d.event(); err != nil {
			return err
		}
	}
	if target == nil {
		return eventstore.Errorf(eventstore.ENOTFOUND, "event %s is not in context %s/%s", r.target, pl.ct, pl.cid)
	}
	if target.T == eventstore.TypeUpdate || target.T == eventstore.TypeDelete {
		return eventstore.Errorf(eventstore.EINVALID, "event %s is an %s event, which cannot be edited", r.target, target.T)
	}
	if target.Deleted || k.deleted[r.target] {
		return eventstore.Errorf(eventstore.EGONE, "event %s was deleted", r.target)
	}
	if err := pl.mayEdit(ctx, k, pl.s.opts.Server, target.Src, r.target); err != nil {
		return err
	}
	if r.t == eventstore.TypeUpdate {
		_, ed, err := edits.Parse(r.t, r.canonical)
		if err != nil {
			return err
		}
		d, err := edits.DecodeData(target.D)
		if err != nil {
			return err
		}
		if _, err := ed.Apply(d); err != nil {
			return eventstore.Errorf(eventstore.EINVALIDDATA,
				"the update cannot apply: a path crosses a value that is not an object, or d would exceed the data limits")
		}
	}
	return nil
}

func leafIDs(ls []leaf) []string {
	ids := make([]string, len(ls))
	for i, l := range ls {
		ids[i] = l.ID
	}
	slices.Sort(ids)
	return ids
}
