package store

import (
	"context"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/eventstore-go/eventstore"
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
	FlagsSet     []string `json:"flagsSet"`     // events that were leaves without isLeaf
	FlagsCleared []string `json:"flagsCleared"` // events with children that had isLeaf
}

// Changed reports whether Repair changed anything.
func (r *RepairReport) Changed() bool {
	return r.HeadFixed || len(r.FlagsSet) > 0 || len(r.FlagsCleared) > 0
}

// Repair rebuilds a context's derived data from its events: it completes
// the latest write, then recomputes the leaves (events no event names as a
// parent), the count and the genesis, writes a new head version if the
// head disagrees, and sets or clears isLeaf flags to match.
func (s *Store) Repair(ctx context.Context, ct, cid string) (rep *RepairReport, err error) {
	defer s.observe("repair", time.Now(), &err)
	if err := validateContext(ct, cid); err != nil {
		return nil, err
	}
	w := s.writerFor(ct, cid)
	w.mu.Lock()
	defer w.mu.Unlock()
	defer func() { w.head = nil }() // the next write reloads
	for range maxClaimAttempts {
		rep = &RepairReport{Ct: ct, Cid: cid}
		h, err := s.latestHead(ctx, ct, cid, w.knownSeq(), nil)
		if err != nil {
			return nil, dbError("repair", err)
		}
		// Scan first: what the flags are before anything is written is what
		// the new version corrects (completing h may set some of them
		// already, to the same effect).
		scan, err := s.scanContext(ctx, ct, cid)
		if err != nil {
			return nil, dbError("repair", err)
		}
		if h != nil {
			if err := s.complete(ctx, ct, h, nil); err != nil {
				return nil, dbError("repair", err)
			}
		}
		if h == nil && len(scan.events) == 0 {
			return nil, eventstore.Errorf(eventstore.ENOTFOUND, "context %s/%s does not exist", ct, cid)
		}
		next := &head{Cid: cid, Seq: 1, Leaves: scan.leaves, Count: int64(len(scan.events)), Genesis: scan.genesis,
			Flagged: leafIDs(scan.leaves), At: bson.DateTime(s.opts.Now().UnixMilli())}
		if h != nil {
			next.Seq, next.Participation = h.Seq+1, h.Participation
			rep.LeavesBefore, rep.CountBefore = leafIDs(h.Leaves), h.Count
		}
		rep.LeavesAfter, rep.CountAfter = next.Flagged, next.Count
		next.Flag, next.Unflag = wrongFlags(scan)
		rep.FlagsSet, rep.FlagsCleared = next.Flag, next.Unflag
		headWrong := h == nil || !slices.Equal(rep.LeavesBefore, rep.LeavesAfter) || h.Count != next.Count || h.Genesis != next.Genesis
		if headWrong || len(next.Flag) > 0 || len(next.Unflag) > 0 || !slices.Equal(h.Flagged, next.Flagged) {
			// A new version records the leaves and flags; its completion
			// writes the flags, so a crash midway is healed like any write.
			won, err := s.claim(ctx, ct, next, nil)
			if err != nil {
				return nil, dbError("repair", err)
			}
			if !won {
				continue // a writer moved the head meanwhile: look again
			}
			w.sawSeq(next.Seq)
			rep.HeadFixed = headWrong
			if err := s.complete(ctx, ct, next, nil); err != nil {
				return nil, dbError("repair", err)
			}
		}
		if rep.Changed() {
			s.log.Warn("repaired context", "ct", ct, "cid", cid, "headFixed", rep.HeadFixed,
				"flagsSet", len(rep.FlagsSet), "flagsCleared", len(rep.FlagsCleared))
		}
		return rep, nil
	}
	return nil, eventstore.Errorf(eventstore.EUNAVAILABLE, "too many concurrent writers on %s/%s; retry", ct, cid)
}

// contextScan is the graph of a context as read from its events.
type contextScan struct {
	events  map[string]bool // id → has isLeaf
	leaves  []leaf
	genesis string
}

func (s *Store) scanContext(ctx context.Context, ct, cid string) (*contextScan, error) {
	opts := options.Find().SetProjection(bson.D{{Key: "pids", Value: 1}, {Key: "ts", Value: 1}, {Key: "isLeaf", Value: 1}})
	cur, err := s.events(ct).Find(ctx, EventsOf(cid), opts)
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	scan := &contextScan{events: map[string]bool{}}
	hasChild := map[string]bool{}
	ts := map[string]int64{}
	var genesisTS int64
	for cur.Next(ctx) {
		var d struct {
			ID     string        `bson:"_id"`
			Pids   []string      `bson:"pids"`
			TS     bson.DateTime `bson:"ts"`
			IsLeaf bool          `bson:"isLeaf"`
		}
		if err := cur.Decode(&d); err != nil {
			return nil, err
		}
		scan.events[d.ID] = d.IsLeaf
		ts[d.ID] = int64(d.TS)
		for _, p := range d.Pids {
			hasChild[p] = true
		}
		if len(d.Pids) == 0 && (scan.genesis == "" || int64(d.TS) < genesisTS || (int64(d.TS) == genesisTS && d.ID < scan.genesis)) {
			scan.genesis, genesisTS = d.ID, int64(d.TS)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, err
	}
	for id := range scan.events {
		if !hasChild[id] {
			scan.leaves = append(scan.leaves, leaf{ID: id, TS: ts[id]})
		}
	}
	sortLeaves(scan.leaves)
	return scan, nil
}

// wrongFlags lists the events whose isLeaf flag disagrees with the scan:
// leaves without it, and events with children that have it.
func wrongFlags(scan *contextScan) (flag, unflag []string) {
	isLeaf := map[string]bool{}
	for _, l := range scan.leaves {
		isLeaf[l.ID] = true
	}
	for id, flagged := range scan.events {
		switch {
		case isLeaf[id] && !flagged:
			flag = append(flag, id)
		case !isLeaf[id] && flagged:
			unflag = append(unflag, id)
		}
	}
	slices.Sort(flag)
	slices.Sort(unflag)
	return flag, unflag
}
