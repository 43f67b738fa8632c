package store

import (
	"context"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/migrations"
)

// Get returns one event of context ct/cid with its current d.
func (s *Store) Get(ctx context.Context, ct, cid, id string) (ev *eventstore.Event, err error) {
	defer s.observe("get", time.Now(), &err)
	if err := eventstore.ValidateContext(ct, cid); err != nil {
		return nil, err
	}
	if err := hashing.ValidateEventID(id); err != nil {
		return nil, eventstore.WrapError(eventstore.EINVALID, err)
	}
	var doc eventDoc
	var found bool
	var h *head
	var headErr error
	done := make(chan struct{})
	go func() { // the head says whether it is a leaf; read both at once
		defer close(done)
		h, headErr = s.head(ctx, ct, cid)
	}()
	found, err = s.findIn(ctx, ct, cid, id, &doc)
	<-done
	if err != nil {
		return nil, dbError("get", err)
	}
	if !found || doc.Cid != cid || doc.Ct != ct {
		return nil, eventstore.Errorf(eventstore.ENOTFOUND, "event %s is not in context %s/%s", id, ct, cid)
	}
	if headErr != nil {
		return nil, headErr
	}
	if ev, err = doc.event(); err != nil {
		return nil, err
	}
	ev.IsLeaf = slices.ContainsFunc(h.Leaves, func(l leaf) bool { return l.ID == ev.ID })
	return ev, nil
}

// Summary describes a context.
type Summary struct {
	Ct      string
	Cid     string
	Genesis string
	Leaves  []string // sorted
	Count   int64    // events stored
	Updated int64    // ts of the newest leaf
	Servers []string // servers the context is shared with
	Version int64    // head version
}

// Summary returns the summary of context ct/cid, or ENOTFOUND.
func (s *Store) Summary(ctx context.Context, ct, cid string) (sum *Summary, err error) {
	defer s.observe("summary", time.Now(), &err)
	if err := eventstore.ValidateContext(ct, cid); err != nil {
		return nil, err
	}
	h, err := s.head(ctx, ct, cid)
	if err != nil {
		return nil, err
	}
	sum = &Summary{Ct: ct, Cid: cid, Genesis: h.Genesis, Leaves: leafIDs(h.Leaves), Count: h.Count,
		Servers: h.Participation.Servers, Version: h.Seq}
	for _, l := range h.Leaves {
		sum.Updated = max(sum.Updated, l.TS)
	}
	return sum, nil
}

// JoinEvent returns the server.join event that made server a participant
// of context ct/cid (the first this store stored, if there are several), or
// ENOTFOUND. The head names it, so it is read by _id; only for a
// participant that joined before heads named their joins is the context
// scanned (on the embedded store every event of the type is read).
func (s *Store) JoinEvent(ctx context.Context, ct, cid, server string) (ev *eventstore.Event, err error) {
	defer s.observe("join_event", time.Now(), &err)
	if err := eventstore.ValidateContext(ct, cid); err != nil {
		return nil, err
	}
	notFound := eventstore.Errorf(eventstore.ENOTFOUND, "%s did not join %s/%s", server, ct, cid)
	h, err := s.head(ctx, ct, cid)
	if eventstore.ErrorCode(err) == eventstore.ENOTFOUND {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if !slices.Contains(h.Participation.Servers, server) {
		return nil, notFound
	}
	for _, j := range h.Participation.Joins {
		if j.Server == server {
			e, err := s.eventByID(ctx, ct, cid, j.Event)
			if err == nil && e.Deleted { // redacted since: it names nobody now
				return nil, notFound
			}
			return e, err
		}
	}
	genesis, err := s.eventByID(ctx, ct, cid, h.Genesis)
	if err != nil {
		return nil, err
	}
	if genesis.Src == server { // the creator takes part without a join
		return nil, notFound
	}
	join, err := s.scanJoinEvent(ctx, ct, cid, server)
	if err == nil && join == nil {
		return nil, notFound
	}
	return join, err
}

// eventByID reads an event the head names; its absence is an inconsistency.
func (s *Store) eventByID(ctx context.Context, ct, cid, id string) (*eventstore.Event, error) {
	var doc eventDoc
	found, err := s.findIn(ctx, ct, cid, id, &doc)
	if err != nil {
		return nil, dbError("join event", err)
	}
	if !found || doc.Cid != cid {
		return nil, eventstore.Errorf(eventstore.EINTERNAL, "event %s named by the head of %s/%s is not stored (run eventstore verify)", id, ct, cid)
	}
	return doc.event()
}

// scanJoinEvent finds a server's join by its data (nil if there is none):
// for heads written before they named joins.
func (s *Store) scanJoinEvent(ctx context.Context, ct, cid, server string) (*eventstore.Event, error) {
	filter := append(migrations.EventsOf(cid), bson.E{Key: "t", Value: eventstore.TypeServerJoin}, bson.E{Key: "o.server", Value: server})
	cur, err := s.events(ct).Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "ts", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(1))
	if err != nil {
		return nil, dbError("join event", err)
	}
	var docs []eventDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, dbError("join event", err)
	}
	if len(docs) == 0 {
		return nil, nil
	}
	return docs[0].event()
}

// head reads the latest head version of a context, starting from the
// newest version this store has seen; ENOTFOUND if there is none.
func (s *Store) head(ctx context.Context, ct, cid string) (*head, error) {
	w := s.writerFor(ct, cid)
	h, err := s.latestHead(ctx, ct, cid, w.knownSeq(), w.latest.Load())
	if err != nil {
		return nil, dbError("head", err)
	}
	if h == nil {
		return nil, eventstore.Errorf(eventstore.ENOTFOUND, "context %s/%s does not exist", ct, cid)
	}
	w.saw(h)
	return h, nil
}
