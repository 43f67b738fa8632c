package store

import (
	"context"
	"fmt"
)

// Reading head versions, from their documents or their spans, and finding
// the newest: for planning a write and for reads alike.

// readHead reads version seq of a context's head, from its document or,
// once folded, its span; nil if it does not exist.
func (s *Store) readHead(ctx context.Context, ct, cid string, seq int64) (*head, error) {
	return s.readHeadAfter(ctx, ct, cid, seq, nil)
}

// readHeadAfter is readHead for a version after prev: if prev is too
// young to be folded, so is anything after it, and no span is looked for.
func (s *Store) readHeadAfter(ctx context.Context, ct, cid string, seq int64, prev *head) (*head, error) {
	if h := s.cachedVersion(ct, cid, seq); h != nil {
		return h, nil
	}
	var d headDoc
	found, err := s.findIn(ctx, ct, cid, headID(cid, seq), &d)
	if err != nil {
		return nil, err
	}
	if found {
		return &d.Head, nil
	}
	if prev != nil && !prev.folded && prev.At.Time().After(s.opts.Now().Add(-s.opts.CompactAfter+clockSkew)) {
		return nil, nil
	}
	return s.foldedVersion(ctx, ct, cid, seq)
}

// latestHead returns the newest version of a context's head, starting the
// search at version known (0: at the registry's hint), or nil if the
// context does not exist. Versions are contiguous from 1, so it probes
// known+1, +2, +4 … and then bisects: O(log gap) reads by _id. cached, if
// not nil, is a version already read, which saves reading it again.
func (s *Store) latestHead(ctx context.Context, ct, cid string, known int64, cached *head) (*head, error) {
	if cached != nil && cached.Seq >= known {
		return s.probeFrom(ctx, ct, cid, cached)
	}
	if known < 1 {
		var c contextDoc
		if _, err := findByID(ctx, s.contexts(), contextKey(ct, cid), &c); err != nil {
			return nil, err
		}
		known = max(c.Seq, 1)
	}
	lo, err := s.readHead(ctx, ct, cid, known)
	if err != nil {
		return nil, err
	}
	if lo == nil {
		if known == 1 {
			return nil, nil
		}
		return s.latestHead(ctx, ct, cid, 1, nil) // a hint from a store wiped since: start over
	}
	return s.probeFrom(ctx, ct, cid, lo)
}

// probeFrom finds the newest version at or after lo, which exists.
func (s *Store) probeFrom(ctx context.Context, ct, cid string, lo *head) (*head, error) {
	hi := int64(-1) // the first version known to be missing
	for step := int64(1); hi < 0; step *= 2 {
		next, err := s.readHeadAfter(ctx, ct, cid, lo.Seq+step, lo)
		if err != nil {
			return nil, err
		}
		if next == nil {
			hi = lo.Seq + step
			break
		}
		lo = next
	}
	for hi-lo.Seq > 1 {
		mid := (lo.Seq + hi) / 2
		next, err := s.readHeadAfter(ctx, ct, cid, mid, lo)
		if err != nil {
			return nil, err
		}
		if next != nil {
			lo = next
		} else {
			hi = mid
		}
	}
	if lo.folded { // the compactor never folds a context's newest version
		return nil, fmt.Errorf("the newest head version of %s, after %d, is missing (run eventstore verify --repair)", cid, lo.Seq)
	}
	return lo, nil
}
