package store

import (
	"context"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/eventstore-go/eventstore/edits"

	"github.com/eventstore-go/eventstore/internal/bsondata"
	"github.com/eventstore-go/eventstore/internal/database"
)

// maxFoldRounds bounds how often one writer re-reads a target that other
// writers keep editing.
const maxFoldRounds = 32

// applyEditEvent records an update or delete event against its target and
// brings the target's d (or deletion) up to date. seq is the head version
// the event belongs to.
func (s *Store) applyEditEvent(ctx context.Context, ct string, seq int64, ev *eventDoc) error {
	e, err := ev.event()
	if err != nil {
		return err
	}
	target, ed, err := edits.Parse(ev.T, e.O)
	if err != nil {
		return err
	}
	var doc eventDoc
	found, err := s.findIn(ctx, ct, ev.Cid, target, &doc)
	if err != nil {
		return err
	}
	if !found {
		// Appends and ingest both require the target; only tampering gets here.
		s.log.Warn("edit of a missing target", "ct", ct, "event", ev.ID, "target", target)
		return nil
	}
	rec := editDoc{Event: ev.ID, TS: int64(ev.TS), T: ev.T, Set: storedSet(ed.Set), Unset: ed.Unset}
	if s.conn.MustEscape(setValues(rec.Set)) {
		rec.Set, rec.ArraysEscaped = escapeSet(rec.Set), true
	}
	n := int64(0)
	if doc.Fold != nil {
		n = doc.Fold.N
	}
	// Claim the first free record slot after what d reflects; the records
	// found in the way are other edits of the target, not folded yet.
	var fresh []editDoc
	for k := n + 1; ; k++ {
		rec.ID = editID(target, k)
		err := s.conn.Write(ctx, func() error {
			_, err := s.edits(ct).InsertOne(ctx, rec)
			return err
		})
		if err == nil {
			fresh = append(fresh, rec)
			break
		}
		if !mongo.IsDuplicateKeyError(err) {
			return err
		}
		var other editDoc
		if _, err := findByID(ctx, s.edits(ct), rec.ID, &other); err != nil {
			return err
		}
		fresh = append(fresh, other)
		if other.Event == ev.ID {
			break // recorded by an earlier attempt
		}
	}
	return s.refold(ctx, ct, seq, &doc, fresh)
}

// refold brings a target's d in line with all its edit records: doc is the
// target as last read, fresh the records after the doc's fold (nil: read
// them). After writing it looks for a record beyond those it folded: whoever
// writes last has then seen every record written before its write, so no
// edit is lost to a concurrent writer's older d.
func (s *Store) refold(ctx context.Context, ct string, seq int64, doc *eventDoc, fresh []editDoc) error {
	target := doc.ID
	for range maxFoldRounds {
		var n int64
		if doc.Fold != nil {
			n = doc.Fold.N
		}
		if fresh == nil {
			var err error
			if fresh, err = s.editRecords(ctx, ct, target, n+1, 0); err != nil {
				return err
			}
		}
		if len(fresh) == 0 {
			return s.checkLeafFlag(ctx, ct, seq, doc)
		}
		records := fresh
		incremental := doc.Fold != nil && doc.DeletedAt == nil
		for _, r := range fresh {
			if doc.Fold != nil && !after(r, doc.Fold.TS, doc.Fold.ID) {
				incremental = false // an older edit arrived late: fold again from o
			}
		}
		if !incremental && n > 0 {
			older, err := s.editRecords(ctx, ct, target, 1, n)
			if err != nil {
				return err
			}
			records = append(older, fresh...)
		}
		folded := n + int64(len(fresh))
		update, err := s.foldUpdate(doc, records, incremental, folded)
		if err != nil {
			return err
		}
		if err := s.step("fold"); err != nil {
			return err
		}
		err = s.conn.Write(ctx, func() error {
			_, err := s.events(ct).UpdateOne(ctx, s.byID(doc.Cid, target), update)
			return err
		})
		if err != nil {
			return err
		}
		var next editDoc
		found, err := findByID(ctx, s.edits(ct), editID(target, folded+1), &next)
		if err != nil {
			return err
		}
		if !found {
			return s.checkLeafFlag(ctx, ct, seq, doc)
		}
		if _, err := s.findIn(ctx, ct, doc.Cid, target, doc); err != nil {
			return err
		}
		fresh = nil
	}
	return fmt.Errorf("edits of %s did not settle after %d rounds", target, maxFoldRounds)
}

// editRecords reads records from..to of a target (to 0: until the first
// missing one).
func (s *Store) editRecords(ctx context.Context, ct, target string, from, to int64) ([]editDoc, error) {
	var out []editDoc
	for k := from; to == 0 || k <= to; k++ {
		var r editDoc
		found, err := findByID(ctx, s.edits(ct), editID(target, k), &r)
		if err != nil {
			return nil, err
		}
		if !found {
			if to != 0 {
				return nil, fmt.Errorf("edit record %s is missing", editID(target, k))
			}
			break
		}
		out = append(out, r)
	}
	return out, nil
}

func after(r editDoc, ts int64, id string) bool {
	return r.TS > ts || (r.TS == ts && r.Event > id)
}

// foldUpdate computes the update that makes doc reflect records: deleted if
// any is a delete (deletedAt the earliest delete's ts), else d = the
// updates applied in (ts, _id) order — on top of the current d when
// incremental, else on top of o. n is the number of records it reflects.
func (s *Store) foldUpdate(doc *eventDoc, records []editDoc, incremental bool, n int64) (bson.D, error) {
	events := make([]edits.Event, len(records))
	for i, r := range records {
		events[i] = r.event()
	}
	events = edits.Sort(events)
	last := events[len(events)-1]
	fold := foldState{N: n, TS: last.TS, ID: last.ID}
	if incremental && doc.Fold != nil && edits.Compare(edits.Event{TS: doc.Fold.TS, ID: doc.Fold.ID}, last) > 0 {
		fold.TS, fold.ID = doc.Fold.TS, doc.Fold.ID
	}
	deletedAt := doc.DeletedAt
	if at, ok := edits.DeletedAt(events); ok && (deletedAt == nil || int64(*deletedAt) > at) {
		t := bson.DateTime(at)
		deletedAt = &t
	}
	if deletedAt != nil {
		return bson.D{
			{Key: "$set", Value: bson.D{{Key: "deletedAt", Value: *deletedAt}, {Key: "dFold", Value: fold}}},
			{Key: "$unset", Value: bson.D{{Key: "o", Value: ""}, {Key: "d", Value: ""}}},
		}, nil
	}
	current, err := doc.event()
	if err != nil {
		return nil, err
	}
	base := current.O
	if incremental {
		base = current.D
	}
	obj, err := edits.DecodeData(base)
	if err != nil {
		return nil, err
	}
	d := storedObject(edits.ApplyUpdates(obj, events))
	fields := bson.D{{Key: "d", Value: d}, {Key: "dFold", Value: fold}}
	if doc.ArraysEscaped || s.conn.MustEscape(d) {
		fields = bson.D{{Key: "d", Value: database.EscapeData(d)}, {Key: "dFold", Value: fold}, {Key: "arraysEscaped", Value: true}}
	}
	return bson.D{{Key: "$set", Value: fields}}, nil
}

// event is the record as the fold reads it, its set values unescaped.
func (r editDoc) event() edits.Event {
	set := r.Set
	if r.ArraysEscaped {
		set = unescapeSet(set)
	}
	ops := make([]edits.SetOp, len(set))
	for i, op := range set {
		ops[i] = edits.SetOp{Path: op.Path, Value: bsondata.Data(op.Value)}
	}
	return edits.Event{ID: r.Event, TS: r.TS, T: r.T, Edit: edits.Edit{Set: ops, Unset: r.Unset}}
}

// storedSet is an edit's set as its record keeps it.
func storedSet(set []edits.SetOp) []setOp {
	out := make([]setOp, len(set))
	for i, op := range set {
		out[i] = setOp{Path: op.Path, Value: bsondata.Value(op.Value)}
	}
	return out
}

func setValues(set []setOp) bson.A {
	vals := bson.A{}
	for _, op := range set {
		vals = append(vals, op.Value)
	}
	return vals
}

// escapeSet and unescapeSet apply the nested-array escape to set values,
// each as if it were an array element (so an array value inside is kept
// apart from one that was escaped).
func escapeSet(set []setOp) []setOp {
	out := make([]setOp, len(set))
	for i, op := range set {
		out[i] = setOp{Path: op.Path, Value: database.EscapeElement(op.Value)}
	}
	return out
}

func unescapeSet(set []setOp) []setOp {
	out := make([]setOp, len(set))
	for i, op := range set {
		out[i] = setOp{Path: op.Path, Value: database.UnescapeElement(op.Value)}
	}
	return out
}

// checkLeafFlag makes the target's isLeaf flag agree with the head again:
// writing d rewrites the whole document on FerretDB, so a flag another
// writer set or cleared meanwhile may have been undone.
func (s *Store) checkLeafFlag(ctx context.Context, ct string, seq int64, doc *eventDoc) error {
	h, err := s.latestHead(ctx, ct, doc.Cid, seq, nil)
	if err != nil || h == nil {
		return err
	}
	want := slices.Contains(h.Flagged, doc.ID)
	var stored eventDoc
	if _, err := s.findIn(ctx, ct, doc.Cid, doc.ID, &stored); err != nil {
		return err
	}
	switch {
	case want && !stored.IsLeaf:
		return s.setLeafFlags(ctx, ct, doc.Cid, []string{doc.ID}, nil)
	case !want && stored.IsLeaf:
		return s.setLeafFlags(ctx, ct, doc.Cid, nil, []string{doc.ID})
	}
	return nil
}
