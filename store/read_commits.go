package store

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/eventstore-go/eventstore"
)

// Commit is one head version that added events, as the commit log of its
// context type names it.
type Commit struct {
	Log    int64  // its entry in the commit log
	Ct     string // its context
	Cid    string
	Seq    int64               // its head version
	First  int64               // the position of Events[0]
	Events []*eventstore.Event // the events it added, in timeline order, as stored then
	At     time.Time           // when the version was written (by its writer's clock)
}

// Cursor is the boundary just after the i-th event of c.
func (c *Commit) Cursor(i int) Cursor {
	return Cursor{Pos: c.First + int64(i), Seq: c.Seq, Index: i}
}

// logWindow is how many entries a reader reads at once, at most, once it
// finds entries of other processes.
const logWindow = 16

// logProbe is how far past a missing entry a reader looks for later ones,
// and logProbeEvery how often, to tell a hole from the end of the log.
const (
	logProbe      = 8
	logProbeEvery = 2 * time.Second
)

// ReadLog returns the commits of context type ct's log after entry after,
// whole, until they hold at least max events or the log ends, and the last
// entry it has passed: the cursor for the next call. It never skips an
// entry that may still be written (see claim_commitlog.go): at a missing one it
// stops, and returns what it has, until the entry arrives or is voided.
// Commits this process wrote come from memory; others are read by _id.
func (s *Store) ReadLog(ctx context.Context, ct string, after int64, max int) (commits []*Commit, through int64, err error) {
	defer s.observe("read_log", time.Now(), &err)
	l := s.commitLog(ct)
	through = after
	events := 0
	window := 1
	for events < max {
		// A commit of this process needs no read: it is in memory, and
		// its entry exists.
		l.mu.Lock()
		c := l.recent[through+1]
		l.mu.Unlock()
		if c != nil {
			through++
			l.passed(through)
			commits, events, window = append(commits, c), events+len(c.Events), 1
			continue
		}
		// Others' entries are read one, then a window of them at once.
		entries, err := s.readEntries(ctx, ct, through+1, window)
		window = min(2*window, logWindow)
		if err != nil {
			return commits, through, err
		}
		batch, err := s.commitsOf(ctx, ct, l, through+1, entries)
		if err != nil {
			return commits, through, err
		}
		for i, c := range batch {
			if entries[i] == nil {
				return commits, through, s.logGap(ctx, ct, l, through+1)
			}
			through++
			l.passed(through)
			if c != nil {
				commits = append(commits, c)
				events += len(c.Events)
			}
		}
	}
	return commits, through, nil
}

// readEntries reads entries from … from+n-1 (nil where missing), up to
// the first missing one.
func (s *Store) readEntries(ctx context.Context, ct string, from int64, n int) ([]*logDoc, error) {
	docs, err := s.entries(ctx, ct, from, n)
	for i, d := range docs {
		if d == nil {
			return docs[:i+1], err
		}
	}
	return docs, err
}

// entries reads entries from … from+n-1, concurrently; nil where missing.
func (s *Store) entries(ctx context.Context, ct string, from int64, n int) ([]*logDoc, error) {
	docs := make([]*logDoc, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(versionReads)
	for i := range docs {
		g.Go(func() error {
			d, err := s.entryAt(gctx, ct, from+int64(i))
			docs[i] = d
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, dbError("commit log", err)
	}
	return docs, nil
}

// commitsOf resolves entries from … into commits: nil for a void entry,
// an orphan (one whose version is not its) or a missing one.
func (s *Store) commitsOf(ctx context.Context, ct string, l *commitLog, from int64, entries []*logDoc) ([]*Commit, error) {
	out := make([]*Commit, len(entries))
	var todo []int
	l.mu.Lock()
	for i, d := range entries {
		if d == nil || d.Void {
			continue
		}
		if c := l.recent[from+int64(i)]; c != nil {
			out[i] = c
		} else {
			todo = append(todo, i)
		}
	}
	l.mu.Unlock()
	versions := make([]*head, len(entries))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(versionReads)
	for _, i := range todo {
		g.Go(func() error {
			h, err := s.readHead(gctx, ct, entries[i].Cid, entries[i].Seq)
			versions[i] = h
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, dbError("commit log", err)
	}
	k := &known{docs: map[string]*eventDoc{}}
	ids := map[string][]string{} // by context
	for _, i := range todo {
		if h := versions[i]; h != nil && h.Log == from+int64(i) {
			ids[h.Cid] = append(ids[h.Cid], h.Added...)
		}
	}
	for cid, ids := range ids {
		if err := prefetchIDs(ctx, s, ct, cid, k, ids); err != nil {
			return nil, dbError("commit log", err)
		}
	}
	for _, i := range todo {
		h := versions[i]
		if h == nil || h.Log != from+int64(i) {
			continue // an orphan: its version is another claim's
		}
		c := &Commit{Log: h.Log, Ct: ct, Cid: h.Cid, Seq: h.Seq, First: h.first(), At: h.At.Time()}
		for _, id := range h.Added {
			d := k.docs[id]
			if d == nil {
				return nil, eventstore.Errorf(eventstore.EINTERNAL, "event %s of %s/%s is in the head log but not stored (run eventstore verify)", id, ct, h.Cid)
			}
			e, err := d.event()
			if err != nil {
				return nil, err
			}
			c.Events = append(c.Events, e)
		}
		out[i] = c
	}
	return out, nil
}

// passed forgets entry n as a hole: a reader read it.
func (l *commitLog) passed(n int64) {
	l.mu.Lock()
	delete(l.holes, n)
	l.mu.Unlock()
}

// logGap is called at missing entry n, which a reader must not pass while
// it may still be written. If a claim of this process holds it, or nothing
// later exists, it waits. If later entries have existed for logHoleWait,
// the claim that held n is gone or too slow: it voids n, and the reader's
// next call passes it (or reads the entry, if the claim won the race).
func (s *Store) logGap(ctx context.Context, ct string, l *commitLog, n int64) error {
	l.mu.Lock()
	since, hole := l.holes[n]
	pending := l.pending[n]
	probe := !hole && !pending && time.Since(l.probed) >= logProbeEvery
	if probe {
		l.probed = time.Now()
	}
	l.mu.Unlock()
	switch {
	case pending:
		return nil
	case probe:
		later, err := s.entries(ctx, ct, n+1, logProbe)
		if err != nil {
			return err
		}
		for _, d := range later {
			if d != nil {
				l.mu.Lock()
				l.holes[n] = time.Now()
				l.mu.Unlock()
				break
			}
		}
		return nil
	case !hole || time.Since(since) < logHoleWait:
		return nil
	}
	if _, err := s.voidEntry(ctx, ct, n); err != nil {
		return dbError("commit log", err)
	}
	l.mu.Lock()
	delete(l.holes, n)
	l.mu.Unlock()
	return nil
}
