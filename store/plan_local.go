package store

import (
	"context"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/migrations"
)

// Phase 3 for this server's writes: an append, a context's creation, an
// edit or a share becomes an event on top of the batch so far; a clid
// used already answers with its event instead.

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
