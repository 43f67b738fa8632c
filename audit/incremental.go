package audit

import (
	"context"
	"slices"

	"github.com/eventstore-go/eventstore/store"
)

// incremental audits what context ct/cid gained since its checkpoint: the
// events of the head versions after it, read by _id, checked by the graph
// checker on top of the checkpoint's verified history. Its history must
// extend the checkpoint's: every leaf then is still stored, unchanged, and
// is an ancestor of a leaf now (or one).
func (r *run) incremental(ctx context.Context, ct, cid string) error {
	src := r.a.src
	cp, err := r.a.checkpoint(ctx, ct, cid)
	if err != nil {
		return err
	}
	if !cp.usable() { // changed since the caller read it
		return r.full(ctx, ct, cid)
	}
	g := newGraph(ct, cid)
	g.cp, g.base, g.filecp = cp, cp, r.fileCheckpoint(ct, cid)
	h, err := src.LatestVersion(ctx, ct, cid, cp.Seq)
	if err != nil {
		return err
	}
	if h == nil || h.Seq < cp.Seq {
		// The head went back: what is there now is not what the checkpoint
		// saw, so it is audited in full (which reports the rewrite).
		return r.full(ctx, ct, cid)
	}
	g.head = h
	// The events added since the checkpoint, in the order of the versions.
	var added []string
	for v := cp.Seq + 1; v <= h.Seq; v++ {
		vh := h
		if v != h.Seq {
			if vh, err = src.Version(ctx, ct, cid, v); err != nil {
				return err
			}
		}
		if vh == nil {
			g.add(ProblemHistoryRewritten, "", "head version %d is missing", v)
			continue
		}
		added = append(added, vh.Added...)
	}
	// Read them, the checkpoint's leaves and the flagged events at once.
	known, err := src.StoredEvents(ctx, ct, cid, slices.Concat(added, cp.Leaves, h.Flagged))
	if err != nil {
		return err
	}
	inContext := func(id string) *store.StoredEvent {
		if e := known[id]; e != nil && e.Cid == cid {
			return e
		}
		return nil
	}
	for _, id := range added {
		e := inContext(id)
		if e == nil {
			g.add(ProblemHistoryRewritten, id, "added by a head version after the checkpoint but not stored")
			continue
		}
		g.addEvent(e, r.a.sigs)
	}
	for _, id := range slices.Concat(cp.Leaves, h.Flagged) {
		if e := inContext(id); e != nil && g.nodes[id] == nil {
			g.flags[id] = e.IsLeaf
		}
	}
	// Parents and targets outside the new events are read on demand.
	outside := func(ctx context.Context, id string) (*store.StoredEvent, error) {
		if _, ok := known[id]; !ok {
			more, err := src.StoredEvents(ctx, ct, cid, []string{id})
			if err != nil {
				return nil, err
			}
			known[id] = more[id]
		}
		return inContext(id), nil
	}
	leaves, err := g.check(ctx, outside)
	if err != nil {
		return err
	}
	if err := g.checkData(ctx, src, r.a.sigs); err != nil {
		return err
	}
	r.progress(int64(len(added)), 0)
	return r.finish(ctx, g, leaves, int64(len(added)), "incremental")
}
