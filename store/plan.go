package store

import (
	"cmp"
	"context"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/migrations"
)

// Phase 3: a batch is planned against the latest head: the next version
// and the event documents it adds. Each request is planned in
// plan_local.go (this server's writes) or plan_ingest.go (a peer's
// events), with what it needs read beforehand (plan_prefetch.go).

// loadHead makes sure w.head is the latest version, completed: after a
// lost claim, an error or at first use. The context may not exist yet
// (w.head stays nil). Given a guess (after a lost claim: the winner's
// version) it takes that version for the latest rather than probing: it
// saves a read in the race with the winner, and a wrong guess only loses
// the next claim too.
func (s *Store) loadHead(ctx context.Context, w *writer, guess int64) error {
	now := s.opts.Now() // what is read below was the newest at least since then
	if w.head != nil && now.Sub(w.verified) < s.claimFresh() {
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
		err = s.complete(ctx, w.ct, h, nil, true)
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
	records []clidRecord                 // of the batch's appends with a clid, for its claim
	p       plan
}

func (s *Store) plan(ctx context.Context, w *writer, batch []*request) (*plan, error) {
	pl := &planner{s: s, ct: w.ct, cid: w.cid, head: w.head, next: s.successor(w.cid, w.head),
		added: map[string]*eventstore.Event{}}
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
	// The version keeps the flags as they were (complete_flags.go: an append
	// writes none; a parent's flag stays until its context is idle).
	next := pl.next
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
	doc.IsLeaf = false // flags follow the head's Flagged (complete_flags.go)
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
