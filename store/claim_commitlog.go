package store

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/eventstore-go/eventstore/migrations"

	"github.com/eventstore-go/eventstore/internal/database"
)

// The commit log of a context type: entry n, "~log#n" in <ct>_events,
// names the n-th head version, of any context of that type, that added
// events. It is inserted first in the same atomic insert as its version,
// so every version that adds events has one. It orders the whole server's
// timeline (the server-wide stream's cursor is an entry number per context
// type), and it lets a process learn what other processes sharing the
// database wrote without scanning anything: readers read entries n+1, n+2 …
// by _id.
//
// Numbers are claimed like versions, the unique _id making the insert a
// compare-and-swap. A version's number is above that of the version it
// follows, so each context's versions come in log order. A number may be
// left unused — by a claim that lost its version, an error, a crash — and
// readers must not wait for it for ever: a reader that finds entry n
// missing while a later one exists waits logHoleWait and then inserts a
// void entry n itself. If that insert loses, the entry arrived meanwhile;
// if it wins, a writer still holding n loses its insert at the entry and
// takes another number. So a reader that has passed n never misses an
// entry n written later.
//
// An entry counts only if the version it names has Log == n: on FerretDB,
// where an insert is not all or nothing, a claim that loses its version
// still writes its entry, naming a version another writer wrote.

// logDoc is one entry of a commit log.
type logDoc struct {
	ID  string `bson:"_id"` // migrations.LogEntryID(n)
	Key string `bson:"cid"` // migrations.LogCid (entries written before it had the context here)
	// Cid is the context of the version the entry names.
	Cid  string `bson:"room,omitempty"`
	Seq  int64  `bson:"seq,omitempty"`
	Void bool   `bson:"void,omitempty"` // a number no version took
	// At is when a void entry was written (older ones lack it).
	At bson.DateTime `bson:"at,omitempty"`
}

// upgrade gives an entry written before entries had LogCid its context.
func (d *logDoc) upgrade() *logDoc {
	if d.Cid == "" && d.Key != migrations.LogCid {
		d.Cid = d.Key
	}
	d.Key = migrations.LogCid
	return d
}

// numberOf is the number of entry d.
func (d *logDoc) numberOf() int64 {
	n, _ := strconv.ParseInt(strings.TrimPrefix(d.ID, migrations.LogEntryPrefix), 10, 64)
	return n
}

// logHoleWait is how long a reader waits for a missing entry while later
// ones exist before it voids it. A claim takes milliseconds; one that takes
// longer than this loses its number and claims again with the next.
const logHoleWait = 3 * time.Second

// commitLog is this process's view of one context type's commit log.
type commitLog struct {
	mu      sync.Mutex
	next    int64               // the lowest number worth trying; 0: not looked up yet
	nextAt  time.Time           // when next was last known to be free or past the end (see claimFresh)
	pending map[int64]bool      // numbers this process is claiming
	holes   map[int64]time.Time // missing entries with later ones, since when
	probed  time.Time           // when a reader last looked past a missing entry
	recent  map[int64]*Commit   // commits this process wrote, for its readers
	order   []int64             // recent, oldest first
}

// recentCommits bounds the commits a process keeps for its readers.
const recentCommits = 512

func (s *Store) commitLog(ct string) *commitLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.logs[ct]
	if l == nil {
		l = &commitLog{pending: map[int64]bool{}, holes: map[int64]time.Time{}, recent: map[int64]*Commit{}}
		s.logs[ct] = l
	}
	return l
}

// reserve returns a number for a version that follows a version with
// number after.
func (l *commitLog) reserve(ctx context.Context, s *Store, ct string, after int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.next == 0 || s.opts.Now().Sub(l.nextAt) >= s.claimFresh() {
		end, err := s.logEnd(ctx, ct, max(l.next, 1))
		if err != nil {
			return 0, err
		}
		l.next, l.nextAt = end, s.opts.Now()
	}
	n := max(l.next, after+1)
	l.next = n + 1
	l.pending[n] = true
	return n, nil
}

// taken records that number n belongs to another writer: the next try
// starts past the end of the log as it is now.
func (l *commitLog) taken(ctx context.Context, s *Store, ct string, n int64) error {
	end, err := s.logEnd(ctx, ct, n+1)
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.pending, n)
	l.next = max(l.next, end, n+1)
	return err
}

// settle ends this process's claim on n; c is the commit if n is its entry.
func (l *commitLog) settle(n int64, c *Commit, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.pending, n)
	if c == nil {
		return
	}
	if n+1 >= l.next { // n was free until this claim took it
		l.nextAt = now
	}
	l.recent[n] = c
	l.order = append(l.order, n)
	if len(l.order) > recentCommits {
		delete(l.recent, l.order[0])
		l.order = l.order[1:]
	}
}

// logEnd finds the first free number at or after from: it probes from,
// from+1, from+3, from+7 … and then bisects, O(log n) reads by _id. (A hole
// can make it answer low; the claim at that number then fails and the
// search starts again past it.)
func (s *Store) logEnd(ctx context.Context, ct string, from int64) (int64, error) {
	exists := func(n int64) (bool, error) {
		d, err := s.entryAt(ctx, ct, n) // an entry folded into a span is taken too
		return d != nil, err
	}
	lo, hi := from-1, int64(-1) // lo: known taken (or before from); hi: known free
	for step := int64(1); hi < 0; step *= 2 {
		found, err := exists(lo + step)
		if err != nil {
			return 0, err
		}
		if !found {
			hi = lo + step
		} else {
			lo += step
		}
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		found, err := exists(mid)
		if err != nil {
			return 0, err
		}
		if found {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}

// voidEntry writes entry n as void unless it exists; it reports whether
// the void is what entry n now is.
func (s *Store) voidEntry(ctx context.Context, ct string, n int64) (bool, error) {
	if line, err := s.spanLine(ctx, ct, migrations.LogCid, entrySpanID(n), n); err != nil || line != "" {
		return false, err // folded: it exists
	}
	err := s.conn.Write(ctx, func() error {
		_, err := s.events(ct).InsertOne(ctx, logDoc{ID: migrations.LogEntryID(n), Key: migrations.LogCid, Void: true, At: bson.DateTime(s.opts.Now().UnixMilli())})
		return err
	})
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	return err == nil, err
}

// claimLogged claims version h with the commit log entry it takes: the
// entry first, then the version and its events, in one atomic insert. A
// number another writer took is given up for the next one, without
// planning again; a lost version is reported as false, as by claim.
func (s *Store) claimLogged(ctx context.Context, ct string, h *head, events []eventDoc) (bool, error) {
	l := s.commitLog(ct)
	for attempt := range maxEntryAttempts {
		if attempt >= entryBackoffAfter {
			// Other processes keep taking the next numbers first: step
			// aside for a moment (a few ms, at random) rather than race on.
			select {
			case <-time.After(time.Duration(rand.Int64N(int64(min(attempt-entryBackoffAfter+2, 10)))) * time.Millisecond):
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
		n, err := l.reserve(ctx, s, ct, h.Log)
		if err != nil {
			return false, err
		}
		h.Log = n
		entry := logDoc{ID: migrations.LogEntryID(n), Key: migrations.LogCid, Cid: h.Cid, Seq: h.Seq}
		won, err := s.insertVersion(ctx, ct, h, events, &entry)
		switch {
		case err == errEntryTaken:
			if err := l.taken(ctx, s, ct, n); err != nil {
				return false, err
			}
			continue
		case err != nil || !won:
			// The number stays unused (or names a version that is not
			// this one): void it now rather than make readers wait.
			vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backgroundTimeout)
			if _, verr := s.voidEntry(vctx, ct, n); verr != nil {
				level := slog.LevelWarn
				if database.OutOfSpace(verr) { // logged once, as the write's cause (space.go)
					level = slog.LevelDebug
				}
				s.log.Log(vctx, level, "voiding an unused commit log entry; readers void it after a wait", "ct", ct, "entry", n, "err", verr)
			}
			cancel()
			l.settle(n, nil, s.opts.Now())
			return won, err
		}
		l.settle(n, s.commitOf(ct, h, events), s.opts.Now())
		return true, nil
	}
	return false, errors.New("too many commit log entries taken by other writers in a row")
}

// maxEntryAttempts bounds the numbers one claim tries; after
// entryBackoffAfter in a row it waits a little, at random, before each.
const (
	maxEntryAttempts  = 200
	entryBackoffAfter = 10
)

// errEntryTaken: a claim's insert failed at its commit log entry.
var errEntryTaken = errors.New("commit log entry taken")

// commitOf is version h and its events as a reader of the log sees them.
func (s *Store) commitOf(ct string, h *head, docs []eventDoc) *Commit {
	c := &Commit{Log: h.Log, Ct: ct, Cid: h.Cid, Seq: h.Seq, First: h.first(), At: h.At.Time()}
	for i := range docs {
		e, err := docs[i].event()
		if err != nil { // only a document read back could fail, and a claim's are built (toDoc)
			s.log.Error("a claimed event's data does not convert", "ct", ct, "event", docs[i].ID, "err", err)
			e, _ = docs[i].convert()
		}
		c.Events = append(c.Events, e)
	}
	return c
}

// entryIndex is where a version's log entry goes in its claim's insert.
const entryIndex = 0
