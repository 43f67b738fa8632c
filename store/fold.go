package store

import (
	"context"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/eventstore-go/eventstore"
)

// maxFoldRounds bounds how often one writer re-reads a target that other
// writers keep editing.
const maxFoldRounds = 32

// applyEditEvent records an update or delete event against its target and
// brings the target's d (or deletion) up to date. seq is the head version
// the event belongs to.
func (s *Store) applyEditEvent(ctx context.Context, ct string, seq int64, ev *eventDoc) error {
	target, ed, err := parseEditData(ev.T, ev.O)
	if err != nil {
		return err
	}
	var doc eventDoc
	found, err := findByID(ctx, s.events(ct), target, &doc)
	if err != nil {
		return err
	}
	if !found {
		// Appends and ingest both require the target; only tampering gets here.
		s.log.Warn("edit of a missing target", "ct", ct, "event", ev.ID, "target", target)
		return nil
	}
	rec := editDoc{Event: ev.ID, TS: int64(ev.TS), T: ev.T, Set: ed.Set, Unset: ed.Unset}
	k := int64(1)
	if doc.Fold != nil {
		k = doc.Fold.N + 1
	}
	for ; ; k++ { // claim the first free record slot of the target
		rec.ID = editID(target, k)
		_, err := s.edits(ct).InsertOne(ctx, rec)
		if err == nil {
			break
		}
		if !mongo.IsDuplicateKeyError(err) {
			return err
		}
		var other editDoc
		if _, err := findByID(ctx, s.edits(ct), rec.ID, &other); err != nil {
			return err
		}
		if other.Event == ev.ID {
			break // recorded by an earlier attempt
		}
	}
	return s.refold(ctx, ct, seq, target)
}

// refold brings the target's d in line with all its edit records. It
// writes, then looks again for records it has not folded: whoever writes
// last has then seen every record written before its write, so no edit is
// lost to another writer's older d.
func (s *Store) refold(ctx context.Context, ct string, seq int64, target string) error {
	for range maxFoldRounds {
		var doc eventDoc
		if _, err := findByID(ctx, s.events(ct), target, &doc); err != nil {
			return err
		}
		var n int64
		if doc.Fold != nil {
			n = doc.Fold.N
		}
		fresh, err := s.editRecords(ctx, ct, target, n+1, 0)
		if err != nil {
			return err
		}
		if len(fresh) == 0 {
			return s.checkLeafFlag(ctx, ct, seq, &doc)
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
		update, err := foldUpdate(&doc, records, incremental, n+int64(len(fresh)))
		if err != nil {
			return err
		}
		if _, err := s.events(ct).UpdateOne(ctx, bson.D{{Key: "_id", Value: target}}, update); err != nil {
			return err
		}
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
func foldUpdate(doc *eventDoc, records []editDoc, incremental bool, n int64) (bson.D, error) {
	slices.SortFunc(records, func(a, b editDoc) int {
		if a.TS != b.TS {
			return compareInt(a.TS, b.TS)
		}
		return compareString(a.Event, b.Event)
	})
	records = slices.CompactFunc(records, func(a, b editDoc) bool { return a.Event == b.Event })
	last := records[len(records)-1]
	fold := foldState{N: n, TS: last.TS, ID: last.Event}
	if incremental && doc.Fold != nil && after(editDoc{TS: doc.Fold.TS, Event: doc.Fold.ID}, last.TS, last.Event) {
		fold.TS, fold.ID = doc.Fold.TS, doc.Fold.ID
	}
	var deletedAt *bson.DateTime = doc.DeletedAt
	for _, r := range records {
		if r.T == eventstore.TypeDelete && (deletedAt == nil || int64(*deletedAt) > r.TS) {
			at := bson.DateTime(r.TS)
			deletedAt = &at
		}
	}
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
	for _, r := range records {
		if r.T != eventstore.TypeUpdate {
			continue
		}
		if next, err := applyEdit(d, Edit{Set: r.Set, Unset: r.Unset}); err == nil {
			d = next
		}
	}
	return bson.D{{Key: "$set", Value: bson.D{{Key: "d", Value: d}, {Key: "dFold", Value: fold}}}}, nil
}

// checkLeafFlag removes an isLeaf flag that a write of d may have carried
// back onto an event that another writer had meanwhile given a child.
func (s *Store) checkLeafFlag(ctx context.Context, ct string, seq int64, doc *eventDoc) error {
	if !doc.IsLeaf {
		return nil
	}
	h, err := s.latestHead(ctx, ct, doc.Cid, seq)
	if err != nil || h == nil {
		return err
	}
	if slices.ContainsFunc(h.Leaves, func(l leaf) bool { return l.ID == doc.ID }) {
		return nil
	}
	return s.clearLeafFlags(ctx, ct, []string{doc.ID})
}
