package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/eventstore-go/eventstore/migrations"
)

// Compaction folds old head versions and commit log entries into spans
// (spans.go), so that a store at rest holds about one document per event.
//
// A version's _id is its compare-and-swap: a writer claims version N+1 by
// inserting it, and loses if it exists. Once the compactor deletes the
// document, the insert would succeed, so a writer that still took N for
// the latest could claim N+1 a second time. Two rules keep that from
// happening, in any number of processes:
//
//   - a writer trusts the head it knows for claimFresh at most; after
//     that it reads whether a newer version exists before it claims (and
//     the commit log the same for its next number);
//   - the compactor folds a version only if it is not its context's
//     newest and was written more than CompactAfter ago, which is
//     claimFresh plus a write's timeout (batchTimeout) plus the clock skew
//     allowed between processes.
//
// A writer that claims N+1 knew N as the newest less than claimFresh
// before, and N+1 did not exist then; so N+1 is younger than claimFresh
// plus batchTimeout when the claim arrives, and not folded. Entries are
// folded by the same rule, by the age of the version they name (a void
// one by when it was voided). The clocks of the processes must agree to
// within clockSkew.
//
// claimFresh is as long as that allows (8.5 minutes by default), so that a
// room written again within minutes, as chat rooms are, needs no read
// before its claim.

const (
	// clockSkew is how far the clocks of processes sharing a database may
	// disagree.
	clockSkew = time.Minute
	// minClaimFresh is the least claimFresh.
	minClaimFresh = time.Minute
	// defaultCompactAfter is how old a head version or commit log entry
	// must be to be folded.
	defaultCompactAfter = 10 * time.Minute
	// minCompactAfter is the least CompactAfter that keeps claims safe.
	minCompactAfter = minClaimFresh + batchTimeout + clockSkew
)

// claimFresh is how long a writer builds on the head it knows without
// looking for a newer one: as long as a version another process wrote
// meanwhile is sure not to be folded yet.
func (s *Store) claimFresh() time.Duration {
	return s.opts.CompactAfter - batchTimeout - clockSkew
}

// logFoldedID is the commit log's record of the entries folded so far.
const logFoldedID = migrations.LogEntryPrefix + "folded"

// compactStats is what a compaction did (logged, and read by the tests).
type compactStats struct {
	Contexts int   // contexts looked at: those the commit log names since the last pass
	Versions int64 // head versions folded into spans
	Entries  int64 // commit log entries folded into spans
	Freed    int64 // bytes the embedded store's file gave back
	Skipped  int   // contexts that could not be compacted (logged)
}

// Compact folds every head version and commit log entry old enough
// (Options.CompactAfter) into spans, type by type, visiting the contexts
// that the commit log names since the last pass (compactLog), logging its
// progress every few seconds. It may run while the store is
// written, read and audited, in this process or others, and be stopped
// at any point: a new run goes on where the last one got to.
func (s *Store) Compact(ctx context.Context) error {
	_, err := s.compact(ctx)
	return err
}

// compact is Compact, saying what it did.
func (s *Store) compact(ctx context.Context) (compactStats, error) {
	var st compactStats
	if s.opts.ReadOnly {
		return st, errors.New("a read-only store does not compact")
	}
	s.compacting.Lock()
	defer s.compacting.Unlock()
	types, err := s.LogTypes(ctx)
	if err != nil {
		return st, err
	}
	start := time.Now()
	for _, ct := range types {
		if err := s.compactLog(ctx, ct, &st); err != nil {
			if ctx.Err() != nil {
				return st, ctx.Err()
			}
			return st, dbError("compact", err)
		}
	}
	if st.Versions == 0 && st.Entries == 0 {
		return st, nil
	}
	if st.Freed, err = s.conn.ReclaimSpace(ctx); err != nil {
		return st, dbError("compact", err)
	}
	s.log.Info("compacted", "contexts", st.Contexts, "versions_folded", st.Versions, "entries_folded", st.Entries,
		"bytes_freed", st.Freed, "took", time.Since(start).Round(time.Millisecond))
	return st, nil
}

// foldedFrom is the version context ct/cid is folded through, from the
// contexts registry.
func (s *Store) foldedFrom(ctx context.Context, ct, cid string) (int64, error) {
	var d contextDoc
	_, err := findByID(ctx, s.contexts(), contextKey(ct, cid), &d)
	return d.Folded, err
}

// visitContexts compacts the contexts of cids that this pass has not
// visited yet. One context's trouble (the audit reports it) does not hold
// up the others.
func (s *Store) visitContexts(ctx context.Context, ct string, cids []string, visited map[string]bool, st *compactStats) error {
	for _, cid := range cids {
		if visited[cid] {
			continue
		}
		visited[cid] = true
		from, err := s.foldedFrom(ctx, ct, cid)
		if err == nil {
			var n int64
			n, err = s.compactContext(ctx, ct, cid, from)
			st.Versions += n
		}
		st.Contexts++
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.Warn("compacting a context", "ct", ct, "cid", cid, "err", err)
			st.Skipped++
		}
	}
	return nil
}

// compactContext folds the old versions of ct/cid after version from,
// span by span, and returns how many it folded.
func (s *Store) compactContext(ctx context.Context, ct, cid string, from int64) (int64, error) {
	latest, err := s.latestHead(ctx, ct, cid, 0, nil)
	if err != nil || latest == nil {
		return 0, err
	}
	cutoff := bson.DateTime(s.opts.Now().Add(-s.opts.CompactAfter).UnixMilli())
	var folded int64
	var batch []*head
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		lines := make([]string, len(batch))
		ids := make([]string, len(batch))
		for i, h := range batch {
			lines[i], ids[i] = foldedLine(h), headID(cid, h.Seq)
		}
		last := batch[len(batch)-1].Seq
		if err := s.writeSpan(ctx, ct, versionSpanID(cid, last), cid, lines); err != nil {
			return err
		}
		if err := s.deleteByID(ctx, ct, cid, ids); err != nil {
			return err
		}
		err := s.conn.Write(ctx, func() error {
			_, err := s.contexts().UpdateOne(ctx, bson.D{{Key: "_id", Value: contextKey(ct, cid)}},
				bson.D{{Key: "$max", Value: bson.D{{Key: "folded", Value: last}}}})
			return err
		})
		folded += int64(len(batch))
		batch = batch[:0]
		return err
	}
	for seq := from + 1; seq < latest.Seq; seq++ {
		var d headDoc
		found, err := s.findIn(ctx, ct, cid, headID(cid, seq), &d)
		if err != nil {
			return folded, err
		}
		if !found {
			if h, err := s.foldedVersion(ctx, ct, cid, seq); err != nil || h == nil {
				return folded, err // missing: the audit reports it
			}
			continue // folded by a run that stopped before it recorded so
		}
		if d.Head.At > cutoff {
			break
		}
		if len(batch) > 0 && versionSpanID(cid, seq) != versionSpanID(cid, batch[0].Seq) {
			if err := flush(); err != nil {
				return folded, err
			}
		}
		batch = append(batch, &d.Head)
	}
	return folded, flush()
}

// compactLog folds the old entries of ct's commit log, span by span, and
// before it folds an entry it compacts the context the entry names: the
// log says which contexts were written since the last pass, so a pass
// visits those, not every context of the store (an idle store's pass
// reads one entry per type). A context's versions that are not old yet
// when its entries fold are the newest it has, or are followed by a
// newer entry, which a later pass visits.
func (s *Store) compactLog(ctx context.Context, ct string, st *compactStats) error {
	var marker struct {
		N int64 `bson:"n"`
	}
	if _, err := s.findIn(ctx, ct, migrations.LogCid, logFoldedID, &marker); err != nil {
		return err
	}
	cutoff := bson.DateTime(s.opts.Now().Add(-s.opts.CompactAfter).UnixMilli())
	visited := map[string]bool{}
	logged := time.Now()
	var lines, ids, cids []string
	first, last := int64(0), int64(0)
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		if err := s.visitContexts(ctx, ct, cids, visited, st); err != nil {
			return err
		}
		if err := s.writeSpan(ctx, ct, entrySpanID(last), migrations.LogCid, lines); err != nil {
			return err
		}
		if err := s.deleteByID(ctx, ct, migrations.LogCid, ids); err != nil {
			return err
		}
		err := s.upsertByID(ctx, ct, migrations.LogCid, logFoldedID, bson.D{{Key: "$max", Value: bson.D{{Key: "n", Value: last}}}})
		st.Entries += int64(len(lines))
		lines, ids, cids = lines[:0], ids[:0], cids[:0]
		if time.Since(logged) >= 5*time.Second {
			s.log.Info("compacting", "ct", ct, "entries_folded", st.Entries, "contexts", st.Contexts, "versions_folded", st.Versions)
			logged = time.Now()
		}
		return err
	}
	n := marker.N + 1
	for ; ; n++ {
		var d logDoc
		found, err := s.findIn(ctx, ct, migrations.LogCid, migrations.LogEntryID(n), &d)
		d.upgrade()
		if err != nil {
			return err
		}
		if !found {
			line, err := s.spanLine(ctx, ct, migrations.LogCid, entrySpanID(n), n)
			if err != nil || line == "" {
				break // a hole or the end: readers wait for it or void it
			}
			// Folded by a pass that stopped before it recorded so: its
			// context may not have been visited.
			if _, e, err := parseEntryLine(line); err == nil && !e.Void {
				if err := s.visitContexts(ctx, ct, []string{e.Cid}, visited, st); err != nil {
					return err
				}
			}
			continue
		}
		old, err := s.entryAge(ctx, ct, &d, cutoff)
		if err != nil || !old {
			if err := flush(); err != nil {
				return err
			}
			return err
		}
		if len(lines) > 0 && entrySpanID(n) != entrySpanID(first) {
			if err := flush(); err != nil {
				return err
			}
		}
		if len(lines) == 0 {
			first = n
		}
		lines, ids, last = append(lines, entryLine(n, &d)), append(ids, d.ID), n
		if !d.Void {
			cids = append(cids, d.Cid)
		}
	}
	return flush()
}

// entryAge says whether entry d is older than cutoff, by the version it
// names; an orphan (its claim lost the version) becomes void. A void entry
// without a date (voided before they had one), or one whose version is
// not stored, is dated now, and folds a compaction age later: by then no
// claim can still be on its way.
func (s *Store) entryAge(ctx context.Context, ct string, d *logDoc, cutoff bson.DateTime) (bool, error) {
	if !d.Void {
		v, err := s.readHead(ctx, ct, d.Cid, d.Seq)
		if err != nil {
			return false, err
		}
		if v != nil {
			if v.Log != d.numberOf() {
				d.Void = true
			}
			return v.At <= cutoff, nil
		}
	}
	if d.At != 0 {
		d.Void = true
		return d.At <= cutoff, nil
	}
	err := s.conn.Write(ctx, func() error {
		_, err := s.events(ct).UpdateOne(ctx, s.byID(migrations.LogCid, d.ID),
			bson.D{{Key: "$set", Value: bson.D{{Key: "at", Value: bson.DateTime(s.opts.Now().UnixMilli())}}}})
		return err
	})
	return false, err
}

// writeSpan adds lines to span id of context cid (migrations.LogCid: an
// entry span), creating it, and reads it back: the lines must all be
// there before what they hold is deleted. $addToSet appends atomically on
// MongoDB, where several processes may compact at once; a line written
// twice is the same line.
func (s *Store) writeSpan(ctx context.Context, ct, id, cid string, lines []string) error {
	set := bson.D{{Key: "$addToSet", Value: bson.D{{Key: "folded", Value: bson.D{{Key: "$each", Value: lines}}}}}}
	if err := s.upsertByID(ctx, ct, cid, id, set); err != nil {
		return err
	}
	d, err := s.readSpan(ctx, ct, cid, id, true)
	if err != nil {
		return err
	}
	for _, line := range lines {
		if d == nil || !slices.Contains(d.Folded, line) {
			return fmt.Errorf("span %s lacks %q after writing it", id, line)
		}
	}
	return nil
}

// upsertByID applies update to document id of context cid in
// <ct>_events, creating it, with its cid, if need be. Two upserts racing
// to create it: one fails on the duplicate _id, and is then an update.
func (s *Store) upsertByID(ctx context.Context, ct, cid, id string, update bson.D) error {
	update = append(update, bson.E{Key: "$set", Value: bson.D{{Key: "cid", Value: cid}}})
	upsert := func() error {
		return s.conn.Write(ctx, func() error {
			_, err := s.events(ct).UpdateOne(ctx, s.byID(cid, id), update, options.UpdateOne().SetUpsert(true))
			return err
		})
	}
	err := upsert()
	if mongo.IsDuplicateKeyError(err) {
		err = upsert()
	}
	return err
}

// deleteByID deletes documents of context cid from <ct>_events by _id
// (database.Conn.DeleteByIDs: one transaction on the embedded store).
func (s *Store) deleteByID(ctx context.Context, ct, cid string, ids []string) error {
	return s.conn.DeleteByIDs(ctx, migrations.EventsCollection(ct), ids, func(id string) bson.D { return s.byID(cid, id) })
}
