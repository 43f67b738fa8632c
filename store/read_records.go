package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/migrations"

	"github.com/eventstore-go/eventstore/internal/database"
)

// What the audit reads (package audit): the documents of a context as
// they are stored, and its head versions. Nothing here writes.

// HeadVersion is one version of a context's head, as the audit sees it.
type HeadVersion struct {
	Seq     int64
	Leaves  []string // sorted
	Count   int64
	Genesis string
	Flagged []string // events that carry isLeaf once the version is complete, sorted
	Added   []string // the events this version added, in the order they were written
}

func (h *head) version() *HeadVersion {
	if h == nil {
		return nil
	}
	return &HeadVersion{Seq: h.Seq, Leaves: leafIDs(h.Leaves), Count: h.Count, Genesis: h.Genesis,
		Flagged: h.Flagged, Added: h.Added}
}

// Record is one document of a <ct>_events collection: an event, or a
// version of its context's head.
type Record struct {
	Cid   string
	ID    string
	Head  *HeadVersion // a head version (empty if it does not decode); nil for an event
	Event *StoredEvent // an event; nil for a head version or a document that does not decode
	Err   error        // why the document does not decode as an event
	// LogEntry: an entry of the context type's commit log, or a span of
	// them, not part of any context's graph (claim_commitlog.go).
	LogEntry bool
	// Span: a version span, old head versions in compact form (spans.go).
	Span bool
	// ClidRecord: the record of a client id, naming the event that has it
	// (claim_insert.go); not part of the graph either.
	ClidRecord bool
}

// StoredEvent is an event exactly as stored: O as written (after undoing
// the backend's escaping), absent once deleted; D the current data;
// IsLeaf the document's flag.
type StoredEvent struct {
	*eventstore.Event
	// DataErr says that o or d as stored does not convert to JSON data
	// (only a tampered document gets there); o and d are then nil.
	DataErr error
	// Leftover: the event is deleted, yet its document still holds o or d.
	Leftover bool
}

// DecodeRecord decodes one raw document of a <ct>_events collection, as
// read by ScanContexts. It is safe to call from several goroutines.
func DecodeRecord(raw bson.Raw) Record {
	if id, _ := raw.Lookup("_id").StringValueOK(); strings.HasPrefix(id, migrations.LogEntryPrefix) {
		return Record{ID: id, LogEntry: true}
	}
	if _, err := raw.LookupErr("folded"); err == nil {
		cid, _ := raw.Lookup("cid").StringValueOK()
		id, _ := raw.Lookup("_id").StringValueOK()
		return Record{Cid: cid, ID: id, Span: true}
	}
	if _, err := raw.LookupErr("v"); err != nil {
		if _, err := raw.LookupErr("event"); err == nil {
			cid, _ := raw.Lookup("cid").StringValueOK()
			id, _ := raw.Lookup("_id").StringValueOK()
			return Record{Cid: cid, ID: id, ClidRecord: true}
		}
	}
	if hv, err := raw.LookupErr("head"); err == nil {
		var d headDoc
		if err := bson.Unmarshal(raw, &d); err != nil || hv.Type != bson.TypeEmbeddedDocument {
			return Record{Cid: d.Cid, ID: d.ID, Head: &HeadVersion{}}
		}
		return Record{Cid: d.Cid, ID: d.ID, Head: d.Head.version()}
	}
	var d eventDoc
	if err := bson.Unmarshal(raw, &d); err != nil {
		id, _ := raw.Lookup("_id").StringValueOK()
		cid, _ := raw.Lookup("cid").StringValueOK()
		return Record{Cid: cid, ID: id, Err: err}
	}
	if strings.Contains(d.ID, "#") { // a head version without its head
		return Record{Cid: d.Cid, ID: d.ID, Head: &HeadVersion{}}
	}
	return Record{Cid: d.Cid, ID: d.ID, Event: d.stored()}
}

// stored is the document as a StoredEvent.
func (d *eventDoc) stored() *StoredEvent {
	e, err := d.convert()
	return &StoredEvent{Event: e, DataErr: err, Leftover: d.DeletedAt != nil && (d.O != nil || d.D != nil)}
}

// ContextTypes lists the context types that have contexts.
func (s *Store) ContextTypes(ctx context.Context) ([]string, error) {
	types, err := migrations.ContextTypes(ctx, s.conn)
	return types, dbError("context types", err)
}

// Contexts lists the contexts of type ct in the registry.
func (s *Store) Contexts(ctx context.Context, ct string) ([]string, error) {
	ctx = database.Scatter(ctx, database.ScatterContexts)
	cur, err := s.contexts().Find(ctx, bson.D{{Key: "ct", Value: ct}}, options.Find().SetProjection(bson.D{{Key: "cid", Value: 1}}))
	if err != nil {
		return nil, dbError("contexts", err)
	}
	var docs []contextDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, dbError("contexts", err)
	}
	cids := make([]string, len(docs))
	for i, c := range docs {
		cids[i] = c.Cid
	}
	return cids, nil
}

// Registered reports whether context ct/cid is in the contexts registry
// (it may have lost its head versions since).
func (s *Store) Registered(ctx context.Context, ct, cid string) (bool, error) {
	var c contextDoc
	found, err := findByID(ctx, s.contexts(), contextKey(ct, cid), &c)
	return found, dbError("contexts", err)
}

// ScanContexts reads every document of <ct>_events, or of one context if
// cid is not empty (events and head versions), in one cursor, and hands
// them to fn raw, a batch at a time, for DecodeRecord. fn may keep the
// batch. With timeline it reads context cid along its head log instead
// (readTimeline): O(the context) in any store, where a scan of one
// context reads the whole collection on the embedded store.
func (s *Store) ScanContexts(ctx context.Context, ct, cid string, timeline bool, fn func(batch []bson.Raw) error) (err error) {
	if timeline {
		return s.readTimeline(ctx, ct, cid, fn)
	}
	filter := bson.D{}
	if cid != "" {
		filter = bson.D{{Key: "cid", Value: cid}}
	} else {
		ctx = database.Scatter(ctx, database.ScatterFullAudit)
	}
	cur, err := s.events(ct).Find(ctx, filter)
	if err != nil {
		return dbError("scan", err)
	}
	defer cur.Close(ctx)
	batch := make([]bson.Raw, 0, scanBatch)
	for cur.Next(ctx) {
		batch = append(batch, append(bson.Raw(nil), cur.Current...))
		if len(batch) == scanBatch {
			if err := fn(batch); err != nil {
				return err
			}
			batch = make([]bson.Raw, 0, scanBatch)
		}
	}
	if err := cur.Err(); err != nil {
		return dbError("scan", err)
	}
	if len(batch) > 0 {
		return fn(batch)
	}
	return nil
}

// readTimeline hands over, raw and a batch at a time as ScanContexts does,
// the documents of one context that its head log names: its latest head
// version and then its events in timeline order, all read by _id, so it
// costs O(the context) in any store. An event the head log names but the
// collection lacks is left out (the audit finds it missing); a head log
// that lacks a version is an EINTERNAL error, and only a scan
// (ScanContexts without timeline) sees such a context whole.
func (s *Store) readTimeline(ctx context.Context, ct, cid string, fn func(batch []bson.Raw) error) (err error) {
	defer s.observe("read_timeline", time.Now(), &err)
	latest, err := s.head(ctx, ct, cid)
	if err != nil {
		return err
	}
	raw, err := bson.Marshal(headDoc{ID: headID(cid, latest.Seq), Cid: cid, Head: *latest})
	if err != nil {
		return dbError("timeline", err)
	}
	if err := fn([]bson.Raw{raw}); err != nil {
		return err
	}
	return s.walkBatches(ctx, ct, latest, scanBatch, func(ids []string) error {
		batch := make([]bson.Raw, len(ids))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(prefetchConcurrency)
		for i, id := range ids {
			g.Go(func() error {
				var r bson.Raw
				found, err := s.findIn(gctx, ct, cid, id, &r)
				if found {
					batch[i] = r
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return dbError("timeline", err)
		}
		return fn(slices.DeleteFunc(batch, func(r bson.Raw) bool { return r == nil }))
	})
}

// scanBatch is how many documents ScanContexts hands on at once.
const scanBatch = 256

// EstimatedDocuments is about how many documents <ct>_events holds, when
// the backend knows without reading them all (0 otherwise).
func (s *Store) EstimatedDocuments(ctx context.Context, ct string) (int64, error) {
	if !s.conn.Backend().CountsCheaply() {
		return 0, nil
	}
	n, err := s.events(ct).EstimatedDocumentCount(database.Scatter(ctx, database.ScatterCount))
	return n, dbError("count", err)
}

// LatestVersion returns the newest head version of context ct/cid at or
// after version from (0: anywhere), or nil if the context has none.
func (s *Store) LatestVersion(ctx context.Context, ct, cid string, from int64) (*HeadVersion, error) {
	h, err := s.latestHead(ctx, ct, cid, from, nil)
	return h.version(), dbError("head", err)
}

// Version returns head version seq of context ct/cid, or nil. A version
// folded into a span (spans.go) has Seq and Added only: its leaves, count
// and flags went with its document.
func (s *Store) Version(ctx context.Context, ct, cid string, seq int64) (*HeadVersion, error) {
	h, err := s.readHead(ctx, ct, cid, seq)
	return h.version(), dbError("head", err)
}

// StoredEvents reads events of context ct/cid by _id, as stored; an id
// that is not stored is absent from the map. (On FerretDB an event of
// another context may be read: check each event's Cid.)
func (s *Store) StoredEvents(ctx context.Context, ct, cid string, ids []string) (map[string]*StoredEvent, error) {
	k := &known{docs: map[string]*eventDoc{}}
	if err := prefetchIDs(ctx, s, ct, cid, k, ids); err != nil {
		return nil, dbError("read", err)
	}
	out := make(map[string]*StoredEvent, len(k.docs))
	for id, d := range k.docs {
		if d != nil {
			out[id] = d.stored()
		}
	}
	return out, nil
}

// EditEvents lists the update and delete events recorded against target
// in <ct>_edits, in the order they were recorded. The records are derived
// data, kept for the fold; the audit reads and checks each event itself.
func (s *Store) EditEvents(ctx context.Context, ct, target string) ([]string, error) {
	records, err := s.editRecords(ctx, ct, target, 1, 0)
	if err != nil {
		return nil, dbError("edit records", err)
	}
	ids := make([]string, len(records))
	for i, r := range records {
		ids[i] = r.Event
	}
	return ids, nil
}
