package store

import (
	"context"
	"slices"
	"time"
)

// Leaf flags.
//
// The head is the authority on a context's leaves; the isLeaf flags on the
// event documents follow it. Setting the flag when an event is written and
// clearing it when the event gets a child would cost a database write per
// append on top of the claim and the insert, and on FerretDB an update costs
// more than an insert. So events are written without the flag, and the
// head records which events carry it (headDoc.Flagged). A version clears
// the flags of parents it gives children to (rare: only flagged parents);
// once a context has had no write for Options.LeafFlagDelay, a version of
// its own sets the flags of the current leaves. Both go through the head
// log like any write, so they are crash-safe and correct with several
// processes; the API reports isLeaf from the head, never from the flags.
//
// A write to a quiet context (no write for LeafFlagDelay) is likely the
// last for a while: its leaves are written flagged, in the claim's insert
// (flagLeaves), rather than by a flag version and an update a second
// later. A room that gets a message now and then thus costs a claim and
// the update that clears its last message's flag, not four writes; a busy
// room's flags still wait for it to be idle.

// flagLeaves writes the isLeaf flags of those of events that are leaves
// of the version with the events themselves, in its claim's insert, and
// the version names them in Flagged. A batch into a quiet context takes
// them (see writer.quiet): there the idle upkeep would otherwise write a
// flag version and update the events a second later (complete_flags.go), two more
// writes for every message of a room that gets one now and then.
func (pl *planner) flagLeaves(events []eventDoc) {
	for i := range events {
		d := &events[i]
		if slices.ContainsFunc(pl.next.Leaves, func(l leaf) bool { return l.ID == d.ID }) {
			d.IsLeaf = true
			pl.flagged[d.ID] = true
		}
	}
}

// quiet (w.mu held) reports whether w's context had no write of this
// store for delay, or none yet: the next one is likely the last for a
// while, so its leaves get their flags at once (flagLeaves). In a busy
// context they wait for it to be idle, as its next write would clear them.
func (w *writer) quiet(now time.Time, delay time.Duration) bool {
	return w.lastWrite.IsZero() || now.Sub(w.lastWrite) >= delay
}

// defaultLeafFlagDelay is how long a context must be idle before the
// isLeaf flags of its leaves are written. It is well above the gaps
// between appends of a busy room: the upkeep holds the context's writer
// for a few round trips, and at 50 ms, with 8 writers over 20 rooms,
// rooms went idle often enough that appends queued behind upkeep, which
// left more rooms idle (the rate swung between 1,450 and 2,360 appends/s;
// at 1 s it holds at 2,350–2,500). A quiet room costs the same upkeep
// whatever the delay.
const defaultLeafFlagDelay = time.Second

// syncFlags (w.mu held) writes a version whose flags are exactly the
// current leaves, if they are not already.
func (s *Store) syncFlags(ctx context.Context, w *writer) error {
	if w.head != nil { // another process may have written since: start from the latest
		now := s.opts.Now()
		h, err := s.latestHead(ctx, w.ct, w.cid, w.knownSeq(), w.head)
		if err != nil {
			return err
		}
		if h == nil { // the context is gone (a test emptied the database)
			w.head = nil
			return nil
		}
		if h.Seq != w.head.Seq {
			if err := s.complete(ctx, w.ct, h, nil); err != nil {
				return err
			}
			w.setHead(h, now)
		}
	}
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
	for _, w := range writers {
		if err := s.flushWriter(ctx, w); err != nil {
			return dbError("flush", err)
		}
	}
	return nil
}

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
