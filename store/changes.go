package store

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
)

// Changes returns the events that head versions after version `after`
// added to context ct/cid, in the order they were written (parents first);
// with local, only those created by this server, which are the only ones
// read. It reads whole versions, as many as fit max events (at least one),
// and returns the last version it read: the cursor for the next call. A
// context with nothing new returns after itself. Federation pushes what
// changed with it.
func (s *Store) Changes(ctx context.Context, ct, cid string, after int64, max int, local bool) (events []*eventstore.Event, through int64, err error) {
	defer s.observe("changes", time.Now(), &err)
	if err := eventstore.ValidateContext(ct, cid); err != nil {
		return nil, after, err
	}
	latest, err := s.head(ctx, ct, cid)
	if err != nil {
		return nil, after, err
	}
	through = after
	var ids []string
	for v := after + 1; v <= latest.Seq; v++ {
		h := latest
		if v != latest.Seq {
			if h, err = s.readHead(ctx, ct, cid, v); err != nil {
				return nil, after, dbError("changes", err)
			}
			if h == nil {
				return nil, after, eventstore.Errorf(eventstore.EINTERNAL, "head version %d of %s/%s is missing", v, ct, cid)
			}
		}
		added := h.Added
		if local {
			added = h.Local
		}
		if len(ids) > 0 && len(ids)+len(added) > max {
			break
		}
		ids = append(ids, added...)
		through = v
	}
	k := &known{docs: map[string]*eventDoc{}}
	if err := prefetchIDs(ctx, s, ct, k, ids); err != nil {
		return nil, after, dbError("changes", err)
	}
	for _, id := range ids {
		d := k.docs[id]
		if d == nil {
			return nil, after, eventstore.Errorf(eventstore.EINTERNAL, "event %s of %s/%s is in the head log but not stored", id, ct, cid)
		}
		events = append(events, d.event())
	}
	return events, through, nil
}

// Missing walks back from the events want over their parents and returns
// the ones found, stopping at the events in have, at most limit of them,
// parents first. A server that received an event whose parents it lacks
// asks its sender for them this way.
func (s *Store) Missing(ctx context.Context, ct, cid string, want, have []string, limit int) (events []*eventstore.Event, err error) {
	defer s.observe("missing", time.Now(), &err)
	if err := eventstore.ValidateContext(ct, cid); err != nil {
		return nil, err
	}
	for _, id := range append(slices.Clone(want), have...) {
		if err := hashing.ValidateEventID(id); err != nil {
			return nil, eventstore.WrapError(eventstore.EINVALID, err)
		}
	}
	stop := map[string]bool{}
	for _, id := range have {
		stop[id] = true
	}
	queue := slices.Clone(want)
	k := &known{docs: map[string]*eventDoc{}}
	for len(queue) > 0 && len(events) < limit {
		if err := prefetchIDs(ctx, s, ct, k, queue); err != nil {
			return nil, dbError("missing", err)
		}
		var next []string
		for _, id := range queue {
			if stop[id] || len(events) >= limit {
				continue
			}
			stop[id] = true
			d := k.docs[id]
			if d == nil || d.Cid != cid {
				continue
			}
			events = append(events, d.event())
			next = append(next, d.Pids...)
		}
		queue = next
	}
	slices.SortFunc(events, func(a, b *eventstore.Event) int {
		if a.TS != b.TS {
			return cmp.Compare(a.TS, b.TS)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return events, nil
}

// VersionTime is when head version seq of a context was written.
func (s *Store) VersionTime(ctx context.Context, ct, cid string, seq int64) (time.Time, error) {
	h, err := s.readHead(ctx, ct, cid, seq)
	if err != nil {
		return time.Time{}, dbError("version", err)
	}
	if h == nil {
		return time.Time{}, eventstore.Errorf(eventstore.ENOTFOUND, "head version %d of %s/%s does not exist", seq, ct, cid)
	}
	return h.At.Time(), nil
}

// Has reports which of ids are stored in context ct/cid.
func (s *Store) Has(ctx context.Context, ct, cid string, ids []string) (map[string]bool, error) {
	if err := eventstore.ValidateContext(ct, cid); err != nil {
		return nil, err
	}
	k := &known{docs: map[string]*eventDoc{}}
	if err := prefetchIDs(ctx, s, ct, k, ids); err != nil {
		return nil, dbError("has", err)
	}
	out := map[string]bool{}
	for _, id := range ids {
		if d := k.docs[id]; d != nil && d.Cid == cid {
			out[id] = true
		}
	}
	return out, nil
}

// History calls fn with every event of context ct/cid, parents first,
// from one cursor: what a new participant stores. The events come as
// written, without d (which every server folds itself from the update
// events). It stops at fn's first error.
//
// MongoDB reads in (ts, _id) order along the cid_ts_id index, which is
// parents first (an event's ts is after its parents'). FerretDB would sort
// in memory after reading the whole collection, holding the stream back,
// so there the events come unsorted: in SQLite's rowid order, which is
// insertion order (FerretDB sorts by $natural only on capped collections),
// parents first as well (an event is stored only after its parents).
// Either way an event is passed on only after its parents, held back until
// then if need be.
func (s *Store) History(ctx context.Context, ct, cid string, fn func(*eventstore.Event) error) (err error) {
	defer s.observe("history", time.Now(), &err)
	if err := eventstore.ValidateContext(ct, cid); err != nil {
		return err
	}
	if _, err := s.head(ctx, ct, cid); err != nil {
		return err
	}
	opts := options.Find().SetBatchSize(1000).SetProjection(bson.D{{Key: "d", Value: 0}, {Key: "dFold", Value: 0}})
	if s.conn.dialect.streamsSorted() {
		opts.SetSort(bson.D{{Key: "ts", Value: 1}, {Key: "_id", Value: 1}})
	}
	cur, err := s.events(ct).Find(ctx, EventsOf(cid), opts)
	if err != nil {
		return dbError("history", err)
	}
	defer cur.Close(ctx)
	order := newParentsFirst(fn)
	for cur.Next(ctx) {
		d := new(eventDoc)
		if err := cur.Decode(d); err != nil {
			return dbError("history", err)
		}
		if err := order.add(d); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return dbError("history", err)
	}
	if n := len(order.held); n > 0 {
		return eventstore.Errorf(eventstore.EINTERNAL, "%d events of %s/%s have parents that are not stored (run eventstore verify)", n, ct, cid)
	}
	return nil
}

// parentsFirst passes events on in an order where parents come before
// their children, holding back those that arrive before a parent.
type parentsFirst struct {
	fn      func(*eventstore.Event) error
	passed  map[string]bool
	held    map[string]*heldEvent
	waiting map[string][]string // a parent not passed yet → events held for it
}

type heldEvent struct {
	doc     *eventDoc
	missing int
}

func newParentsFirst(fn func(*eventstore.Event) error) *parentsFirst {
	return &parentsFirst{fn: fn, passed: map[string]bool{}, held: map[string]*heldEvent{}, waiting: map[string][]string{}}
}

func (o *parentsFirst) add(d *eventDoc) error {
	missing := 0
	for _, p := range uniq(d.Pids) {
		if !o.passed[p] {
			missing++
			o.waiting[p] = append(o.waiting[p], d.ID)
		}
	}
	if missing > 0 {
		o.held[d.ID] = &heldEvent{doc: d, missing: missing}
		return nil
	}
	ready := []*eventDoc{d}
	for len(ready) > 0 {
		d := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		if err := o.fn(d.event()); err != nil {
			return err
		}
		o.passed[d.ID] = true
		for _, id := range o.waiting[d.ID] {
			h := o.held[id]
			if h.missing--; h.missing == 0 {
				delete(o.held, id)
				ready = append(ready, h.doc)
			}
		}
		delete(o.waiting, d.ID)
	}
	return nil
}
