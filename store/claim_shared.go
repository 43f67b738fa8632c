package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/eventstore-go/eventstore/internal/database"
)

// Group commit across contexts.
//
// A claim (claim.go) is one atomic insert of a version with its commit log
// entry and events. Claims of different contexts of one type that are
// ready at the same moment share one insert: while one shared insert is
// being written, the next claims queue, and the next insert writes them
// all (at most database.FerretBatch documents, so one SQLite transaction on
// FerretDB, one transaction on MongoDB). The insert holds every claim's
// entry and version first, then every claim's events (sharedLayout). Each
// claim is still a compare-and-swap on its own version's _id, and every
// claim gets the answer its own insert would have had:
//
//   - no error: every claim of the insert won;
//   - a duplicate key at document i (another process claimed that
//     version or log number): the claim holding i gets that error, as if
//     it had been inserted alone. On FerretDB the insert then went on
//     document by document, in order, up to i, so the claims whose entry
//     and version come before i are in: they won, and their events are
//     written then. The claims after i were not tried and are inserted
//     again at once, without it. On MongoDB the transaction wrote nothing,
//     and every other claim is tried again;
//   - a duplicate key at an unknown document (inside a MongoDB
//     transaction): each claim is tried again on its own;
//   - any other error: on MongoDB every claim gets it (the transaction
//     wrote nothing). FerretDB, after any failed batch, goes on document
//     by document and stops at the first failure, so what came before it
//     is written: a claim whose version is stored has won (its missing
//     documents are written then), the others get the error.
//
// One window is wider than with a claim inserted alone: after a failed
// batch on FerretDB, a claim that won has its version written before its
// events (writeRest), so for those few milliseconds another process can
// read a version before its events. A database that refuses writeRest's
// tries (a full disk) gets the version taken back (undo.go), at once or,
// if it refuses that too, before this process writes to the room again.
// A crash in that window can leave a version without some of its events.
// The claim is not acknowledged; the audit reports such a version, and
// the repair rewrites the head.

// sharedClaim is one claim's documents waiting for a shared insert.
type sharedClaim struct {
	ctx     context.Context // its write's: a claim is not written after its deadline
	ct      string
	version *head // the version it claims
	docs    []any // its entry (if any) and version, then its events
	head    int   // how many of docs come before its events
	bytes   int   // data bytes of its events
	done    bool
	err     error
}

// sharedInserts queues the claims of one context type.
type sharedInserts struct {
	mu    sync.Mutex // held by the goroutine writing a shared insert
	qmu   sync.Mutex
	queue []*sharedClaim
}

func (s *Store) sharedInserts(ct string) *sharedInserts {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.shared[ct]
	if q == nil {
		q = &sharedInserts{}
		s.shared[ct] = q
	}
	return q
}

// insertClaim inserts one claim's documents atomically (version h, with
// its entry before it and its events after it), in a shared insert with
// the claims of other contexts of type ct that are ready at the same time.
// Its error is the one an insert of docs alone would have returned.
func (s *Store) insertClaim(ctx context.Context, ct string, h *head, docs []any, head, bytes int) error {
	q := s.sharedInserts(ct)
	c := &sharedClaim{ctx: ctx, ct: ct, version: h, docs: docs, head: head, bytes: bytes}
	q.qmu.Lock()
	q.queue = append(q.queue, c)
	q.qmu.Unlock()

	q.mu.Lock()
	defer q.mu.Unlock()
	for !c.done {
		q.qmu.Lock()
		n := sharedBatchSize(q.queue)
		batch := q.queue[:n:n]
		q.queue = q.queue[n:]
		q.qmu.Unlock()
		retry := s.writeShared(ct, batch)
		if len(retry) > 0 {
			q.qmu.Lock()
			q.queue = append(retry, q.queue...)
			q.qmu.Unlock()
		}
	}
	return c.err
}

// sharedBatchSize is how many claims from the front of the queue one
// insert takes: at least one, at most database.FerretBatch documents and
// maxBatchBytes of data in all.
func sharedBatchSize(queue []*sharedClaim) int {
	docs, bytes := 0, 0
	for i, c := range queue {
		docs += len(c.docs)
		bytes += c.bytes
		if i > 0 && (docs > database.FerretBatch || bytes > maxBatchBytes) {
			return i
		}
	}
	return len(queue)
}

// writeShared writes batch in one atomic insert, answers the claims it
// can and returns those to insert again. The insert ends by the earliest
// deadline of its claims (a claim that is past its own is not written:
// compact.go counts on a claim arriving within its batch's time), and not
// with any one request's cancellation.
func (s *Store) writeShared(ct string, batch []*sharedClaim) (retry []*sharedClaim) {
	answer := func(c *sharedClaim, err error) { c.err, c.done = err, true }
	live := batch[:0:0]
	var deadline time.Time
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			answer(c, err)
			continue
		}
		if d, ok := c.ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
			deadline = d
		}
		live = append(live, c)
	}
	if batch = live; len(batch) == 0 {
		return nil
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(batchTimeout)
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(batch[0].ctx), deadline)
	defer cancel()
	docs, place := sharedLayout(batch)
	coll := s.events(ct)
	err := s.step(fmt.Sprintf("shared insert of %d", len(batch)))
	var partial *partialWrite
	switch {
	case errors.As(err, &partial): // tests: as FerretDB's document-by-document retry that stops at a failure
		if werr := s.insertMissing(ctx, coll, docs[:min(partial.n, len(docs))]); werr != nil {
			err = werr
		} else {
			err = &database.InsertError{Err: partial.err, At: -1, Written: partial.n, Unknown: true}
		}
	case err != nil:
		for _, c := range batch {
			answer(c, err)
		}
		return nil
	default:
		err = s.conn.InsertAtomically(ctx, coll, docs)
	}
	if err == nil {
		for _, c := range batch {
			answer(c, nil)
		}
		return nil
	}
	var ie *database.InsertError
	switch {
	case !errors.As(err, &ie) || !ie.Duplicate && !ie.Unknown:
		for _, c := range batch {
			answer(c, err)
		}
		return nil
	case !ie.Duplicate:
		// Written up to a failure that is not known: what came before it
		// is in. A claim whose version is written has won; its remaining
		// documents are written now.
		for _, c := range batch {
			answer(c, s.finishClaim(ctx, ct, c, err))
		}
		return nil
	case ie.At < 0 && len(batch) > 1:
		// Nothing written, and the duplicate not named: one at a time.
		for _, c := range batch {
			answer(c, s.conn.InsertAtomically(ctx, coll, c.docs))
		}
		return nil
	case ie.At < 0:
		answer(batch[0], err)
		return nil
	}
	holder, local := place(ie.At)
	for k, c := range batch {
		switch {
		case k == holder:
			answer(c, database.DuplicateAt(local))
		case c.headBefore(ie.Written, batch, k):
			// Written up to the duplicate, one document at a time: its
			// entry and version are in, its events may not be.
			answer(c, s.writeRest(ctx, coll, c))
		default: // not tried
			retry = append(retry, c)
		}
	}
	return retry
}

// sharedLayout orders the documents of batch for one insert: the entries
// and versions of every claim first, then the events of every claim, each
// part in claim order. Compaction later deletes all but a room's newest
// version and every entry, and SQLite gives back only pages left empty:
// with each claim's documents together, every page kept an event among
// them, and a store at rest took 2,366 bytes per event instead of 1,650
// (BenchmarkStorageAtRest). place maps a document's index back to its
// claim and its index among the claim's documents.
func sharedLayout(batch []*sharedClaim) (docs []any, place func(i int) (claim, local int)) {
	heads := 0
	for _, c := range batch {
		heads += c.head
	}
	docs = make([]any, 0, len(batch)*2)
	for _, c := range batch {
		docs = append(docs, c.docs[:c.head]...)
	}
	for _, c := range batch {
		docs = append(docs, c.docs[c.head:]...)
	}
	place = func(i int) (int, int) {
		h, e := 0, heads
		for k, c := range batch {
			if i >= h && i < h+c.head {
				return k, i - h
			}
			if n := len(c.docs) - c.head; i >= e && i < e+n {
				return k, c.head + i - e
			}
			h, e = h+c.head, e+len(c.docs)-c.head
		}
		return -1, -1
	}
	return docs, place
}

// headBefore reports whether claim c, the k-th of batch, has its entry and
// version before document index of the batch's shared insert.
func (c *sharedClaim) headBefore(index int, batch []*sharedClaim, k int) bool {
	h := 0
	for _, other := range batch[:k] {
		h += other.head
	}
	return h+c.head <= index
}

// finishClaim answers claim c after an insert that failed with err on
// FerretDB: nil if its version is stored (and then writes what of it is
// missing), err if not.
func (s *Store) finishClaim(ctx context.Context, ct string, c *sharedClaim, failed error) error {
	var d headDoc
	found, err := s.findIn(ctx, ct, c.version.Cid, headID(c.version.Cid, c.version.Seq), &d)
	if err != nil {
		return failed
	}
	if !found || d.Head.Log != c.version.Log || d.Head.At != c.version.At || !slices.Equal(d.Head.Added, c.version.Added) {
		// Lost, or another writer's version: clid records of its that
		// went in before the failure name events that will not be
		// written, and would hold their clids until they are stale.
		if len(c.version.records) > 0 {
			if err := s.removeRecords(ctx, ct, c.version.records); err != nil {
				s.log.Warn("removing the clid records of a failed claim", "ct", ct, "cid", c.version.Cid, "err", err)
			}
		}
		return failed
	}
	if s.writeRest(ctx, s.events(ct), c) == nil {
		return nil
	}
	return failed
}

// writeRest writes what of claim c, whose version is stored, is missing.
// Until it is done the version names events that are not stored, so it is
// not cut short by the shared insert's deadline (the earliest of its
// claims') and tries again a few times.
func (s *Store) writeRest(ctx context.Context, coll *mongo.Collection, c *sharedClaim) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backgroundTimeout)
	defer cancel()
	err := threeTimes(ctx, 50*time.Millisecond, func() error {
		if err := s.step("write rest"); err != nil {
			return err
		}
		return s.insertMissing(ctx, coll, c.docs)
	})
	if err != nil {
		s.undoClaim(ctx, coll, c)
	}
	return err
}

// threeTimes runs f until it succeeds, three times at most, waiting
// backoff, then twice that, between tries; it returns f's last error.
func threeTimes(ctx context.Context, backoff time.Duration, f func() error) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * backoff):
			case <-ctx.Done():
				return err
			}
		}
		if err = f(); err == nil {
			return nil
		}
	}
	return err
}
