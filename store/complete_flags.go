package store

import (
	"context"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
)

// Leaf flags.
//
// The head is the authority on a context's leaves; the isLeaf flags on the
// event documents follow it, lazily. An append writes no flag: its events
// are inserted without one, and a parent that carries one keeps it for
// now. Clearing it at once costs a database write per append on top of
// the claim's insert, and on FerretDB an update is a read, a rewrite of
// the whole document and a transaction of its own: in a store of many
// quiet rooms, where nearly every append gives a flagged event a child,
// that update was a third of the server's CPU and halved the rate.
//
// Once a context has had no write from this store for
// Options.LeafFlagDelay, a version of its own makes the flags exactly its
// leaves (syncFlags): it clears the flags of events that got children and
// sets those of the leaves. The head records which events carry a flag
// (headDoc.Flagged), a parent's stale one included until then, so the
// audit holds the stored flags to it at every version. Flag versions go
// through the head log like any write, so they are crash-safe and correct
// with several processes; the API reports isLeaf from the head, never
// from the flags.
//
// The delay is a minute: the messages of a conversation, seconds or tens
// of seconds apart, share one flag version, and a busy room's upkeep never
// holds up its appends.

// defaultLeafFlagDelay is how long a context must be idle before its
// isLeaf flags are made its leaves.
const defaultLeafFlagDelay = time.Minute

// syncFlags (w.mu held) writes a version whose flags are exactly the
// current leaves, if they are not already. Like any write it builds on
// the head the writer knows while that is fresh (advance, claimFresh): a
// version another process wrote meanwhile makes the claim lose, and the
// flags are then planned again on the newer head.
func (s *Store) syncFlags(ctx context.Context, w *writer) error {
	_, err := s.advance(ctx, w, func(h *head) (*head, []eventDoc, error) {
		if h == nil {
			return nil, nil, nil
		}
		leaves := leafIDs(h.Leaves)
		flag := difference(leaves, h.Flagged)
		unflag := difference(h.Flagged, leaves)
		if len(flag) == 0 && len(unflag) == 0 {
			return nil, nil, nil
		}
		next := s.successor(w.cid, h)
		next.Flagged, next.Flag, next.Unflag = leaves, flag, unflag
		return next, nil, nil
	})
	return err
}

// Flush does now the upkeep that otherwise waits until a context is idle
// (see idle.go) for every context this store wrote to: isLeaf flags and the
// registry's hint.
func (s *Store) Flush(ctx context.Context) error {
	s.mu.Lock()
	writers := make([]*writer, 0, len(s.writers))
	for _, w := range s.writers {
		writers = append(writers, w)
	}
	s.mu.Unlock()
	// A few at a time, as idle timers fire: flag versions of contexts of
	// one type that are ready together share an insert (claim_shared.go).
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(flushConcurrency)
	for _, w := range writers {
		g.Go(func() error {
			if err := s.flushWriter(gctx, w); err != nil {
				return dbError("flush", err)
			}
			return nil
		})
	}
	return g.Wait()
}

// flushConcurrency is how many contexts Flush brings up to date at once.
const flushConcurrency = 8

func (s *Store) flushWriter(ctx context.Context, w *writer) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.head == nil {
		return nil
	}
	if err := s.syncFlags(ctx, w); err != nil {
		return err
	}
	return s.recordHint(ctx, w)
}

// difference is a − b for sorted id lists.
func difference(a, b []string) []string {
	var out []string
	for _, id := range a {
		if _, found := slices.BinarySearch(b, id); !found {
			out = append(out, id)
		}
	}
	return out
}
