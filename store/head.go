package store

import (
	"context"
	"errors"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/eventstore-go/eventstore"
)

// How often a writer records its latest version in the contexts registry
// (a starting point for readers that know nothing) and drops the
// write-ahead copies of completed versions.
const (
	hintEvery    = 16
	compactEvery = 64
)

// latestHead returns the newest version of a context's head, starting the
// search at version known (0: at the registry's hint), or nil if the
// context does not exist. Versions are contiguous from 1, so it probes
// known+1, +2, +4 … and then bisects: O(log gap) reads by _id.
func (s *Store) latestHead(ctx context.Context, ct, cid string, known int64) (*headDoc, error) {
	if known < 1 {
		var c contextDoc
		if _, err := findByID(ctx, s.contexts(), contextKey(ct, cid), &c); err != nil {
			return nil, err
		}
		known = max(c.Seq, 1)
	}
	var lo headDoc
	found, err := findByID(ctx, s.heads(ct), headID(cid, known), &lo)
	if err != nil {
		return nil, err
	}
	if !found {
		if known == 1 {
			return nil, nil
		}
		return s.latestHead(ctx, ct, cid, 1) // a hint from a store wiped since: start over
	}
	hi := int64(-1) // the first version known to be missing
	for step := int64(1); hi < 0; step *= 2 {
		var next headDoc
		found, err := findByID(ctx, s.heads(ct), headID(cid, lo.Seq+step), &next)
		if err != nil {
			return nil, err
		}
		if !found {
			hi = lo.Seq + step
			break
		}
		lo = next
	}
	for hi-lo.Seq > 1 {
		mid := (lo.Seq + hi) / 2
		var next headDoc
		found, err := findByID(ctx, s.heads(ct), headID(cid, mid), &next)
		if err != nil {
			return nil, err
		}
		if found {
			lo = next
		} else {
			hi = mid
		}
	}
	return &lo, nil
}

// claim inserts head version h. It returns false if another writer claimed
// that version first.
func (s *Store) claim(ctx context.Context, ct string, h *headDoc) (bool, error) {
	if err := s.step("claim"); err != nil {
		return false, err
	}
	_, err := s.heads(ct).InsertOne(ctx, h)
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	return err == nil, err
}

// complete makes the database reflect head version h: its events inserted
// (isLeaf on those that are leaves), their clid and edit records written,
// and isLeaf removed from their parents. Every step is idempotent; it runs
// after a claim, and again by any writer that finds h as the latest version
// without knowing that it was completed.
func (s *Store) complete(ctx context.Context, ct string, h *headDoc) error {
	if len(h.Events) == 0 {
		return nil
	}
	isLeaf := map[string]bool{}
	for _, l := range h.Leaves {
		isLeaf[l.ID] = true
	}
	inVersion := map[string]bool{}
	docs := make([]any, len(h.Events))
	var clids []any
	for i := range h.Events {
		d := h.Events[i]
		d.IsLeaf = isLeaf[d.ID]
		docs[i] = d
		inVersion[d.ID] = true
		if d.Clid != "" {
			clids = append(clids, clidDoc{ID: clidID(d.Cid, d.Clid), Event: d.ID})
		}
	}
	if err := s.step("insert"); err != nil {
		return err
	}
	if _, err := s.events(ct).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); !onlyDuplicates(err) {
		return err
	}
	if err := s.step("clids"); err != nil {
		return err
	}
	if len(clids) > 0 {
		if _, err := s.clids(ct).InsertMany(ctx, clids, options.InsertMany().SetOrdered(false)); !onlyDuplicates(err) {
			return err
		}
	}
	if err := s.step("flags"); err != nil {
		return err
	}
	var parents []string
	for _, d := range h.Events {
		for _, p := range d.Pids {
			if !inVersion[p] && !slices.Contains(parents, p) {
				parents = append(parents, p)
			}
		}
	}
	if err := s.clearLeafFlags(ctx, ct, parents); err != nil {
		return err
	}
	for i := range h.Events {
		if t := h.Events[i].T; t == eventstore.TypeUpdate || t == eventstore.TypeDelete {
			if err := s.step("edit"); err != nil {
				return err
			}
			if err := s.applyEditEvent(ctx, ct, h.Seq, &h.Events[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// clearLeafFlags removes isLeaf from events that have children, in one
// round trip.
func (s *Store) clearLeafFlags(ctx context.Context, ct string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, len(ids))
	for i, id := range ids {
		models[i] = mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).
			SetUpdate(bson.D{{Key: "$unset", Value: bson.D{{Key: "isLeaf", Value: ""}}}})
	}
	return s.conn.BulkUpdate(ctx, s.events(ct), models)
}

// afterCommit does the best-effort upkeep of a new version in the
// background: the registry's hint and dropping old write-ahead copies.
func (s *Store) afterCommit(ct, cid string, seq int64) {
	if seq%hintEvery != 0 && seq%compactEvery != 0 {
		return
	}
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		ctx, cancel := context.WithTimeout(context.Background(), backgroundTimeout)
		defer cancel()
		if seq%hintEvery == 0 {
			_, err := s.contexts().UpdateOne(ctx, bson.D{{Key: "_id", Value: contextKey(ct, cid)}},
				bson.D{{Key: "$max", Value: bson.D{{Key: "seq", Value: seq}}}})
			if err != nil {
				s.log.Warn("recording the head hint", "ct", ct, "cid", cid, "err", err)
			}
		}
		if seq%compactEvery == 0 {
			// Versions below seq are complete (seq could only be claimed after
			// them): their write-ahead copies are no longer needed. The range
			// overlaps the previous one so that a restart leaves no gap.
			var models []mongo.WriteModel
			for v := max(1, seq-compactEvery-hintEvery); v < seq; v++ {
				models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: headID(cid, v)}}).
					SetUpdate(bson.D{{Key: "$unset", Value: bson.D{{Key: "events", Value: ""}}}}))
			}
			if err := s.conn.BulkUpdate(ctx, s.heads(ct), models); err != nil {
				s.log.Warn("dropping old write-ahead copies", "ct", ct, "cid", cid, "err", err)
			}
		}
	}()
}

// onlyDuplicates reports whether err is nil or consists only of duplicate
// key errors (documents that were already written: fine for idempotent
// steps).
func onlyDuplicates(err error) bool {
	if err == nil {
		return true
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) {
		if bwe.WriteConcernError != nil {
			return false
		}
		for _, we := range bwe.WriteErrors {
			if we.Code != 11000 {
				return false
			}
		}
		return len(bwe.WriteErrors) > 0
	}
	var we mongo.WriteException
	if errors.As(err, &we) {
		if we.WriteConcernError != nil {
			return false
		}
		for _, e := range we.WriteErrors {
			if e.Code != 11000 {
				return false
			}
		}
		return len(we.WriteErrors) > 0
	}
	return false
}
