package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/migrations"

	"github.com/eventstore-go/eventstore/internal/database"
)

// Options configure a Store.
type Options struct {
	// Server is this server's name, the src of every event created here.
	Server string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives warnings about healed inconsistencies; silent when nil.
	Logger *slog.Logger
	// Observe, when set, is told the duration and outcome of every store
	// operation ("append", "get", "list", …), for metrics.
	Observe func(op string, d time.Duration, err error)
	// Sign, when set, returns the signatures of this server over an event
	// id; they are stored with every event created here (federation).
	Sign func(id string) map[string]string
	// LeafFlagDelay is how long a context must be idle before the isLeaf
	// flags in the database catch up with its leaves (see complete_flags.go);
	// a minute when zero.
	LeafFlagDelay time.Duration
	// Participants makes IngestFrom refuse events whose origin (src) does not
	// take part in their context (the creator, or a server named by a
	// server.join event among the event's ancestors or earlier in the
	// batch). Federation sets it.
	Participants bool
	// CompactAfter is how old a head version or commit log entry must be
	// before Compact folds it (compact.go); ten minutes when zero,
	// at least minCompactAfter (compact.go): New refuses less.
	CompactAfter time.Duration
	// ReadOnly opens a store that only reads and audits (and records audit
	// checkpoints); it works on a standalone mongod, where writes cannot.
	ReadOnly bool
}

// Store is the event store on one database. It is safe for concurrent use,
// and several Stores (in one or many processes) may share a database.
type Store struct {
	conn *database.Conn
	db   *mongo.Database
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	writers map[string]*writer        // by contextKey
	types   map[string]bool           // context types whose collections are prepared
	logs    map[string]*commitLog     // by context type
	shared  map[string]*sharedInserts // by context type (claim_shared.go)
	spans   spanCache                 // spans.go

	compacting sync.Mutex // one Compact at a time
	space      spaceFault // whether writes fail for lack of space (space.go)
	undos      undos      // half-written claims to take back (undo.go)

	bgMu       sync.Mutex
	closed     bool
	background sync.WaitGroup                          // work started by writes that outlives them
	failpoint  atomic.Pointer[func(step string) error] // set by tests while writes run in the background

	followers atomic.Pointer[[]func(ct, cid string, events []*eventstore.Event)] // Follow; copied on write
}

// Follow adds f to those told of every commit this store makes from now
// on: the context and its events, in the order they were written, once
// they are durably stored. f runs in the writing goroutine and must not
// block. So what is built on the store (the streams, the federation)
// registers once it exists, and nothing needs to exist before the store.
func (s *Store) Follow(f func(ct, cid string, events []*eventstore.Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []func(ct, cid string, events []*eventstore.Event)
	if old := s.followers.Load(); old != nil {
		list = append(list, *old...)
	}
	list = append(list, f)
	s.followers.Store(&list)
}

// tellFollowers tells every follower of a commit.
func (s *Store) tellFollowers(ct, cid string, events []*eventstore.Event) {
	if list := s.followers.Load(); list != nil {
		for _, f := range *list {
			f(ct, cid, events)
		}
	}
}

// New returns a Store on conn. The schema must be migrated (migrations.Up).
func New(conn *database.Conn, opts Options) (*Store, error) {
	if err := hashing.ValidateSrc(opts.Server); err != nil {
		return nil, fmt.Errorf("server name: %w", err)
	}
	if err := conn.Writable(); err != nil && !opts.ReadOnly {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LeafFlagDelay <= 0 {
		opts.LeafFlagDelay = defaultLeafFlagDelay
	}
	if opts.CompactAfter == 0 {
		opts.CompactAfter = defaultCompactAfter
	}
	if opts.CompactAfter < minCompactAfter {
		return nil, fmt.Errorf("compacting after %v is unsafe: at least %v", opts.CompactAfter, minCompactAfter)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{conn: conn, db: conn.DB, opts: opts, log: log,
		writers: map[string]*writer{}, types: map[string]bool{}, logs: map[string]*commitLog{}, shared: map[string]*sharedInserts{}}, nil
}

// Close writes pending isLeaf flags and waits for background work (hint
// updates, compaction) to finish. The store must not be used afterwards.
func (s *Store) Close() {
	s.bgMu.Lock()
	s.closed = true
	s.bgMu.Unlock()
	s.mu.Lock()
	for _, w := range s.writers {
		if w.idleTimer != nil {
			w.idleTimer.Stop()
		}
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), backgroundTimeout)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		s.log.Warn("writing isLeaf flags at close", "err", err)
	}
	s.background.Wait()
}

// enterBackground registers background work; false once the store closes.
// The caller calls s.background.Done when it is finished.
func (s *Store) enterBackground() bool {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.closed {
		return false
	}
	s.background.Add(1)
	return true
}

func (s *Store) events(ct string) *mongo.Collection {
	return s.db.Collection(migrations.EventsCollection(ct))
}
func (s *Store) edits(ct string) *mongo.Collection {
	return s.db.Collection(migrations.EditsCollection(ct))
}
func (s *Store) contexts() *mongo.Collection {
	return s.db.Collection(migrations.ContextsCollection)
}

// prepareType creates the collections of a context type the first time this
// store meets it.
func (s *Store) prepareType(ctx context.Context, ct string) error {
	s.mu.Lock()
	done := s.types[ct]
	s.mu.Unlock()
	if done {
		return nil
	}
	if err := migrations.PrepareContextType(ctx, s.conn, ct); err != nil {
		return fmt.Errorf("preparing context type %s: %w", ct, err)
	}
	s.mu.Lock()
	s.types[ct] = true
	s.mu.Unlock()
	return nil
}

// observe reports an operation to Options.Observe; deferred at the start
// of the operation, it reads the operation's error when it returns.
func (s *Store) observe(op string, start time.Time, err *error) {
	switch op {
	case "create", "append", "update", "delete", "share", "ingest":
		s.noteWrite(op, *err)
	}
	if s.opts.Observe != nil {
		s.opts.Observe(op, time.Since(start), *err)
	}
}

// dbError turns a driver error into a domain error: not found, conflict on
// a duplicate key, unavailable when the database cannot be reached, out of
// space when it has no room to write (space.go).
func dbError(op string, err error) error { return database.Wrap(op, err) }

// findByID reads one document by _id into out (a *bson.Raw takes it
// raw); found is false when absent.
//
// Once started, the read is not cancelled with ctx: on the embedded store
// a cancelled read makes FerretDB interrupt its SQLite statement, and the
// SQLite driver's interrupt can land on the statement that reuses the
// connection next, failing another request's write ("interrupted (9)",
// seen with streams that reconnect while catching up). A read by _id takes
// milliseconds; idReadTimeout bounds it.
func findByID(ctx context.Context, c *mongo.Collection, id string, out any) (bool, error) {
	return findOne(ctx, c, bson.D{{Key: "_id", Value: id}}, out)
}

// findIn reads document id of context cid in <ct>_events, as findByID,
// by a filter that carries the collection's shard key (byID).
func (s *Store) findIn(ctx context.Context, ct, cid, id string, out any) (bool, error) {
	return findOne(ctx, s.events(ct), s.byID(cid, id), out)
}

// byID is the filter of document id of context cid in <ct>_events, which
// is sharded on cid (database.Backend.ByID): commit log documents have
// cid migrations.LogCid.
func (s *Store) byID(cid, id string) bson.D { return s.conn.Backend().ByID("cid", cid, id) }

// findOne reads the document filter names, as findByID.
func findOne(ctx context.Context, c *mongo.Collection, filter bson.D, out any) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), idReadTimeout)
	defer cancel()
	res := c.FindOne(rctx, filter)
	var err error
	if raw, ok := out.(*bson.Raw); ok {
		*raw, err = res.Raw()
		*raw = append(bson.Raw(nil), *raw...)
	} else {
		err = res.Decode(out)
	}
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	return err == nil, err
}

// idReadTimeout bounds one read by _id.
const idReadTimeout = 30 * time.Second

// step runs the failpoint for a named step of a write (tests only).
func (s *Store) step(name string) error {
	f := s.failpoint.Load()
	if f == nil {
		return nil
	}
	return (*f)(name)
}
