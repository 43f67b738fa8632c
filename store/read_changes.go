package store

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

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
			added = h.local()
		}
		if len(ids) > 0 && len(ids)+len(added) > max {
			break
		}
		ids = append(ids, added...)
		through = v
	}
	k := &known{docs: map[string]*eventDoc{}}
	if err := prefetchIDs(ctx, s, ct, cid, k, ids); err != nil {
		return nil, after, dbError("changes", err)
	}
	for _, id := range ids {
		d := k.docs[id]
		if d == nil {
			return nil, after, eventstore.Errorf(eventstore.EINTERNAL, "event %s of %s/%s is in the head log but not stored", id, ct, cid)
		}
		e, err := d.event()
		if err != nil {
			return nil, after, err
		}
		events = append(events, e)
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
		if err := prefetchIDs(ctx, s, ct, cid, k, queue); err != nil {
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
			e, err := d.event()
			if err != nil {
				return nil, err
			}
			events = append(events, e)
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
	if err := prefetchIDs(ctx, s, ct, cid, k, ids); err != nil {
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

// History calls fn with every event of context ct/cid in timeline
// order, which is parents first: what a new participant stores. The
// events come as written, their d set to o: every server folds d itself
// from the update events. It reads the head log and the events by _id, a batch
// at a time, so it costs O(the context) in any store. It stops at fn's
// first error.
func (s *Store) History(ctx context.Context, ct, cid string, fn func(*eventstore.Event) error) (err error) {
	defer s.observe("history", time.Now(), &err)
	if err := eventstore.ValidateContext(ct, cid); err != nil {
		return err
	}
	latest, err := s.head(ctx, ct, cid)
	if err != nil {
		return err
	}
	return s.walkBatches(ctx, ct, latest, historyBatch, func(ids []string) error {
		events, err := s.eventsByID(ctx, ct, cid, ids)
		if err != nil {
			return err
		}
		for _, e := range events {
			if !e.Deleted {
				e.D = e.O
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// historyBatch is how many events History reads at once.
const historyBatch = 256
