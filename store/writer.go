package store

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/migrations"

	"github.com/eventstore-go/eventstore/internal/database"
)

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
	hinted    int64     // the version last recorded in the registry
	lastWrite time.Time // of the last batch that wrote events (quiet)

	// latest is the newest version this store has read or written:
	// readers start from it, and a writer that lost a claim takes the
	// version after it for the winner's.
	latest atomic.Pointer[head]

	// taken: clids the batch being written found used, and their events
	// (claimed.go); reset for every batch.
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
	w.lastWrite = s.opts.Now()
	s.scheduleIdle(w)
	s.tellFollowers(w.ct, w.cid, p.events())
}

// loadHead makes sure w.head is the latest version, completed: after a
// lost claim, an error or at first use. The context may not exist yet
// (w.head stays nil). Given a guess (after a lost claim: the winner's
// version) it takes that version for the latest rather than probing: it
// saves a read in the race with the winner, and a wrong guess only loses
// the next claim too.
func (s *Store) loadHead(ctx context.Context, w *writer, guess int64) error {
	now := s.opts.Now() // what is read below was the newest at least since then
	if w.head != nil && now.Sub(w.verified) < claimFresh {
		return nil
	}
	var h *head
	var err error
	switch {
	case w.head != nil: // known, but long ago: another process may have moved on
		h, err = s.probeFrom(ctx, w.ct, w.cid, w.head)
		if err == nil && h.Seq == w.head.Seq {
			w.verified = now
			return nil
		}
	case guess < 1:
		h, err = s.latestHead(ctx, w.ct, w.cid, w.knownSeq(), nil)
	default:
		if h, err = s.readHead(ctx, w.ct, w.cid, guess); err == nil && (h == nil || h.folded) {
			h, err = s.latestHead(ctx, w.ct, w.cid, 0, nil)
		}
	}
	if err == nil && h != nil {
		err = s.complete(ctx, w.ct, h, nil)
	}
	if err != nil {
		return dbError("loading the head", err)
	}
	if h != nil {
		w.setHead(h, now)
	}
	return nil
}

// plan is what a batch will write and answer, computed against one head.
type plan struct {
	next    *head      // the version to claim; nil if nothing to write
	docs    []eventDoc // the events it adds
	answers []func()   // set the requests' results once the version is written
}

// events are the events the plan adds, as the requests are answered with
// them (their documents were built from them: toDoc).
func (p *plan) events() []*eventstore.Event {
	out := make([]*eventstore.Event, len(p.docs))
	for i := range p.docs {
		out[i] = p.docs[i].built
	}
	return out
}

func (p *plan) answer(f func()) { p.answers = append(p.answers, f) }

func (p *plan) apply() {
	for _, f := range p.answers {
		f()
	}
}

// planner builds the next version event by event.
type planner struct {
	s       *Store
	ct, cid string
	head    *head                        // nil: the context does not exist yet
	next    *head                        // the version being planned: leaves, count, genesis and participants so far
	added   map[string]*eventstore.Event // events of this batch
	flagged map[string]bool              // events that carry isLeaf
	unflag  []string                     // flags the version clears
	records []clidRecord                 // of the batch's appends with a clid, for its claim
	p       plan
}

func (s *Store) plan(ctx context.Context, w *writer, batch []*request) (*plan, error) {
	pl := &planner{s: s, ct: w.ct, cid: w.cid, head: w.head, next: s.successor(w.cid, w.head),
		added: map[string]*eventstore.Event{}, flagged: map[string]bool{}}
	for _, id := range pl.next.Flagged {
		pl.flagged[id] = true
	}
	known, err := s.prefetch(ctx, w.ct, w.cid, batch, pl.next.Leaves, w.taken)
	if err != nil {
		return nil, err
	}
	var events []eventDoc
	for _, r := range batch {
		if r.done {
			continue
		}
		out, err := pl.request(ctx, r, known)
		if err != nil {
			return nil, err
		}
		events = append(events, out...)
	}
	if len(events) == 0 {
		return &pl.p, nil
	}
	for i := range events {
		if err := s.escapeEvent(&events[i]); err != nil {
			return nil, err
		}
	}
	if w.quiet(s.opts.Now(), s.opts.LeafFlagDelay) {
		pl.flagLeaves(events)
	}
	next := pl.next
	next.Flagged = make([]string, 0, len(pl.flagged))
	for id := range pl.flagged {
		next.Flagged = append(next.Flagged, id)
	}
	slices.Sort(next.Flagged)
	next.Unflag = pl.unflag
	next.records = pl.records
	for _, d := range events {
		next.Pos++
		next.Added = append(next.Added, d.ID)
		next.Types = append(next.Types, d.T)
		if d.Src == s.opts.Server {
			next.Local = append(next.Local, d.ID)
		}
		if d.Clid != "" && !slices.ContainsFunc(pl.records, func(c clidRecord) bool { return c.Event == d.ID }) {
			next.RemoteClids = append(next.RemoteClids, clidRecord{ID: migrations.ClidRecordID(d.Cid, d.Clid), Cid: d.Cid, Event: d.ID})
		}
		if d.T == eventstore.TypeUpdate || d.T == eventstore.TypeDelete {
			next.Edits = append(next.Edits, d.ID)
		}
	}
	if len(next.Local) == len(next.Added) { // the usual case: all created here
		next.Local, next.AllLocal = nil, true
	}
	pl.p.next, pl.p.docs = next, events
	leaves := map[string]bool{}
	for _, l := range next.Leaves {
		leaves[l.ID] = true
	}
	for _, e := range pl.p.events() {
		e.IsLeaf = leaves[e.ID]
	}
	return &pl.p, nil
}

// addEvent makes e the newest event of the batch: its parents stop being
// leaves and it becomes one.
func (pl *planner) addEvent(e *eventstore.Event, o bson.Raw) eventDoc {
	for _, p := range e.Pids {
		if pl.flagged[p] { // a parent's flag goes with the version that gives it a child
			delete(pl.flagged, p)
			pl.unflag = append(pl.unflag, p)
		}
	}
	next := pl.next
	next.Leaves = slices.DeleteFunc(next.Leaves, func(l leaf) bool { return slices.Contains(e.Pids, l.ID) })
	next.Leaves = append(next.Leaves, leaf{ID: e.ID, TS: e.TS})
	sortLeaves(next.Leaves)
	next.Count++
	if len(e.Pids) == 0 {
		next.Genesis = e.ID
		next.Participation.add(e.Src, "") // the creator takes part
	}
	if e.T == eventstore.TypeServerJoin && !e.Deleted {
		next.Participation.add(eventstore.JoinedServer(e.O), e.ID)
	}
	pl.added[e.ID] = e
	doc := toDoc(e, o)
	doc.IsLeaf = false // flags follow the head's Flagged (flags.go)
	return doc
}

func sortLeaves(ls []leaf) {
	slices.SortFunc(ls, func(a, b leaf) int {
		if a.TS != b.TS {
			return cmp.Compare(a.TS, b.TS)
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// localEvent builds an event created on this server: its parents are the
// (at most 20 oldest) current leaves, its ts now or just after its newest
// parent.
func (pl *planner) localEvent(t string, canonical []byte, clid string) *eventstore.Event {
	parents := pl.next.Leaves[:min(len(pl.next.Leaves), hashing.MaxParents)]
	ts := pl.s.opts.Now().UnixMilli()
	pids := make([]string, len(parents))
	for i, p := range parents {
		pids[i] = p.ID
		ts = max(ts, p.TS+1)
	}
	slices.Sort(pids)
	e := &eventstore.Event{
		Clid: clid, Pids: pids, V: eventstore.SchemaVersion, TS: ts, Src: pl.s.opts.Server,
		Ct: pl.ct, Cid: pl.cid, T: t, O: canonical, D: canonical,
	}
	e.DHash, e.ID = hashing.ID(e.Head(), canonical)
	if pl.s.opts.Sign != nil {
		e.Sigs = pl.s.opts.Sign(e.ID)
	}
	return e
}

// escapeEvent stores an event's data escaped if the backend needs it.
func (s *Store) escapeEvent(d *eventDoc) error {
	o, escaped, err := s.conn.Storable(d.O)
	if err != nil || !escaped {
		return err
	}
	d.O, d.ArraysEscaped = o, true
	if d.D != nil {
		if d.D, _, err = s.conn.Storable(d.D); err != nil {
			return err
		}
	}
	return nil
}
