package store

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/eventstore-go/eventstore/migrations"

	"github.com/eventstore-go/eventstore/internal/database"
)

// Taking back a claim that was half written.
//
// On FerretDB a shared insert that fails goes on document by document, and
// a full disk can take a claim's small version and refuse its events; if
// writeRest cannot write them either, the version names events that are
// not stored. Such a claim is taken back: its version is removed, then
// its clid records and those of its events that are stored, so that the room is as if the
// claim had lost. Its commit log entry stays: readers take an entry whose
// version is missing, or is another claim's, as an orphan and pass it
// (read_commits.go). A full disk may refuse the removal too; the claim then
// waits in undos, and this process writes nothing more to that room until
// it is taken back (advance), which it tries again on every write there
// and whenever the store sees writes succeed again (space.go).

// undos holds claims still to be taken back, by context.
type undos struct {
	mu      sync.Mutex
	pending map[string][]*sharedClaim // by contextKey
}

// undoClaim takes back claim c now, or leaves it pending.
func (s *Store) undoClaim(ctx context.Context, coll *mongo.Collection, c *sharedClaim) {
	if err := s.takeBack(ctx, coll, c); err != nil {
		level := slog.LevelError
		if database.OutOfSpace(err) { // the cause is logged once, at error level (space.go)
			level = slog.LevelWarn
		}
		s.log.Log(ctx, level, "a head version whose events could not be written is not taken back yet; writes to its room wait for it",
			"cid", c.version.Cid, "seq", c.version.Seq, "err", err)
		s.undos.mu.Lock()
		if s.undos.pending == nil {
			s.undos.pending = map[string][]*sharedClaim{}
		}
		key := contextKey(c.ct, c.version.Cid)
		s.undos.pending[key] = append(s.undos.pending[key], c)
		s.undos.mu.Unlock()
	}
}

// finishUndos takes back the pending claims of one context (ct, cid), or
// of every context when cid is "". It fails while any of them remains.
func (s *Store) finishUndos(ctx context.Context, ct, cid string) error {
	s.undos.mu.Lock()
	var todo []*sharedClaim
	for key, cs := range s.undos.pending {
		if cid == "" || key == contextKey(ct, cid) {
			todo = append(todo, cs...)
			delete(s.undos.pending, key)
		}
	}
	s.undos.mu.Unlock()
	for i, c := range todo {
		if err := s.takeBack(ctx, s.events(c.ct), c); err != nil {
			s.undos.mu.Lock()
			for _, left := range todo[i:] {
				key := contextKey(left.ct, left.version.Cid)
				s.undos.pending[key] = append(s.undos.pending[key], left)
			}
			s.undos.mu.Unlock()
			return dbError("taking back a half-written version", err)
		}
	}
	return nil
}

// takeBack removes claim c's version, then its stored events, by _id; it
// tries a few times.
func (s *Store) takeBack(ctx context.Context, coll *mongo.Collection, c *sharedClaim) error {
	byID := func(id string) bson.D { return s.byID(c.version.Cid, id) }
	once := func() error {
		if err := s.step("take back"); err != nil {
			return err
		}
		return s.conn.Write(ctx, func() error {
			version := headID(c.version.Cid, c.version.Seq)
			if _, err := coll.DeleteOne(ctx, byID(version)); err != nil {
				return err
			}
			for _, d := range c.docs { // its clid records and events; its log entry stays
				raw, ok := d.(bson.Raw)
				if !ok {
					continue
				}
				id, ok := raw.Lookup("_id").StringValueOK()
				if !ok || id == version || strings.HasPrefix(id, migrations.LogEntryPrefix) {
					continue
				}
				if _, err := coll.DeleteOne(ctx, byID(id)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := threeTimes(ctx, 100*time.Millisecond, once); err != nil {
		return err
	}
	s.log.Warn("a head version whose events could not be written was taken back; its write failed",
		"ct", c.ct, "cid", c.version.Cid, "seq", c.version.Seq)
	return nil
}

// partialWrite, returned by a failpoint at a shared insert, makes it write
// its first n documents one at a time and then fail with err, as FerretDB
// does when a batch fails (tests only: export_test.go).
type partialWrite struct {
	n   int
	err error
}

func (p *partialWrite) Error() string { return p.err.Error() }
