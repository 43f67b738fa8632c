package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"
)

// Phase 3 for a peer's events: each is checked against what the context
// holds (parents, edit targets, participants, ts) and added as it came.

// ingest plans the remote events of r on top of the batch so far.
func (pl *planner) ingest(ctx context.Context, r *request, k *known) ([]eventDoc, error) {
	results := make([]IngestResult, len(r.remote))
	var docs []eventDoc
	seen := map[string]bool{} // events of r found already stored
	isLeaf := map[string]bool{}
	for _, l := range pl.next.Leaves {
		isLeaf[l.ID] = true
	}
	present := func(id string) (bool, error) {
		if pl.added[id] != nil || seen[id] || isLeaf[id] {
			return true, nil
		}
		d, err := k.lookup(ctx, pl.s, pl.ct, pl.cid, id)
		return d != nil && d.Cid == pl.cid, err
	}
	targetOf := func(id string) (t, src string, err error) {
		if e := pl.added[id]; e != nil {
			return e.T, e.Src, nil
		}
		d, err := k.lookup(ctx, pl.s, pl.ct, pl.cid, id)
		if err != nil || d == nil {
			return "", "", err
		}
		return d.T, d.Src, nil
	}
	for i, e := range r.remote {
		res := &results[i]
		res.ID = e.ID
		if pl.added[e.ID] != nil || seen[e.ID] {
			res.Status = Duplicate
			continue
		}
		// An event with a parent new in this batch is new itself: a stored
		// event always has its parents stored. Otherwise look it up.
		newParent := slices.ContainsFunc(e.Pids, func(p string) bool { return pl.added[p] != nil })
		if !newParent {
			d, err := k.lookup(ctx, pl.s, pl.ct, pl.cid, e.ID)
			if err != nil {
				return nil, err
			}
			if d != nil {
				res.Status = Duplicate
				seen[e.ID] = true
				continue
			}
		}
		if e.Deleted && e.Src != r.from && !r.proofed[e.ID] {
			res.Status, res.NeedsOrigin = Refused, true
			res.Err = eventstore.Errorf(eventstore.EINVALIDDATA,
				"event %s arrives deleted from %s, without the event.delete naming it; only its origin %s may send it so", e.ID, r.from, e.Src)
			continue
		}
		exists := pl.head != nil || pl.next.Genesis != ""
		if len(e.Pids) == 0 && exists {
			res.Status, res.Err = Refused, eventstore.Errorf(eventstore.EINVALIDDATA,
				"event %s has no parents but context %s/%s already has its genesis %s", e.ID, pl.ct, pl.cid, pl.next.Genesis)
			continue
		}
		if len(e.Pids) > 0 && !exists {
			res.Status, res.Missing = MissingParents, slices.Clone(e.Pids)
			continue
		}
		var missing []string
		for _, p := range e.Pids {
			ok, err := present(p)
			if err != nil {
				return nil, err
			}
			if !ok {
				missing = append(missing, p)
			}
		}
		if e.T == eventstore.TypeUpdate || e.T == eventstore.TypeDelete {
			if e.Deleted {
				res.Status, res.Err = Refused, eventstore.Errorf(eventstore.EINVALIDDATA, "%s event %s has no o", e.T, e.ID)
				continue
			}
			target, _, err := edits.Parse(e.T, e.O)
			if err != nil {
				res.Status, res.Err = Refused, err
				continue
			}
			ok, err := present(target)
			if err != nil {
				return nil, err
			}
			if !ok && !slices.Contains(missing, target) {
				missing = append(missing, target)
			}
			if ok {
				// As for local edits, an edit event cannot be edited: the fold
				// of its target would then depend on data that is gone.
				t, author, err := targetOf(target)
				if err != nil {
					return nil, err
				}
				if t == eventstore.TypeUpdate || t == eventstore.TypeDelete {
					res.Status, res.Err = Refused, eventstore.Errorf(eventstore.EINVALIDDATA,
						"%s event %s names %s, an %s event, which cannot be edited", e.T, e.ID, target, t)
					continue
				}
				if err := pl.mayEdit(ctx, k, e.Src, author, target); eventstore.ErrorCode(err) == eventstore.EFORBIDDEN {
					res.Status, res.Err = Refused, err
					continue
				} else if err != nil {
					return nil, err
				}
			}
		}
		if len(missing) > 0 {
			res.Status, res.Missing = MissingParents, missing
			continue
		}
		if after, err := pl.parentTS(ctx, k, e.Pids); err != nil {
			return nil, err
		} else if len(e.Pids) > 0 && e.TS <= after {
			res.Status, res.Err = Refused, eventstore.Errorf(eventstore.EINVALIDDATA,
				"event %s has ts %d, not after its newest parent's (%d)", e.ID, e.TS, after)
			continue
		}
		if pl.s.opts.Participants && len(e.Pids) > 0 && !slices.Contains(pl.next.Participation.Servers, e.Src) {
			res.Status, res.Err = Refused, eventstore.Errorf(eventstore.EFORBIDDEN,
				"event %s comes from %s, which does not take part in %s/%s", e.ID, e.Src, pl.ct, pl.cid)
			continue
		}
		if e.T == eventstore.TypeServerJoin && !e.Deleted && eventstore.JoinedServer(e.O) == "" {
			res.Status, res.Err = Refused, eventstore.Errorf(eventstore.EINVALIDDATA, "%s event %s: o must be {\"server\": name}", e.T, e.ID)
			continue
		}
		o, canonical, err := storedData(e.O)
		if err != nil {
			res.Status, res.Err = Refused, eventstore.WrapError(eventstore.EINVALIDDATA, fmt.Errorf("event %s: o: %w", e.ID, err))
			continue
		}
		local := *e
		// d is folded here from the update events, never taken from a peer.
		local.O, local.D, local.IsLeaf = canonical, canonical, false
		docs = append(docs, pl.addEvent(&local, o))
		res.Status = Stored
	}
	pl.p.answer(func() { r.ingest, r.done = results, true })
	return docs, nil
}

// parentTS is the newest ts among parents, which are all present.
func (pl *planner) parentTS(ctx context.Context, k *known, pids []string) (int64, error) {
	var newest int64
	for _, p := range pids {
		if e := pl.added[p]; e != nil {
			newest = max(newest, e.TS)
			continue
		}
		if i := slices.IndexFunc(pl.next.Leaves, func(l leaf) bool { return l.ID == p }); i >= 0 {
			newest = max(newest, pl.next.Leaves[i].TS)
			continue
		}
		d, err := k.lookup(ctx, pl.s, pl.ct, pl.cid, p)
		if err != nil {
			return 0, err
		}
		if d != nil {
			newest = max(newest, int64(d.TS))
		}
	}
	return newest, nil
}
