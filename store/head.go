package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/migrations"

	"github.com/eventstore-go/eventstore/internal/database"
)

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
	if prev != nil && !prev.folded && prev.At.Time().After(s.opts.Now().Add(-s.opts.CompactAfter+claimFresh)) {
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
			// (claiminsert.go), on a head read again.
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
		if err := s.complete(ctx, w.ct, next, docs); err != nil {
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

// complete makes the database reflect head version h beyond what its
// claim wrote: clid records, the isLeaf flags it names, and edits applied
// to their targets. events are the version's events when the caller has
// them (nil: read what is needed). Every step is idempotent; it runs after
// a claim, and again by any writer that finds h as the latest version
// without knowing that it was completed. The clid records and flags touch
// different documents, so they are written concurrently.
func (s *Store) complete(ctx context.Context, ct string, h *head, events []eventDoc) error {
	var g errgroup.Group
	run := func(step string, f func() error) {
		g.Go(func() error {
			if err := s.step(step); err != nil {
				return err
			}
			return f()
		})
	}
	if len(h.RemoteClids) > 0 || len(h.Clids) > 0 {
		run("clids", func() error {
			docs := make([]any, 0, len(h.RemoteClids)+len(h.Clids))
			for _, c := range h.RemoteClids {
				docs = append(docs, c)
			}
			for _, c := range h.Clids { // a version written before migration 10
				cid, clid, _ := strings.Cut(c.ID, "#")
				docs = append(docs, clidRecord{ID: migrations.ClidRecordID(cid, clid), Cid: cid, Event: c.Event, At: h.At})
			}
			return s.insertMissing(ctx, s.events(ct), docs)
		})
	}
	if len(h.Flag) > 0 || len(h.Unflag) > 0 {
		run("flags", func() error { return s.writeLeafFlags(ctx, ct, h) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, id := range h.Edits {
		if err := s.step("edit"); err != nil {
			return err
		}
		ev := findEvent(events, id)
		if ev == nil {
			var d eventDoc
			found, err := s.findIn(ctx, ct, h.Cid, id, &d)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("edit event %s of head version %d is not stored", id, h.Seq)
			}
			ev = &d
		}
		if err := s.applyEditEvent(ctx, ct, h.Seq, ev); err != nil {
			return err
		}
	}
	return nil
}

func findEvent(events []eventDoc, id string) *eventDoc {
	for i := range events {
		if events[i].ID == id {
			return &events[i]
		}
	}
	return nil
}

// writeLeafFlags writes the flag changes of version h. Unlike the rest of a
// completion, setting flags does not commute: a writer completing h late
// could set a flag that a newer version has cleared. So after setting any,
// it looks for a newer version and makes the flags it touched agree with
// the newest one.
// (A version claimed after that look is completed after it, by its
// claimer.)
func (s *Store) writeLeafFlags(ctx context.Context, ct string, h *head) error {
	if err := s.setLeafFlags(ctx, ct, h.Cid, h.Flag, h.Unflag); err != nil {
		return err
	}
	if len(h.Flag) == 0 {
		// Clearing a flag is never wrong, however late: a version clears
		// the flags of events it gives children, and an event with a child
		// is never a leaf again. (An append's completion, which clears its
		// parents' flags, thus reads nothing.)
		return nil
	}
	latest, err := s.probeFrom(ctx, ct, h.Cid, h)
	if err != nil || latest.Seq == h.Seq {
		return err
	}
	var flag, unflag []string
	for _, id := range h.Flag {
		if !slices.Contains(latest.Flagged, id) {
			unflag = append(unflag, id)
		}
	}
	for _, id := range h.Unflag {
		if slices.Contains(latest.Flagged, id) {
			flag = append(flag, id)
		}
	}
	return s.setLeafFlags(ctx, ct, h.Cid, flag, unflag)
}

// setLeafFlags sets isLeaf on the events flag of context cid and removes
// it from unflag.
func (s *Store) setLeafFlags(ctx context.Context, ct, cid string, flag, unflag []string) error {
	var models []mongo.WriteModel
	for _, id := range flag {
		models = append(models, mongo.NewUpdateOneModel().SetFilter(s.byID(cid, id)).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "isLeaf", Value: true}}}}))
	}
	for _, id := range unflag {
		models = append(models, mongo.NewUpdateOneModel().SetFilter(s.byID(cid, id)).
			SetUpdate(bson.D{{Key: "$unset", Value: bson.D{{Key: "isLeaf", Value: ""}}}}))
	}
	return s.conn.BulkUpdate(ctx, s.events(ct), models)
}

// insertMissing inserts those of docs that are not stored yet (the others
// are duplicates, and fine): the idempotent steps of a write.
func (s *Store) insertMissing(ctx context.Context, coll *mongo.Collection, docs []any) error {
	err := s.conn.Write(ctx, func() error {
		_, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
		return err
	})
	if database.OnlyDuplicates(err) {
		return nil
	}
	return err
}
