package store

import (
	"context"
	"maps"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"

	"github.com/eventstore-go/eventstore/internal/database"
)

// RepairReport says what Repair changed. It only ever touches derived data:
// the head and isLeaf flags, never a hashed field.
type RepairReport struct {
	Ct           string   `json:"ct"`
	Cid          string   `json:"cid"`
	HeadFixed    bool     `json:"headFixed"`    // the head's leaves, count or genesis were wrong
	LeavesBefore []string `json:"leavesBefore"` // the head's leaves before
	LeavesAfter  []string `json:"leavesAfter"`
	CountBefore  int64    `json:"countBefore"`
	CountAfter   int64    `json:"countAfter"`
	FlagsSet     []string `json:"flagsSet"`            // events that were leaves without isLeaf
	FlagsCleared []string `json:"flagsCleared"`        // events with children that had isLeaf
	DataFixed    []string `json:"dataFixed,omitempty"` // events whose d was rebuilt from their updates
}

// Changed reports whether Repair changed anything.
func (r *RepairReport) Changed() bool {
	return r.HeadFixed || len(r.FlagsSet) > 0 || len(r.FlagsCleared) > 0 || len(r.DataFixed) > 0
}

// Derived is a context's derived data as its events say it should be,
// computed by a repair's scan (package audit): what Rederive writes.
type Derived struct {
	Leaves       []Leaf // the events no event names as a parent
	Count        int64
	Genesis      string
	Participants []Participant   // the creator (no Join), then each server by its first server.join
	Flags        map[string]bool // every event → whether its document carries isLeaf now
	// Data: events whose d is wrong → every edit event that names them
	// (from the chain). Rederive writes d as their fold over o.
	Data map[string][]edits.Event
}

// Leaf is a leaf event with its ts.
type Leaf struct {
	ID string
	TS int64
}

// Participant is a server taking part in a context, and the server.join
// event that made it one ("" for the creator).
type Participant struct {
	Server, Join string
}

// Rederive rebuilds a context's derived data from what derive computes
// from its events: it writes a new head version if the head disagrees,
// with the leaves, count and genesis derived (and the participants, when
// no head is left to carry them on), and sets or clears isLeaf flags to
// match. Only derived data is written, never a hashed field; the version
// goes through the head log like any write, so a crash midway is healed
// like any write. derive runs before the latest version is completed (the
// flags as found are what the report names), and again after a lost claim.
func (s *Store) Rederive(ctx context.Context, ct, cid string, derive func(context.Context) (*Derived, error)) (rep *RepairReport, err error) {
	defer s.observe("repair", time.Now(), &err)
	if err := eventstore.ValidateContext(ct, cid); err != nil {
		return nil, err
	}
	w := s.writerFor(ct, cid)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.head = nil // read the latest version, whatever this store last wrote
	found, err := derive(ctx)
	if err != nil {
		return nil, err
	}
	var data map[string][]edits.Event // d does not depend on the head: derived once
	if found != nil {
		data = found.Data
	}
	_, err = s.advance(ctx, w, func(h *head) (*head, []eventDoc, error) {
		rep = &RepairReport{Ct: ct, Cid: cid}
		if found == nil {
			var err error
			if found, err = derive(ctx); err != nil {
				return nil, nil, err
			}
		}
		d := found
		found = nil
		if h == nil && d.Count == 0 {
			return nil, nil, eventstore.Errorf(eventstore.ENOTFOUND, "context %s/%s does not exist", ct, cid)
		}
		next := s.successor(cid, h)
		next.Leaves = make([]leaf, len(d.Leaves))
		for i, l := range d.Leaves {
			next.Leaves[i] = leaf(l)
		}
		sortLeaves(next.Leaves)
		next.Count, next.Genesis, next.Flagged = d.Count, d.Genesis, leafIDs(next.Leaves)
		if h == nil { // no head carries them on: the events say who takes part
			next.Participation = participants{}
			for _, p := range d.Participants {
				next.Participation.add(p.Server, p.Join)
			}
		} else {
			rep.LeavesBefore, rep.CountBefore = leafIDs(h.Leaves), h.Count
		}
		rep.LeavesAfter, rep.CountAfter = next.Flagged, next.Count
		next.Flag, next.Unflag = wrongFlags(next.Flagged, d.Flags)
		rep.FlagsSet, rep.FlagsCleared = next.Flag, next.Unflag
		rep.HeadFixed = h == nil || !slices.Equal(rep.LeavesBefore, rep.LeavesAfter) || h.Count != next.Count || h.Genesis != next.Genesis
		if !rep.HeadFixed && len(next.Flag) == 0 && len(next.Unflag) == 0 && slices.Equal(h.Flagged, next.Flagged) {
			return nil, nil, nil
		}
		return next, nil, nil
	})
	if err != nil {
		return nil, err
	}
	if rep == nil { // the head needed nothing
		rep = &RepairReport{Ct: ct, Cid: cid}
	}
	for _, id := range slices.Sorted(maps.Keys(data)) {
		fixed, err := s.rewriteData(ctx, ct, w, id, data[id])
		if err != nil {
			return nil, err
		}
		if fixed {
			rep.DataFixed = append(rep.DataFixed, id)
		}
	}
	if rep.Changed() {
		s.log.Warn("repaired context", "ct", ct, "cid", cid, "headFixed", rep.HeadFixed,
			"flagsSet", len(rep.FlagsSet), "flagsCleared", len(rep.FlagsCleared), "dataFixed", len(rep.DataFixed))
	}
	return rep, nil
}

// wrongFlags lists the events whose isLeaf flag disagrees with the leaves
// (sorted): leaves without it, and events with children that have it.
func wrongFlags(leaves []string, flags map[string]bool) (flag, unflag []string) {
	for id, flagged := range flags {
		_, isLeaf := slices.BinarySearch(leaves, id)
		switch {
		case isLeaf && !flagged:
			flag = append(flag, id)
		case !isLeaf && flagged:
			unflag = append(unflag, id)
		}
	}
	slices.Sort(flag)
	slices.Sort(unflag)
	return flag, unflag
}

// rewriteData sets an event's d to the fold of events over its o, with the
// fold state of its edit records, and reports whether it wrote. A deleted
// event is left alone: deletion is not derived data. As refold does, it
// looks for an edit recorded meanwhile after writing, and folds it in.
func (s *Store) rewriteData(ctx context.Context, ct string, w *writer, id string, events []edits.Event) (bool, error) {
	records, err := s.editRecords(ctx, ct, id, 1, 0)
	if err != nil {
		return false, err
	}
	var doc eventDoc
	found, err := s.findIn(ctx, ct, w.cid, id, &doc)
	if err != nil || !found || doc.DeletedAt != nil || doc.O == nil {
		return false, err
	}
	e, err := doc.event()
	if err != nil {
		return false, err
	}
	folded, err := edits.Fold(e.O, events)
	if err != nil || folded.Deleted {
		return false, err
	}
	obj, err := edits.DecodeData(folded.D)
	if err != nil {
		return false, err
	}
	d := storedObject(obj)
	fields := bson.D{{Key: "d", Value: d}}
	if escape := doc.ArraysEscaped || s.conn.MustEscape(d); escape {
		fields = bson.D{{Key: "d", Value: database.EscapeData(d)}, {Key: "arraysEscaped", Value: true}}
	}
	n := int64(len(records))
	if len(events) > 0 {
		last := slices.MaxFunc(events, edits.Compare)
		fields = append(fields, bson.E{Key: "dFold", Value: foldState{N: n, TS: last.TS, ID: last.ID}})
	}
	err = s.conn.Write(ctx, func() error {
		_, err := s.events(ct).UpdateOne(ctx, s.byID(w.cid, id), bson.D{{Key: "$set", Value: fields}})
		return err
	})
	if err != nil {
		return false, dbError("repair", err)
	}
	var seq int64
	if w.head != nil {
		seq = w.head.Seq
	}
	var next editDoc
	if later, err := findByID(ctx, s.edits(ct), editID(id, n+1), &next); err != nil {
		return true, err
	} else if later {
		if _, err := s.findIn(ctx, ct, w.cid, id, &doc); err != nil {
			return true, err
		}
		return true, s.refold(ctx, ct, seq, &doc, nil)
	}
	return true, s.checkLeafFlag(ctx, ct, seq, &doc)
}
