package store

import (
	"context"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"
)

// Phase 1 for events from elsewhere: IngestFrom checks a peer's events and
// hands them, context by context, to the writers (queue.go); they are
// planned in plan_ingest.go.

// IngestStatus is what became of one remote event.
type IngestStatus string

const (
	Stored         IngestStatus = "stored"
	Duplicate      IngestStatus = "duplicate"       // already stored: nothing done
	MissingParents IngestStatus = "missing_parents" // parents (or an edit's target) are not here yet
	Refused        IngestStatus = "refused"         // invalid; Err says why
)

// IngestResult is the outcome for one event given to IngestFrom.
type IngestResult struct {
	ID      string
	Status  IngestStatus
	Missing []string // with MissingParents
	Err     error    // with Refused
	// NeedsOrigin: refused because it arrived deleted, from a server that
	// is not its origin, without the event.delete naming it. Ask its origin
	// (src) for it.
	NeedsOrigin bool
}

// IngestFrom stores events received from server from ("" when no server
// vouches for them: a copy, a test) as they are (their pids, ts and src),
// after checking their hashes. Parents must be present (stored, or earlier
// in events), so events are given parents first; already stored events are
// no-ops. Events of several contexts may be mixed. The error is for the
// call as a whole (the database failed); per-event outcomes are in the
// results, in the order of events.
//
// An event that arrives deleted (no o) is stored only with its proof: an
// event.delete naming it in the same call, or from being the word of its
// own origin (src == from). Otherwise anyone relaying it could redact
// another server's event in transit (its id still verifies without o); it
// is refused with NeedsOrigin, to be asked of its origin.
func (s *Store) IngestFrom(ctx context.Context, from string, events []*eventstore.Event) (results []IngestResult, err error) {
	defer s.observe("ingest", time.Now(), &err)
	proofed := map[string]bool{}
	for _, e := range events {
		if e.T == eventstore.TypeDelete && e.O != nil {
			if target, _, err := edits.Parse(e.T, e.O); err == nil {
				proofed[target] = true
			}
		}
	}
	results = make([]IngestResult, len(events))
	valid := make([]*eventstore.Event, len(events)) // nil: refused
	for i, e := range events {
		results[i] = IngestResult{ID: e.ID}
		if err := e.Verify(); err != nil {
			results[i].Status, results[i].Err = Refused, err
			continue
		}
		valid[i] = e
	}
	groups := eventstore.GroupByContext(valid)
	for _, g := range groups {
		if len(g.Events[0].Pids) == 0 {
			if err := s.prepareType(ctx, g.Ct); err != nil {
				return nil, dbError("prepare", err)
			}
			if err := s.register(ctx, g.Ct, g.Cid); err != nil {
				return nil, err
			}
		}
		// A version holds at most maxBatchEvents events.
		for at := 0; at < len(g.Events); at += maxBatchEvents {
			to := min(at+maxBatchEvents, len(g.Events))
			r := &request{kind: kindIngest, remote: g.Events[at:to], from: from, proofed: proofed}
			s.submit(ctx, g.Ct, g.Cid, r)
			if r.err != nil {
				return nil, r.err
			}
			for j, res := range r.ingest {
				results[g.Index[at+j]] = res
			}
		}
	}
	return results, nil
}
