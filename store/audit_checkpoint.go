package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/migrations"
)

// checkpointDoc is how far the audit verified a context: its head version,
// event count and leaves then. Incremental runs check what came after, and
// that these leaves are still in the history.
type checkpointDoc struct {
	ID         string        `bson:"_id"` // contextKey(ct, cid)
	Ct         string        `bson:"ct"`
	Cid        string        `bson:"cid"`
	Seq        int64         `bson:"seq"`
	Count      int64         `bson:"count"`
	Leaves     []string      `bson:"leaves"`
	LeavesHash string        `bson:"leavesHash"` // SHA-256 of the sorted leaves, joined by ","
	At         bson.DateTime `bson:"at"`
}

func leavesHash(leaves []string) string {
	sum := sha256.Sum256([]byte(strings.Join(leaves, ",")))
	return hex.EncodeToString(sum[:])
}

func (s *Store) checkpoints() *mongo.Collection {
	return s.db.Collection(migrations.CheckpointsCollection)
}

func (s *Store) checkpoint(ctx context.Context, ct, cid string) (*checkpointDoc, error) {
	var cp checkpointDoc
	found, err := findByID(ctx, s.checkpoints(), contextKey(ct, cid), &cp)
	if err != nil || !found {
		return nil, err
	}
	return &cp, nil
}

func (s *Store) saveCheckpoint(ctx context.Context, ct, cid string, h *head) error {
	leaves := leafIDs(h.Leaves)
	cp := checkpointDoc{ID: contextKey(ct, cid), Ct: ct, Cid: cid, Seq: h.Seq, Count: h.Count, Leaves: leaves,
		LeavesHash: leavesHash(leaves), At: bson.DateTime(s.opts.Now().UnixMilli())}
	_, err := s.checkpoints().ReplaceOne(ctx, bson.D{{Key: "_id", Value: cp.ID}}, cp, options.Replace().SetUpsert(true))
	return err
}

// checkpointed lists the contexts of type ct in the registry and reports
// whether all of them have a checkpoint.
func (s *Store) checkpointed(ctx context.Context, ct string) ([]string, bool, error) {
	cur, err := s.contexts().Find(ctx, bson.D{{Key: "ct", Value: ct}})
	if err != nil {
		return nil, false, err
	}
	var ctxs []contextDoc
	if err := cur.All(ctx, &ctxs); err != nil {
		return nil, false, err
	}
	cids := make([]string, 0, len(ctxs))
	for _, c := range ctxs {
		cp, err := s.checkpoint(ctx, ct, c.Cid)
		if err != nil {
			return nil, false, err
		}
		if cp == nil {
			return nil, false, nil
		}
		cids = append(cids, c.Cid)
	}
	slices.Sort(cids)
	return cids, true, nil
}

// incremental audits what context ct/cid gained since its checkpoint: the
// events of the head versions after it, read by _id. Its history must
// extend the checkpoint's: every leaf then is still stored and is an
// ancestor of a leaf now (or one).
func (a *audit) incremental(ctx context.Context, ct, cid string) error {
	s := a.s
	cp, err := s.checkpoint(ctx, ct, cid)
	if err != nil {
		return dbError("verify", err)
	}
	gr := newGraph(ct, cid)
	var problems []Problem
	add := func(kind, event, format string, args ...any) {
		problems = append(problems, Problem{Kind: kind, Ct: ct, Cid: cid, Event: event, Detail: fmt.Sprintf(format, args...)})
	}
	h, err := s.latestHead(ctx, ct, cid, cp.Seq, nil)
	if err != nil {
		return dbError("verify", err)
	}
	if h == nil || h.Seq < cp.Seq {
		seq := int64(0)
		if h != nil {
			seq = h.Seq
		}
		add(ProblemHistoryRewritten, "", "the head went back from version %d (checkpoint) to %d", cp.Seq, seq)
		return a.finish(ctx, gr, problems, nil, 0, "incremental")
	}
	gr.head = h
	// The events added since the checkpoint, in the order of the versions.
	var added []string
	for v := cp.Seq + 1; v <= h.Seq; v++ {
		vh, err := s.readHead(ctx, ct, cid, v)
		if err != nil {
			return dbError("verify", err)
		}
		if vh == nil {
			add(ProblemHistoryRewritten, "", "head version %d is missing", v)
			continue
		}
		added = append(added, vh.Added...)
	}
	k := &known{docs: map[string]*eventDoc{}}
	lookup := func(id string) (*eventDoc, error) { return k.lookup(ctx, s, ct, id) }
	if err := prefetchIDs(ctx, s, ct, k, append(slices.Clone(added), cp.Leaves...)); err != nil {
		return dbError("verify", err)
	}
	for _, id := range added {
		d, _ := lookup(id)
		if d == nil || d.Cid != cid {
			add(ProblemHistoryRewritten, id, "added by a head version after the checkpoint but not stored")
			continue
		}
		ps, redacted := checkEvent(ct, cid, storedEvent(d), d.ArraysEscaped)
		problems = append(problems, ps...)
		if redacted {
			gr.redacted++
		}
		node := &auditNode{pids: d.Pids, ts: int64(d.TS), isLeaf: d.IsLeaf}
		if (d.T == eventstore.TypeUpdate || d.T == eventstore.TypeDelete) && d.DeletedAt == nil && d.O != nil {
			node.target = editTarget(d.O)
		}
		gr.nodes[id] = node
		if len(d.Pids) == 0 {
			add(ProblemGenesisExtra, id, "an event without parents added after the checkpoint")
		}
	}
	// Parents and targets outside the new events must be stored.
	for _, id := range added {
		n := gr.nodes[id]
		if n == nil {
			continue
		}
		for _, p := range n.pids {
			if gr.nodes[p] != nil {
				gr.nodes[p].hasChild = true
				continue
			}
			if d, err := lookup(p); err != nil {
				return dbError("verify", err)
			} else if d == nil || d.Cid != cid {
				add(ProblemMissingParent, id, "parent %s is not stored in the context", p)
			}
		}
		if n.target != "" && gr.nodes[n.target] == nil {
			if d, err := lookup(n.target); err != nil {
				return dbError("verify", err)
			} else if d == nil || d.Cid != cid {
				add(ProblemMissingTarget, id, "target %s is not stored in the context", n.target)
			}
		}
	}
	// The checkpoint's leaves must still be stored, unchanged: their ids
	// commit to all history before them, which was verified then.
	for _, id := range cp.Leaves {
		d, err := lookup(id)
		if err != nil {
			return dbError("verify", err)
		}
		if d == nil || d.Cid != cid {
			add(ProblemHistoryRewritten, id, "a leaf at the checkpoint (version %d) is no longer stored", cp.Seq)
			continue
		}
		for _, p := range checkHashes(ct, cid, d) {
			p.Kind, p.Detail = ProblemHistoryRewritten, "a leaf at the checkpoint changed: "+p.Detail
			problems = append(problems, p)
		}
	}
	// Leaves, count and flags as the new events make them.
	named := map[string]bool{}
	for _, n := range gr.nodes {
		for _, p := range n.pids {
			named[p] = true
		}
	}
	var leaves []string
	for _, id := range append(slices.Clone(cp.Leaves), added...) {
		if !named[id] && !slices.Contains(leaves, id) {
			leaves = append(leaves, id)
		}
	}
	slices.Sort(leaves)
	if now := leafIDs(h.Leaves); !slices.Equal(now, leaves) {
		add(ProblemLeavesMismatch, "", "the head (version %d) names leaves %v, the events without children are %v", h.Seq, now, leaves)
	}
	if want := cp.Count + int64(len(gr.nodes)); h.Count != want {
		add(ProblemHeadMismatch, "", "the head (version %d) counts %d events, the checkpoint's %d and %d since make %d",
			h.Seq, h.Count, cp.Count, len(gr.nodes), want)
	}
	for _, id := range uniq(append(append(slices.Clone(cp.Leaves), added...), h.Flagged...)) {
		d, err := lookup(id)
		if err != nil || d == nil {
			continue
		}
		if want := slices.Contains(h.Flagged, id); d.IsLeaf != want {
			add(ProblemIsLeafMismatch, id, "%s", isLeafDetail(d.IsLeaf, h.Seq, want))
		}
	}
	a.progress(int64(len(added)), 0)
	return a.finish(ctx, gr, problems, leaves, int64(len(added)), "incremental")
}

// prefetchIDs reads events by _id into k, a few at a time.
func prefetchIDs(ctx context.Context, s *Store, ct string, k *known, ids []string) error {
	sem := make(chan struct{}, prefetchConcurrency)
	errs := make(chan error, len(ids))
	for _, id := range uniq(ids) {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := k.lookup(ctx, s, ct, id)
			errs <- err
		}()
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// storedEvent is an event as stored, for checking: o and d as they are in
// the document (escaped or not), o absent once deleted.
func storedEvent(d *eventDoc) *eventstore.Event {
	e := d.event()
	e.O, e.D = d.O, d.D
	if d.DeletedAt != nil {
		e.O = nil
	}
	return e
}

// checkHashes is checkEvent's hash checks alone.
func checkHashes(ct, cid string, d *eventDoc) []Problem {
	ps, _ := checkEvent(ct, cid, storedEvent(d), d.ArraysEscaped)
	return slices.DeleteFunc(ps, func(p Problem) bool {
		return p.Kind != ProblemIDMismatch && p.Kind != ProblemDHashMismatch
	})
}
