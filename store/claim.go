package store

import (
	"context"
	"errors"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
)

// Phase 4: advance drives a write, whoever makes it (appends, flag
// versions, repairs): load the head, build the version on it, claim the
// version by inserting it (claim_insert.go, claim_shared.go, with a commit
// log number from claim_commitlog.go), then complete it (complete.go). A
// lost claim goes round again.

// successor is the version after h (the first if h is nil): h's leaves,
// count, genesis, participants and flags carried on, nothing added yet.
// Every new version starts here, whoever writes it.
func (s *Store) successor(cid string, h *head) *head {
	next := &head{Cid: cid, Seq: 1, Flagged: []string{}, At: bson.DateTime(s.opts.Now().UnixMilli())}
	if h != nil {
		next.Seq, next.Count, next.Genesis, next.Pos, next.Log = h.Seq+1, h.Count, h.Genesis, h.Pos, h.Log
		next.Leaves, next.Flagged = slices.Clone(h.Leaves), slices.Clone(h.Flagged)
		next.Participation = h.Participation.clone()
	}
	return next
}

// advance (w.mu held) writes one version on top of the latest head of w's
// context: it loads that head (completing it), asks build for the version
// to claim and the events it adds, claims it and completes it. A lost
// claim means another writer moved the head: advance loads the new head
// and asks build again, and after maxClaimAttempts lost claims in a row it
// gives up with EUNAVAILABLE. A nil version from build means there is
// nothing to write. It returns the version written, or nil. Appends,
// flag versions and repairs all write through it.
func (s *Store) advance(ctx context.Context, w *writer, build func(h *head) (*head, []eventDoc, error)) (*head, error) {
	if err := s.finishUndos(ctx, w.ct, w.cid); err != nil {
		return nil, err // its head names events that are not stored: build nothing on it
	}
	var guess int64 // the latest version, as far as a lost claim tells (0: probe for it)
	for range maxClaimAttempts {
		if err := s.loadHead(ctx, w, guess); err != nil {
			return nil, err
		}
		next, docs, err := build(w.head)
		if err != nil {
			w.head = nil
			return nil, dbError("planning", err)
		}
		if next == nil {
			return nil, nil
		}
		claimedAt := s.opts.Now() // once won, next was the newest at least since then
		won, err := s.claim(ctx, w.ct, next, docs)
		var taken *clidTaken
		if errors.As(err, &taken) {
			// A repeat: plan again, with the event that has the clid
			// (claim_insert.go), on a head read again.
			e, err := s.usedClid(ctx, w.ct, w.cid, taken.clid)
			if err != nil {
				w.head = nil
				return nil, dbError("reading a clid", err)
			}
			if e != nil {
				if w.taken == nil {
					w.taken = map[string]*eventstore.Event{}
				}
				w.taken[taken.clid] = e
			}
			w.head, guess = nil, next.Seq-1 // nothing was written: the same head, read again
			continue
		}
		if err != nil {
			w.head = nil
			return nil, dbError("writing the events", err)
		}
		if !won {
			// Someone else wrote that version: it is the one to build on
			// (if yet another exists, the next claim says so).
			w.head, guess = nil, next.Seq
			continue
		}
		if err := s.complete(ctx, w.ct, next, docs, false); err != nil {
			// The events are stored, and the next writer completes the
			// version, but they are not acknowledged.
			w.head = nil
			return nil, dbError("completing the write", err)
		}
		w.setHead(next, claimedAt)
		return next, nil
	}
	return nil, eventstore.Errorf(eventstore.EUNAVAILABLE, "too many concurrent writers on %s/%s; retry", w.ct, w.cid)
}

// claim writes head version h together with the events it adds, all or
// nothing, and returns false if another writer claimed that version first.
// The version document comes first in one ordered insert (after its commit
// log entry, if it adds events), and the unique _id makes its insert a
// compare-and-swap on every backend.
func (s *Store) claim(ctx context.Context, ct string, h *head, events []eventDoc) (bool, error) {
	if err := s.step("claim"); err != nil {
		return false, err
	}
	if len(h.Added) > 0 {
		return s.claimLogged(ctx, ct, h, events)
	}
	return s.insertVersion(ctx, ct, h, events, nil)
}
