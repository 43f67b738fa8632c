package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/eventstore-go/eventstore"

	"github.com/eventstore-go/eventstore/internal/database"
)

// maxFoldRounds bounds how often one writer re-reads a target that other
// writers keep editing.
const maxFoldRounds = 32

// applyEditEvent records an update or delete event against its target and
// brings the target's d (or deletion) up to date. seq is the head version
// the event belongs to.
func (s *Store) applyEditEvent(ctx context.Context, ct string, seq int64, ev *eventDoc) error {
	o := ev.O
	if ev.ArraysEscaped {
		var err error
		if o, err = database.UnescapeRaw(o); err != nil {
			return err
		}
	}
	target, ed, err := parseEditData(ev.T, o)
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
	rec := editDoc{Event: ev.ID, TS: int64(ev.TS), T: ev.T, Set: ed.Set, Unset: ed.Unset}
	if s.conn.MustEscape(setValues(ed.Set)) {
		rec.Set, rec.ArraysEscaped = escapeSet(ed.Set), true
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
	records = foldOrder(records)
	last := records[len(records)-1]
	fold := foldState{N: n, TS: last.TS, ID: last.Event}
	if incremental && doc.Fold != nil && after(editDoc{TS: doc.Fold.TS, Event: doc.Fold.ID}, last.TS, last.Event) {
		fold.TS, fold.ID = doc.Fold.TS, doc.Fold.ID
	}
	deletedAt := earliestDelete(records, doc.DeletedAt)
	if deletedAt != nil {
		return bson.D{
			{Key: "$set", Value: bson.D{{Key: "deletedAt", Value: *deletedAt}, {Key: "dFold", Value: fold}}},
			{Key: "$unset", Value: bson.D{{Key: "o", Value: ""}, {Key: "d", Value: ""}}},
		}, nil
	}
	base := doc.O
	if incremental && doc.D != nil {
		base = doc.D
	}
	d, err := decodeData(base)
	if err != nil {
		return nil, err
	}
	if doc.ArraysEscaped {
		d = database.UnescapeData(d).(bson.D)
	}
	d = applyUpdates(d, records)
	fields := bson.D{{Key: "d", Value: d}, {Key: "dFold", Value: fold}}
	if doc.ArraysEscaped || s.conn.MustEscape(d) {
		fields = bson.D{{Key: "d", Value: database.EscapeData(d)}, {Key: "dFold", Value: fold}, {Key: "arraysEscaped", Value: true}}
	}
	return bson.D{{Key: "$set", Value: fields}}, nil
}

// foldOrder sorts edit records in the order the fold applies them, (ts,
// event id), without repeats.
func foldOrder(records []editDoc) []editDoc {
	slices.SortFunc(records, cmpEdits)
	return slices.CompactFunc(records, func(a, b editDoc) bool { return a.Event == b.Event })
}

// cmpEdits orders edit records by (ts, event id).
func cmpEdits(a, b editDoc) int {
	return cmp.Or(cmp.Compare(a.TS, b.TS), cmp.Compare(a.Event, b.Event))
}

// earliestDelete is when the first delete among records happened, or
// deletedAt if that is earlier; nil if neither exists.
func earliestDelete(records []editDoc, deletedAt *bson.DateTime) *bson.DateTime {
	for _, r := range records {
		if r.T == eventstore.TypeDelete && (deletedAt == nil || int64(*deletedAt) > r.TS) {
			at := bson.DateTime(r.TS)
			deletedAt = &at
		}
	}
	return deletedAt
}

// applyUpdates applies the updates among records (in fold order) to d,
// skipping any that does not apply.
func applyUpdates(d bson.D, records []editDoc) bson.D {
	for _, r := range records {
		if r.T != eventstore.TypeUpdate {
			continue
		}
		set := r.Set
		if r.ArraysEscaped {
			set = unescapeSet(set)
		}
		if next, err := applyEdit(d, Edit{Set: set, Unset: r.Unset}); err == nil {
			d = next
		}
	}
	return d
}

// EditEvent is an event.update or event.delete as the fold reads it.
type EditEvent struct {
	ID   string
	TS   int64
	T    string
	Edit Edit // of an update
}

// ParseEdit reads the target and the edit of an event.update or
// event.delete event from its o, checking its shape.
func ParseEdit(t string, o bson.Raw) (target string, ed Edit, err error) {
	return parseEditData(t, o)
}

// Folded is what an event's data is once its edit events are applied.
type Folded struct {
	D         bson.Raw // the current data; nil when deleted
	Deleted   bool
	DeletedAt int64 // the earliest delete's ts
}

// Fold is what the store makes of data o given all the edit events that
// name it, in any order: deleted at the earliest delete's ts if any is a
// delete, else o with the updates applied in (ts, id) order, each skipped
// if it does not apply. It is the store's own fold, for the audit to check
// stored d against.
func Fold(o bson.Raw, edits []EditEvent) (Folded, error) {
	records := make([]editDoc, len(edits))
	for i, e := range edits {
		records[i] = editDoc{Event: e.ID, TS: e.TS, T: e.T, Set: e.Edit.Set, Unset: e.Edit.Unset}
	}
	records = foldOrder(records)
	if at := earliestDelete(records, nil); at != nil {
		return Folded{Deleted: true, DeletedAt: int64(*at)}, nil
	}
	d, err := decodeData(o)
	if err != nil {
		return Folded{}, err
	}
	raw, err := bson.Marshal(applyUpdates(d, records))
	if err != nil {
		return Folded{}, err
	}
	return Folded{D: raw}, nil
}

func setValues(set []SetOp) bson.A {
	vals := bson.A{}
	for _, op := range set {
		vals = append(vals, op.Value)
	}
	return vals
}

// escapeSet and unescapeSet apply the nested-array escape to set values,
// each as if it were an array element (so an array value inside is kept
// apart from one that was escaped).
func escapeSet(set []SetOp) []SetOp {
	out := make([]SetOp, len(set))
	for i, op := range set {
		out[i] = SetOp{Path: op.Path, Value: database.EscapeElement(op.Value)}
	}
	return out
}

func unescapeSet(set []SetOp) []SetOp {
	out := make([]SetOp, len(set))
	for i, op := range set {
		out[i] = SetOp{Path: op.Path, Value: database.UnescapeElement(op.Value)}
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
