package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/eventstore-go/eventstore/migrations"

	"github.com/eventstore-go/eventstore/internal/database"
)

// Phase 5: what a claimed version implies beyond its insert (clid records
// of ingested events, isLeaf flags, edits folded into their targets:
// complete_fold.go) is written after it, idempotently, by its writer or
// by the next writer that finds it.

// complete makes the database reflect head version h beyond what its
// claim wrote: clid records, the isLeaf flags it names, and edits applied
// to their targets. events are the version's events when the caller has
// them (nil: read what is needed). Every step is idempotent; it runs after
// a claim, and again by any writer that finds h as the latest version
// without knowing that it was completed (found): that one reads the flags
// first and writes only those that differ, since a version found is
// nearly always complete already (a restarted process finds every room's
// that way). The clid records and flags touch different documents, so
// they are written concurrently.
func (s *Store) complete(ctx context.Context, ct string, h *head, events []eventDoc, found bool) error {
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
		run("flags", func() error { return s.writeLeafFlags(ctx, ct, h, found) })
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
func (s *Store) writeLeafFlags(ctx context.Context, ct string, h *head, found bool) error {
	flag, unflag := h.Flag, h.Unflag
	if found {
		var err error
		if flag, unflag, err = s.unwrittenFlags(ctx, ct, h.Cid, flag, unflag); err != nil {
			return err
		}
	}
	if err := s.setLeafFlags(ctx, ct, h.Cid, flag, unflag); err != nil {
		return err
	}
	if len(flag) == 0 {
		// Clearing a flag is never wrong, however late: a version clears
		// the flags of events that got children, and an event with a
		// child is never a leaf again.
		return nil
	}
	latest, err := s.probeFrom(ctx, ct, h.Cid, h)
	if err != nil || latest.Seq == h.Seq {
		return err
	}
	var set, unset []string
	for _, id := range h.Flag {
		if !slices.Contains(latest.Flagged, id) {
			unset = append(unset, id)
		}
	}
	for _, id := range h.Unflag {
		if slices.Contains(latest.Flagged, id) {
			set = append(set, id)
		}
	}
	return s.setLeafFlags(ctx, ct, h.Cid, set, unset)
}

// unwrittenFlags is flag and unflag less the events whose stored flag is
// already so: a read by _id costs less than an update, above all on
// FerretDB, where an update is a transaction of its own.
func (s *Store) unwrittenFlags(ctx context.Context, ct, cid string, flag, unflag []string) (f, u []string, err error) {
	k := &known{docs: map[string]*eventDoc{}}
	if err := prefetchIDs(ctx, s, ct, cid, k, slices.Concat(flag, unflag)); err != nil {
		return nil, nil, err
	}
	for _, id := range flag {
		if d := k.docs[id]; d == nil || !d.IsLeaf {
			f = append(f, id)
		}
	}
	for _, id := range unflag {
		if d := k.docs[id]; d != nil && d.IsLeaf {
			u = append(u, id)
		}
	}
	return f, u, nil
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
