package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/migrations"
)

// spaceFault is the store's knowledge that the database is out of space:
// set by the first write that fails for it (logged once, at error level),
// cleared by the next write that succeeds (logged once too). While it is
// set, WriteFault probes the database at most once a second, so that a
// server taken out of rotation for it notices when space comes back.
type spaceFault struct {
	mu      sync.Mutex
	failing bool
	since   time.Time
	cause   string
	probed  time.Time
}

// writeProbeID is the one document the probe writes and removes.
const writeProbeID = "write-probe"

// noteWrite records the outcome of a write operation (observe calls it).
func (s *Store) noteWrite(op string, err error) {
	f := &s.space
	switch {
	case eventstore.ErrorCode(err) == eventstore.EOUTOFSPACE:
		f.mu.Lock()
		first := !f.failing
		if first {
			cause := err // the database's words, where the error carries them
			if inner := errors.Unwrap(err); inner != nil {
				cause = inner
			}
			f.failing, f.since, f.cause = true, s.opts.Now(), cause.Error()
		}
		f.mu.Unlock()
		if first {
			s.log.Error("the database is out of space: writes fail until space is freed", "op", op, "cause", f.cause)
		}
	case err == nil:
		f.mu.Lock()
		recovered, since := f.failing, f.since
		f.failing = false
		f.mu.Unlock()
		if recovered {
			s.log.Info("the database has space again: writes succeed", "op", op, "failedFor", s.opts.Now().Sub(since).Round(time.Millisecond))
		}
	}
}

// OutOfSpace reports whether writes are failing because the database is
// out of space (for a metric).
func (s *Store) OutOfSpace() bool {
	s.space.mu.Lock()
	defer s.space.mu.Unlock()
	return s.space.failing
}

// WriteFault returns an EOUTOFSPACE error while writes fail because the
// database is out of space, and nil otherwise. While failing, it writes a
// small probe document (at most once a second) and clears the fault when
// that succeeds.
func (s *Store) WriteFault(ctx context.Context) error {
	f := &s.space
	f.mu.Lock()
	failing, cause, since := f.failing, f.cause, f.since
	probe := failing && s.opts.Now().Sub(f.probed) >= time.Second
	if probe {
		f.probed = s.opts.Now()
	}
	f.mu.Unlock()
	if !failing {
		return nil
	}
	if probe && !s.opts.ReadOnly {
		err := s.probeWrite(ctx)
		if err == nil {
			err = s.finishUndos(ctx, "", "")
		}
		s.noteWrite("probe", err)
		if err == nil {
			return nil
		}
	}
	return &eventstore.Error{Code: eventstore.EOUTOFSPACE,
		Message: fmt.Sprintf("the database is out of space since %s: %s", since.UTC().Format(time.RFC3339), cause)}
}

// probeWrite writes and removes a document of a few KiB, as an append would.
func (s *Store) probeWrite(ctx context.Context) error {
	c := s.db.Collection(migrations.ProbeCollection)
	doc := bson.D{{Key: "_id", Value: writeProbeID}, {Key: "pad", Value: strings.Repeat("p", 4096)}}
	_, err := c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: writeProbeID}}, doc, options.Replace().SetUpsert(true))
	if err == nil {
		_, err = c.DeleteOne(ctx, bson.D{{Key: "_id", Value: writeProbeID}})
	}
	return dbError("write probe", err)
}
