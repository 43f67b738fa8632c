package store

import (
	"context"
	"maps"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/eventstore-go/eventstore"
)

// Reading events by _id, a few at a time: on every backend a read by _id
// is the one that stays flat as the store grows, and FerretDB pushes down
// only an exact {_id: value} filter (an $in on _id is a scan), so a set of
// ids is read as that many concurrent finds.

// known is what a batch read from the database before planning.
type known struct {
	mu      sync.Mutex
	clids   map[string]*eventstore.Event // clid → the event that used it
	docs    map[string]*eventDoc         // event id → document; nil if absent
	deleted map[string]bool              // targets deleted earlier in the batch
}

// lookup returns the document of event id of context cid, reading it
// unless known.
func (k *known) lookup(ctx context.Context, s *Store, ct, cid, id string) (*eventDoc, error) {
	k.mu.Lock()
	d, ok := k.docs[id]
	k.mu.Unlock()
	if ok {
		return d, nil
	}
	var doc eventDoc
	found, err := s.findIn(ctx, ct, cid, id, &doc)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !found {
		k.docs[id] = nil
		return nil, nil
	}
	k.docs[id] = &doc
	return &doc, nil
}

// prefetchConcurrency bounds the reads a batch has in flight at once.
const prefetchConcurrency = 8

// prefetchIDs reads events of context cid by _id into k: a few at a
// time, or on MongoDB by $in, a batch per round trip.
func prefetchIDs(ctx context.Context, s *Store, ct, cid string, k *known, ids []string) error {
	if s.conn.Backend().ReadsRanges() {
		return prefetchIn(ctx, s, ct, cid, k, ids)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(prefetchConcurrency)
	for _, id := range uniq(ids) {
		g.Go(func() error { _, err := k.lookup(gctx, s, ct, cid, id); return err })
	}
	return g.Wait()
}

// uniq returns the distinct ids, sorted, leaving ids as it was.
func uniq(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// inBatch bounds the ids of one $in read.
const inBatch = 1000

// prefetchIn reads the ids k lacks with {_id: {$in: …}} (MongoDB only).
func prefetchIn(ctx context.Context, s *Store, ct, cid string, k *known, ids []string) error {
	var todo []string
	k.mu.Lock()
	for _, id := range uniq(ids) {
		if _, ok := k.docs[id]; !ok {
			todo = append(todo, id)
		}
	}
	k.mu.Unlock()
	for len(todo) > 0 {
		batch := todo[:min(len(todo), inBatch)]
		todo = todo[len(batch):]
		cur, err := s.events(ct).Find(ctx, s.conn.Backend().ByIDs("cid", cid, batch))
		if err != nil {
			return err
		}
		var docs []eventDoc
		if err := cur.All(ctx, &docs); err != nil {
			return err
		}
		k.mu.Lock()
		for _, id := range batch {
			k.docs[id] = nil
		}
		for i := range docs {
			k.docs[docs[i].ID] = &docs[i]
		}
		k.mu.Unlock()
	}
	return nil
}

// prefetch reads, concurrently, what planning a batch will need: the
// targets of its edits, and for remote events whether the first of each
// chain and parents from outside the batch are stored. Anything else
// planning needs it reads on demand. Clids are not read: a clid used
// already fails the claim's insert (claim_insert.go), which names the event
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
