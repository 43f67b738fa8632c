package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventstore-go/eventstore"

	"github.com/eventstore-go/eventstore/internal/database"
)

// Phase 2: each busy context has a writer, which queues the requests of
// this process and writes them in batches, one batch at a time (group
// commit): plan.go plans a batch, claim.go claims and completes it.

// MaxBatchEvents is how many events one head version adds at most: with
// the version and its commit log entry, one FerretDB insert batch. Callers that hand the store
// events in batches (a history a peer sends) use it as their batch size.
const MaxBatchEvents = database.FerretBatch - 2 // and its commit log entry

const (
	maxBatchEvents    = MaxBatchEvents
	maxBatchBytes     = 4 << 20          // data bytes per head version (MongoDB documents stop at 16 MiB)
	maxClaimAttempts  = 1000             // claims lost in a row before a batch gives up (batchTimeout bounds it too)
	batchTimeout      = 30 * time.Second // a batch outlives the request that started it
	backgroundTimeout = 30 * time.Second
)

// writer serializes the writes of this process to one context and groups
// concurrent requests into batches (see the package documentation).
type writer struct {
	ct, cid string

	mu        sync.Mutex // held by the goroutine writing a batch
	head      *head      // the latest version this writer knows complete; nil: unknown
	verified  time.Time  // when head was last known to be the latest (see claimFresh)
	idleTimer *time.Timer
	hinted    int64 // the version last recorded in the registry

	// latest is the newest version this store has read or written:
	// readers start from it, and a writer that lost a claim takes the
	// version after it for the winner's.
	latest atomic.Pointer[head]

	// taken: clids the batch being written found used, and their events
	// (claim_insert.go); reset for every batch.
	taken map[string]*eventstore.Event

	qmu   sync.Mutex
	queue []*request
}

// knownSeq is the number of the newest version this store has seen.
func (w *writer) knownSeq() int64 {
	if h := w.latest.Load(); h != nil {
		return h.Seq
	}
	return 0
}

// setHead records h (complete) as the version to build on, as of now.
func (w *writer) setHead(h *head, now time.Time) {
	w.head, w.verified = h, now
	w.saw(h)
}

// saw records that version h exists, unless a newer one is known.
func (w *writer) saw(h *head) {
	for {
		cur := w.latest.Load()
		if cur != nil && cur.Seq >= h.Seq || w.latest.CompareAndSwap(cur, h) {
			return
		}
	}
}

func (s *Store) writerFor(ct, cid string) *writer {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := contextKey(ct, cid)
	w := s.writers[key]
	if w == nil {
		w = &writer{ct: ct, cid: cid}
		s.writers[key] = w
	}
	return w
}

// submit queues r on its context's writer and returns when r is done,
// either in a batch this goroutine writes or in one another goroutine
// wrote while this one waited.
func (s *Store) submit(ctx context.Context, ct, cid string, r *request) {
	if s.opts.ReadOnly {
		r.err = eventstore.Errorf(eventstore.EUNAVAILABLE, "this store was opened read-only")
		return
	}
	if err := s.prepareType(ctx, ct); err != nil {
		r.err = dbError("prepare", err)
		return
	}
	w := s.writerFor(ct, cid)
	w.qmu.Lock()
	w.queue = append(w.queue, r)
	w.qmu.Unlock()

	w.mu.Lock()
	defer w.mu.Unlock()
	if r.done {
		return
	}
	w.qmu.Lock()
	queued := w.queue
	w.queue = nil
	w.qmu.Unlock()

	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	for len(queued) > 0 {
		n := batchSize(queued)
		s.writeBatch(bctx, w, queued[:n])
		queued = queued[n:]
	}
}

// batchSize is how many requests from the front of the queue fit a batch.
func batchSize(queue []*request) int {
	events, bytes := 0, 0
	for i, r := range queue {
		n := 1
		if r.kind == kindIngest {
			n = len(r.remote)
		}
		events += n
		bytes += len(r.o)
		for _, e := range r.remote {
			bytes += len(e.O)
		}
		if i > 0 && (events > maxBatchEvents || bytes > maxBatchBytes) {
			return i
		}
	}
	return len(queue)
}

// writeBatch writes one batch: plan it against the latest head, claim the
// next version, complete it (advance), then answer its requests.
func (s *Store) writeBatch(ctx context.Context, w *writer, batch []*request) {
	w.taken = nil
	var p *plan
	next, err := s.advance(ctx, w, func(h *head) (*head, []eventDoc, error) {
		var err error
		if p, err = s.plan(ctx, w, batch); err != nil {
			return nil, nil, err
		}
		return p.next, p.docs, nil
	})
	if err != nil {
		for _, r := range batch {
			if !r.done {
				r.err, r.done = err, true
			}
		}
		return
	}
	p.apply()
	if next == nil { // nothing was written: every request has its answer
		return
	}
	s.scheduleIdle(w)
	s.tellFollowers(w.ct, w.cid, p.events())
}
