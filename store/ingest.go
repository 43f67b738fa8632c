package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"
)

// IngestStatus is what became of one remote event.
type IngestStatus string

const (
	Stored         IngestStatus = "stored"
	Duplicate      IngestStatus = "duplicate"       // already stored: nothing done
	MissingParents IngestStatus = "missing_parents" // parents (or an edit's target) are not here yet
	Refused        IngestStatus = "refused"         // invalid; Err says why
)

// IngestResult is the outcome for one event given to IngestFrom.
type IngestResult struct {
	ID      string
	Status  IngestStatus
	Missing []string // with MissingParents
	Err     error    // with Refused
	// NeedsOrigin: refused because it arrived deleted, from a server that
	// is not its origin, without the event.delete naming it. Ask its origin
	// (src) for it.
	NeedsOrigin bool
}

// IngestFrom stores events received from server from ("" when no server
// vouches for them: a copy, a test) as they are (their pids, ts and src),
// after checking their hashes. Parents must be present (stored, or earlier
// in events), so events are given parents first; already stored events are
// no-ops. Events of several contexts may be mixed. The error is for the
// call as a whole (the database failed); per-event outcomes are in the
// results, in the order of events.
//
// An event that arrives deleted (no o) is stored only with its proof: an
// event.delete naming it in the same call, or from being the word of its
// own origin (src == from). Otherwise anyone relaying it could redact
// another server's event in transit (its id still verifies without o); it
// is refused with NeedsOrigin, to be asked of its origin.
func (s *Store) IngestFrom(ctx context.Context, from string, events []*eventstore.Event) (results []IngestResult, err error) {
	defer s.observe("ingest", time.Now(), &err)
	proofed := map[string]bool{}
	for _, e := range events {
		if e.T == eventstore.TypeDelete && e.O != nil {
			if target, _, err := edits.Parse(e.T, e.O); err == nil {
				proofed[target] = true
			}
		}
	}
	results = make([]IngestResult, len(events))
	valid := make([]*eventstore.Event, len(events)) // nil: refused
	for i, e := range events {
		results[i] = IngestResult{ID: e.ID}
		if err := e.Verify(); err != nil {
			results[i].Status, results[i].Err = Refused, err
			continue
		}
		valid[i] = e
	}
	groups := eventstore.GroupByContext(valid)
	for _, g := range groups {
		if len(g.Events[0].Pids) == 0 {
			if err := s.prepareType(ctx, g.Ct); err != nil {
				return nil, dbError("prepare", err)
			}
			if err := s.register(ctx, g.Ct, g.Cid); err != nil {
				return nil, err
			}
		}
		// A version holds at most maxBatchEvents events.
		for at := 0; at < len(g.Events); at += maxBatchEvents {
			to := min(at+maxBatchEvents, len(g.Events))
			r := &request{kind: kindIngest, remote: g.Events[at:to], from: from, proofed: proofed}
			s.submit(ctx, g.Ct, g.Cid, r)
			if r.err != nil {
				return nil, r.err
			}
			for j, res := range r.ingest {
				results[g.Index[at+j]] = res
			}
		}
	}
	return results, nil
}

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

// prefetch reads, concurrently, what planning a batch will need: the
// targets of its edits, and for remote events whether the first of each
// chain and parents from outside the batch are stored. Anything else
// planning needs it reads on demand. Clids are not read: a clid used
// already fails the claim's insert (claimed.go), which names the event
// that has it; taken holds those, and k starts with them.
func (s *Store) prefetch(ctx context.Context, ct, cid string, batch []*request, leaves []leaf, taken map[string]*eventstore.Event) (*known, error) {
	k := &known{clids: maps.Clone(taken), docs: map[string]*eventDoc{}, deleted: map[string]bool{}}
	if k.clids == nil {
		k.clids = map[string]*eventstore.Event{}
	}
	var ids []string
	isLeaf := map[string]bool{}
	for _, l := range leaves {
		isLeaf[l.ID] = true
	}
	for _, r := range batch {
		if r.done {
			continue
		}
		switch r.kind {
		case kindEdit:
			ids = append(ids, r.target)
		case kindIngest:
			inBatch := map[string]bool{}
			for _, e := range r.remote {
				root := true
				for _, p := range e.Pids {
					if inBatch[p] {
						root = false
					} else if !isLeaf[p] {
						ids = append(ids, p)
					}
				}
				if root {
					ids = append(ids, e.ID)
				}
				inBatch[e.ID] = true
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(prefetchConcurrency)
	for _, id := range uniq(ids) {
		g.Go(func() error { _, err := k.lookup(gctx, s, ct, cid, id); return err })
	}
	return k, g.Wait()
}
