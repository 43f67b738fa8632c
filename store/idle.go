package store

import (
	"context"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Upkeep that can wait runs when a context has been idle for
// Options.LeafFlagDelay, so that a busy context spends its writes on
// events: the isLeaf flags catch up with the leaves (complete_flags.go), and the
// contexts registry records the newest version, where a store that knows
// nothing of the context starts looking for the latest.

// hintEvery is how many versions the registry's hint may fall behind.
const hintEvery = 16

// scheduleIdle (w.mu held) arranges for the idle upkeep of w's context.
func (s *Store) scheduleIdle(w *writer) {
	if w.idleTimer != nil {
		w.idleTimer.Reset(s.opts.LeafFlagDelay)
		return
	}
	w.idleTimer = time.AfterFunc(s.opts.LeafFlagDelay, func() { s.onIdle(w) })
}

func (s *Store) onIdle(w *writer) {
	if !s.enterBackground() {
		return
	}
	defer s.background.Done()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.busy() { // the queued batch schedules the upkeep again
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), backgroundTimeout)
	defer cancel()
	// A write to a quiet context flagged its leaves itself (complete_flags.go):
	// then there is nothing to look up. (Another process's writes have an
	// upkeep of their own.)
	if h := w.head; h != nil && slices.Equal(leafIDs(h.Leaves), h.Flagged) {
		if err := s.recordHint(ctx, w); err != nil {
			s.log.Warn("recording the head hint", "ct", w.ct, "cid", w.cid, "err", err)
		}
		return
	}
	if err := s.syncFlags(ctx, w); err != nil {
		s.log.Warn("writing isLeaf flags", "ct", w.ct, "cid", w.cid, "err", err)
		return
	}
	if err := s.recordHint(ctx, w); err != nil {
		s.log.Warn("recording the head hint", "ct", w.ct, "cid", w.cid, "err", err)
	}
}

func (w *writer) busy() bool {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	return len(w.queue) > 0
}

// recordHint (w.mu held) records the latest version in the registry when
// the recorded one is hintEvery or more behind.
func (s *Store) recordHint(ctx context.Context, w *writer) error {
	if w.head == nil || w.head.Seq-w.hinted < hintEvery {
		return nil
	}
	err := s.conn.Write(ctx, func() error {
		_, err := s.contexts().UpdateOne(ctx, bson.D{{Key: "_id", Value: contextKey(w.ct, w.cid)}},
			bson.D{{Key: "$max", Value: bson.D{{Key: "seq", Value: w.head.Seq}}}})
		return err
	})
	if err == nil {
		w.hinted = w.head.Seq
	}
	return err
}
