package store

import (
	"context"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/eventstore-go/eventstore"
)

// RepairReport says what Repair changed. It only ever touches derived data:
// the head and isLeaf flags, never a hashed field.
type RepairReport struct {
	Ct, Cid      string
	RolledOut    int      // events of an interrupted write that were written now
	HeadFixed    bool     // a new head version was written
	LeavesBefore []string // the head's leaves before, when fixed
	LeavesAfter  []string
	CountBefore  int64
	CountAfter   int64
	FlagsSet     []string // events that were leaves without isLeaf
	FlagsCleared []string // events with children that had isLeaf
}

// Changed reports whether Repair changed anything.
func (r *RepairReport) Changed() bool {
	return r.RolledOut > 0 || r.HeadFixed || len(r.FlagsSet) > 0 || len(r.FlagsCleared) > 0
}

// Repair rebuilds a context's derived data from its events: it completes an
// interrupted write, then recomputes the leaves (events no event names as a
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
		h, err := s.latestHead(ctx, ct, cid, w.knownSeq())
		if err != nil {
			return nil, dbError("repair", err)
		}
		if h != nil {
			if missing, err := s.countMissing(ctx, ct, h.Events); err != nil {
				return nil, dbError("repair", err)
			} else if err := s.complete(ctx, ct, h); err != nil {
				return nil, dbError("repair", err)
			} else {
				rep.RolledOut = missing
			}
		}
		scan, err := s.scanContext(ctx, ct, cid)
		if err != nil {
			return nil, dbError("repair", err)
		}
		if h == nil && len(scan.events) == 0 {
			return nil, eventstore.Errorf(eventstore.ENOTFOUND, "context %s/%s does not exist", ct, cid)
		}
		next := &headDoc{Cid: cid, Seq: 1, Leaves: scan.leaves, Count: int64(len(scan.events)), Genesis: scan.genesis,
			At: bson.DateTime(s.opts.Now().UnixMilli())}
		if h != nil {
			next.Seq, next.Servers = h.Seq+1, h.Servers
			rep.LeavesBefore, rep.CountBefore = leafIDs(h.Leaves), h.Count
		}
		rep.LeavesAfter, rep.CountAfter = leafIDs(scan.leaves), next.Count
		if h == nil || !slices.Equal(rep.LeavesBefore, rep.LeavesAfter) || h.Count != next.Count || h.Genesis != next.Genesis {
			next.ID = headID(cid, next.Seq)
			won, err := s.claim(ctx, ct, next)
			if err != nil {
				return nil, dbError("repair", err)
			}
			if !won {
				continue // a writer moved the head meanwhile: look again
			}
			w.sawSeq(next.Seq)
			rep.HeadFixed = true
		}
		if err := s.fixFlags(ctx, ct, scan, rep); err != nil {
			return nil, dbError("repair", err)
		}
		if rep.Changed() {
			s.log.Warn("repaired context", "ct", ct, "cid", cid, "rolledOut", rep.RolledOut, "headFixed", rep.HeadFixed,
				"flagsSet", len(rep.FlagsSet), "flagsCleared", len(rep.FlagsCleared))
		}
		return rep, nil
	}
	return nil, eventstore.Errorf(eventstore.EUNAVAILABLE, "too many concurrent writers on %s/%s; retry", ct, cid)
}

// countMissing counts the events of a write-ahead copy not yet stored.
func (s *Store) countMissing(ctx context.Context, ct string, events []eventDoc) (int, error) {
	n := 0
	for _, e := range events {
		var d struct{}
		found, err := findByID(ctx, s.events(ct), e.ID, &d)
		if err != nil {
			return 0, err
		}
		if !found {
			n++
		}
	}
	return n, nil
}

// contextScan is the graph of a context as read from its events.
type contextScan struct {
	events  map[string]bool // id → has isLeaf
	leaves  []leaf
	genesis string
}

func (s *Store) scanContext(ctx context.Context, ct, cid string) (*contextScan, error) {
	opts := options.Find().SetProjection(bson.D{{Key: "pids", Value: 1}, {Key: "ts", Value: 1}, {Key: "isLeaf", Value: 1}})
	cur, err := s.events(ct).Find(ctx, bson.D{{Key: "cid", Value: cid}}, opts)
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

// fixFlags makes isLeaf true exactly on the scanned leaves.
func (s *Store) fixFlags(ctx context.Context, ct string, scan *contextScan, rep *RepairReport) error {
	isLeaf := map[string]bool{}
	for _, l := range scan.leaves {
		isLeaf[l.ID] = true
	}
	var models []mongo.WriteModel
	for id, flagged := range scan.events {
		switch {
		case isLeaf[id] && !flagged:
			rep.FlagsSet = append(rep.FlagsSet, id)
			models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).
				SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "isLeaf", Value: true}}}}))
		case !isLeaf[id] && flagged:
			rep.FlagsCleared = append(rep.FlagsCleared, id)
			models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).
				SetUpdate(bson.D{{Key: "$unset", Value: bson.D{{Key: "isLeaf", Value: ""}}}}))
		}
	}
	slices.Sort(rep.FlagsSet)
	slices.Sort(rep.FlagsCleared)
	if len(models) == 0 {
		return nil
	}
	return s.conn.BulkUpdate(ctx, s.events(ct), models)
}
