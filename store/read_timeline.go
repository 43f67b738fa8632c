package store

import (
	"cmp"
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/sync/errgroup"

	"github.com/eventstore-go/eventstore"
)

// A context's timeline on this server is its head log read in order:
// version v adds the events Added, at positions Pos-len(Added)+1 … Pos, so
// positions p…q are read as the versions that hold them, by _id, and then
// their events, by _id. Nothing scans: on FerretDB, where only {_id: value}
// reaches SQLite, a page costs the same in any store; on MongoDB as well.

// Cursor is a boundary in a context's timeline: just after the event at
// position Pos, which is Added[Index] of head version Seq. Index -1 is the
// boundary before that version's first event (Pos is then the position
// before it); the start of the timeline is {Pos: 0, Seq: 1, Index: -1}.
type Cursor struct {
	Pos   int64
	Seq   int64
	Index int
}

// StartCursor is the boundary before a context's first event.
var StartCursor = Cursor{Pos: 0, Seq: 1, Index: -1}

// direction is the order a walk takes through the timeline.
type direction int

const (
	forward  direction = iota // oldest first, after the cursor
	backward                  // newest first, up to the cursor
)

// Limits of a listing page.
const (
	defaultListLimit = 100
	MaxListLimit     = 1000
)

// ListQuery selects a page of a context's timeline.
type ListQuery struct {
	From *Cursor // a boundary from a page or a stream; nil: the start (oldest first) or the newest event (Backward)
	// Backward lists newest first, up to From; by default a page lists
	// oldest first, after From.
	Backward bool
	Limit    int    // 1..MaxListLimit; 0 means 100
	T        string // an event type, or a prefix "message.*"; "" for all
}

// Page is one page of a context's timeline.
type Page struct {
	Events  []*eventstore.Event // in the query's direction
	Cursors []Cursor            // the boundary just after each event
	Start   Cursor              // the boundary the page starts at
	// End is the boundary past everything the page covers, in its
	// direction: past its last event, and past the events of other types
	// that a filter skipped after it, to the end of the timeline if the
	// page reached it.
	End  Cursor
	Next *Cursor // End, if the timeline goes on in that direction; nil at its end
}

// List returns a page of context ct/cid's timeline. It fails with
// ENOTFOUND if the context does not exist, EINVALID for a bad query and
// EBADCURSOR for a cursor that is not a boundary of this context's
// timeline (package stream writes and reads cursors as text).
func (s *Store) List(ctx context.Context, ct, cid string, q ListQuery) (page *Page, err error) {
	defer s.observe("list", time.Now(), &err)
	if err := eventstore.ValidateContext(ct, cid); err != nil {
		return nil, err
	}
	if q.Limit == 0 {
		q.Limit = defaultListLimit
	}
	if q.Limit < 1 || q.Limit > MaxListLimit {
		return nil, eventstore.Errorf(eventstore.EINVALID, "limit must be between 1 and %d", MaxListLimit)
	}
	filter, err := eventstore.ParseTypeFilter(q.T)
	if err != nil {
		return nil, err
	}
	latest, err := s.head(ctx, ct, cid)
	if err != nil {
		return nil, err
	}
	from := latest.end()
	dir := backward
	if !q.Backward {
		dir, from = forward, StartCursor
	}
	if q.From != nil {
		from = *q.From
	}
	var ids []string
	var cursors []Cursor
	end := from
	more, err := s.walk(ctx, ct, latest, from, dir, q.Limit+1, func(id, t string, at Cursor) bool {
		match := filter.Match(t)
		if match && len(ids) == q.Limit {
			return false
		}
		if end = at; dir == backward {
			end = before(at)
		}
		if match {
			ids, cursors = append(ids, id), append(cursors, at)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	events, err := s.eventsByID(ctx, ct, cid, ids)
	if err != nil {
		return nil, err
	}
	page = &Page{Events: events, Cursors: cursors, Start: from, End: end}
	if more {
		page.Next = &page.End
	}
	markLeaves(latest, events)
	return page, nil
}

// before is the boundary just before the event after boundary c.
func before(c Cursor) Cursor { return Cursor{Pos: c.Pos - 1, Seq: c.Seq, Index: c.Index - 1} }

// end is the boundary after the newest event of h's timeline.
func (h *head) end() Cursor { return Cursor{Pos: h.Pos, Seq: h.Seq, Index: len(h.Added) - 1} }

// first is the position of the first event version h adds.
func (h *head) first() int64 { return h.Pos - int64(len(h.Added)) + 1 }

// markLeaves sets IsLeaf on the events that are leaves of h.
func markLeaves(h *head, events []*eventstore.Event) {
	leaves := make(map[string]bool, len(h.Leaves))
	for _, l := range h.Leaves {
		leaves[l.ID] = true
	}
	for _, e := range events {
		e.IsLeaf = leaves[e.ID]
	}
}

// walk calls visit with each event of the timeline from boundary c in
// direction dir — its id, type and the cursor just after it — until visit
// returns false (walk then reports true: there is more) or the timeline
// ends. latest is the newest version; versions are read by _id, a round of
// them at once: enough for the events the caller expects to want, then
// rounds growing while visit keeps asking for more.
func (s *Store) walk(ctx context.Context, ct string, latest *head, c Cursor, dir direction, want int, visit func(id, t string, at Cursor) bool) (bool, error) {
	at, err := s.checkCursor(ctx, ct, latest, c) // the cursor's version, read once
	if err != nil {
		return false, err
	}
	seq, step := c.Seq, int64(1)
	if dir == backward {
		step = -1
	}
	// The first round holds about as many versions as want events need at
	// the context's average events per version (a batch of 98 ingested
	// events is one version); later rounds double.
	perVersion := max(float64(latest.Pos)/float64(latest.Seq), 1)
	round := int64(min(max(float64(want)/perVersion+1, 1), 256))
	for seq >= 1 && seq <= latest.Seq {
		n := round
		if dir == forward {
			n = min(n, latest.Seq-seq+1)
		} else {
			n = min(n, seq)
		}
		seqs := make([]int64, n)
		for i := range seqs {
			seqs[i] = seq + int64(i)*step
		}
		versions, err := s.versions(ctx, ct, latest, at, seqs)
		if err != nil {
			return false, err
		}
		for _, v := range versions {
			if len(v.Types) != len(v.Added) || v.Pos < int64(len(v.Added)) {
				return false, eventstore.Errorf(eventstore.EINTERNAL, "head version %d of %s/%s has no positions (run eventstore migrate)", v.Seq, ct, v.Cid)
			}
			lo, hi := 0, len(v.Added)-1
			if v.Seq == c.Seq {
				if dir == forward {
					lo = c.Index + 1
				} else {
					hi = c.Index
				}
			}
			if dir == forward {
				for i := lo; i <= hi; i++ {
					if !visit(v.Added[i], v.Types[i], Cursor{Pos: v.first() + int64(i), Seq: v.Seq, Index: i}) {
						return true, nil
					}
				}
			} else {
				for i := hi; i >= lo; i-- {
					if !visit(v.Added[i], v.Types[i], Cursor{Pos: v.first() + int64(i), Seq: v.Seq, Index: i}) {
						return true, nil
					}
				}
			}
		}
		seq += n * step
		round = min(round*2, 256)
	}
	return false, nil
}

// walkBatches walks latest's whole timeline forward and hands the event
// ids to fn n at a time, in order, until fn fails.
func (s *Store) walkBatches(ctx context.Context, ct string, latest *head, n int, fn func(ids []string) error) error {
	var ids []string
	var ferr error
	_, err := s.walk(ctx, ct, latest, StartCursor, forward, n, func(id, _ string, _ Cursor) bool {
		if ids = append(ids, id); len(ids) == n {
			ferr, ids = fn(ids), ids[:0]
		}
		return ferr == nil
	})
	if err == nil && ferr == nil && len(ids) > 0 {
		ferr = fn(ids)
	}
	return cmp.Or(err, ferr)
}

// checkCursor refuses a cursor that does not name a boundary of this
// context's timeline as it is (one from a store since wiped, say), and
// returns the version it is in (latest for the start).
func (s *Store) checkCursor(ctx context.Context, ct string, latest *head, c Cursor) (*head, error) {
	if c == StartCursor {
		return latest, nil
	}
	bad := eventstore.Errorf(eventstore.EBADCURSOR, "the cursor is not a position of %s/%s on this server", ct, latest.Cid)
	if c.Seq < 1 || c.Seq > latest.Seq {
		return nil, bad
	}
	v := latest
	if c.Seq != latest.Seq {
		var err error
		if v, err = s.readHead(ctx, ct, latest.Cid, c.Seq); err != nil {
			return nil, dbError("cursor", err)
		}
	}
	if v == nil || c.Index < -1 || c.Index >= len(v.Added) || c.Pos != v.first()+int64(c.Index) {
		return nil, bad
	}
	return v, nil
}

// versionReads bounds the head versions a walk reads at once.
const versionReads = 8

// versions reads the head versions seqs of latest's context (latest and
// have, a version read already, from memory), in that order: concurrently
// by _id, or on MongoDB by one find along the cid_seq index.
func (s *Store) versions(ctx context.Context, ct string, latest, have *head, seqs []int64) ([]*head, error) {
	if s.conn.Backend().ReadsRanges() && len(seqs) > 1 {
		return s.versionRange(ctx, ct, latest, seqs)
	}
	out := make([]*head, len(seqs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(versionReads)
	for i, seq := range seqs {
		switch seq {
		case latest.Seq:
			out[i] = latest
			continue
		case have.Seq:
			out[i] = have
			continue
		}
		g.Go(func() error {
			h, err := s.readHead(gctx, ct, latest.Cid, seq)
			if err != nil {
				return dbError("timeline", err)
			}
			if h == nil {
				return eventstore.Errorf(eventstore.EINTERNAL, "head version %d of %s/%s is missing (run eventstore verify)", seq, ct, latest.Cid)
			}
			out[i] = h
			return nil
		})
	}
	return out, g.Wait()
}

// versionRange is versions on MongoDB: seqs are consecutive (either way).
func (s *Store) versionRange(ctx context.Context, ct string, latest *head, seqs []int64) ([]*head, error) {
	lo, hi := min(seqs[0], seqs[len(seqs)-1]), max(seqs[0], seqs[len(seqs)-1])
	cur, err := s.events(ct).Find(ctx, bson.D{{Key: "cid", Value: latest.Cid},
		{Key: "head.seq", Value: bson.D{{Key: "$gte", Value: lo}, {Key: "$lte", Value: hi}}}})
	if err != nil {
		return nil, dbError("timeline", err)
	}
	var docs []headDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, dbError("timeline", err)
	}
	bySeq := make(map[int64]*head, len(docs))
	for i := range docs {
		bySeq[docs[i].Head.Seq] = &docs[i].Head
	}
	out := make([]*head, len(seqs))
	for i, seq := range seqs {
		if out[i] = bySeq[seq]; out[i] == nil {
			if out[i], err = s.foldedVersion(ctx, ct, latest.Cid, seq); err != nil {
				return nil, dbError("timeline", err)
			}
		}
		if out[i] == nil {
			return nil, eventstore.Errorf(eventstore.EINTERNAL, "head version %d of %s/%s is missing (run eventstore verify)", seq, ct, latest.Cid)
		}
	}
	return out, nil
}

// eventsByID reads the events ids of context ct/cid, in that order; each
// must be stored (the head log names them).
func (s *Store) eventsByID(ctx context.Context, ct, cid string, ids []string) ([]*eventstore.Event, error) {
	k := &known{docs: map[string]*eventDoc{}}
	if err := prefetchIDs(ctx, s, ct, cid, k, ids); err != nil {
		return nil, dbError("events", err)
	}
	events := make([]*eventstore.Event, 0, len(ids))
	for _, id := range ids {
		d := k.docs[id]
		if d == nil || d.Cid != cid {
			return nil, eventstore.Errorf(eventstore.EINTERNAL, "event %s of %s/%s is in the head log but not stored (run eventstore verify)", id, ct, cid)
		}
		e, err := d.event()
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, nil
}
