package migrations

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/internal/database"
)

// Step 7 gives stores written before timelines existed their positions:
// every head version gets pos (the context's timeline length through it),
// types (the types of the events it added) and log (its commit log entry,
// numbered across the context type), and the commit log entries are
// written. A context's positions follow its head log, the order in which
// its events were stored; the commit log interleaves contexts by when each
// version was written. It reads each <ct>_events collection once and
// updates its versions by _id. It is deterministic, so a second run — after
// a crash, or in another process at the same time — writes the same values.
// Processes running older code must be stopped first: their versions would
// lack positions.

// versionRecord is what step 7 reads of a head version.
type versionRecord struct {
	ID   string `bson:"_id"`
	Cid  string `bson:"cid"`
	Head struct {
		Seq   int64         `bson:"seq"`
		Added []string      `bson:"added"`
		At    bson.DateTime `bson:"at"`
		Pos   int64         `bson:"pos"`
		Types []string      `bson:"types"`
		Log   int64         `bson:"log"`
	} `bson:"head"`
}

// timelineUpdate is the timeline of one version.
type timelineUpdate struct {
	id    string
	cid   string
	seq   int64
	pos   int64
	types []string
	log   int64
	same  bool // already so
}

func upTimeline(ctx context.Context, db *database.Conn, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	types, err := ContextTypes(ctx, db)
	if err != nil {
		return err
	}
	for _, ct := range types {
		if err := timelineOf(ctx, db, ct, log); err != nil {
			return fmt.Errorf("%s: %w", EventsCollection(ct), err)
		}
	}
	return nil
}

func timelineOf(ctx context.Context, db *database.Conn, ct string, log *slog.Logger) error {
	coll := db.Collection(EventsCollection(ct))
	if err := createIndexes(ctx, db, coll, EventIndexes); err != nil { // cid_seq, on MongoDB
		return err
	}
	versions, eventTypes, err := readTimelines(ctx, coll)
	if err != nil {
		return err
	}
	updates, err := planTimelines(versions, eventTypes)
	if err != nil {
		return err
	}
	log.Info("timeline positions: writing", "ct", ct, "versions", len(updates), "events", len(eventTypes))
	return writeTimelines(ctx, coll, updates, log.With("ct", ct))
}

// readTimelines reads every head version of a collection, and the type of
// every event, in one scan.
func readTimelines(ctx context.Context, coll *database.Collection) (map[string][]*versionRecord, map[string]string, error) {
	versions := map[string][]*versionRecord{}
	eventTypes := map[string]string{}
	fields := &database.Find{Projection: bson.D{{Key: "cid", Value: 1}, {Key: "t", Value: 1}, {Key: "v", Value: 1}, {Key: "head", Value: 1}}}
	err := coll.Each(ctx, bson.D{}, fields, func(doc bson.Raw) error {
		id, _ := doc.Lookup("_id").StringValueOK()
		switch {
		case strings.HasPrefix(id, LogEntryPrefix):
		case doc.Lookup("head").Type == bson.TypeEmbeddedDocument:
			v := new(versionRecord)
			if err := bson.Unmarshal(doc, v); err != nil {
				return fmt.Errorf("head version %s: %w", id, err)
			}
			// A version written after this step (when it runs again) has
			// its head packed into one string (store/headformat.go).
			// As the store reads it: packed, then the fields beside it
			// (such as this step's own updates) over it.
			if packed, ok := doc.Lookup("head", "packed").StringValueOK(); ok {
				if err := bson.UnmarshalExtJSON([]byte(packed), false, &v.Head); err != nil {
					return fmt.Errorf("head version %s: its packed head: %w", id, err)
				}
				if err := doc.Lookup("head").Unmarshal(&v.Head); err != nil {
					return fmt.Errorf("head version %s: %w", id, err)
				}
			}
			versions[v.Cid] = append(versions[v.Cid], v)
		default:
			t, _ := doc.Lookup("t").StringValueOK()
			eventTypes[id] = t
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return versions, eventTypes, nil
}

// planTimelines computes every version's positions, types and log entry.
func planTimelines(versions map[string][]*versionRecord, eventTypes map[string]string) ([]timelineUpdate, error) {
	perContext := map[string][]timelineUpdate{}
	for cid, vs := range versions {
		slices.SortFunc(vs, func(a, b *versionRecord) int { return cmp.Compare(a.Head.Seq, b.Head.Seq) })
		var pos int64
		for i, v := range vs {
			if v.Head.Seq != int64(i+1) {
				return nil, fmt.Errorf("context %s lacks head version %d (run eventstore verify --repair first)", cid, i+1)
			}
			u := timelineUpdate{id: v.ID, cid: cid, seq: v.Head.Seq}
			for _, id := range v.Head.Added {
				t, ok := eventTypes[id]
				if !ok {
					return nil, fmt.Errorf("event %s of head version %d of %s is not stored (run eventstore verify)", id, v.Head.Seq, cid)
				}
				u.types = append(u.types, t)
			}
			pos += int64(len(v.Head.Added))
			u.pos = pos
			perContext[cid] = append(perContext[cid], u)
		}
	}
	// Number the versions that add events across contexts by when they
	// were written, each context's in its own order (its times made
	// non-decreasing first, should clocks have stepped back).
	type adding struct {
		at  bson.DateTime
		cid string
		i   int
	}
	var all []adding
	cids := make([]string, 0, len(perContext))
	for cid, vs := range versions {
		cids = append(cids, cid)
		var at bson.DateTime
		for i, v := range vs {
			at = max(at, v.Head.At)
			if len(v.Head.Added) > 0 {
				all = append(all, adding{at: at, cid: cid, i: i})
			}
		}
	}
	slices.Sort(cids)
	slices.SortFunc(all, func(a, b adding) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.cid, b.cid), cmp.Compare(a.i, b.i))
	})
	for n, a := range all {
		perContext[a.cid][a.i].log = int64(n + 1)
	}
	var out []timelineUpdate
	for _, cid := range cids {
		var last int64
		for i, u := range perContext[cid] {
			if u.log == 0 {
				u.log = last // a version adding nothing carries the newest entry on
			}
			last = u.log
			v := versions[cid][i]
			u.same = v.Head.Pos == u.pos && v.Head.Log == u.log && slices.Equal(v.Head.Types, u.types)
			out = append(out, u)
		}
	}
	return out, nil
}

// writeTimelines sets the versions' timelines and inserts the commit log
// entries, in short bulk writes (UpdateEach splits them as the backend
// needs), logging progress.
func writeTimelines(ctx context.Context, coll *database.Collection, updates []timelineUpdate, log *slog.Logger) error {
	const updateBatch, entryBatch = 500, 100
	var sets []database.Update
	var entries []any
	lastLog := time.Now()
	for i, u := range updates {
		last := i == len(updates)-1
		if len(u.types) > 0 {
			entries = append(entries, bson.D{{Key: "_id", Value: LogEntryID(u.log)}, {Key: "cid", Value: u.cid}, {Key: "seq", Value: u.seq}})
		}
		if !u.same {
			set := bson.D{{Key: "head.pos", Value: u.pos}, {Key: "head.log", Value: u.log}}
			if len(u.types) > 0 {
				set = append(set, bson.E{Key: "head.types", Value: u.types})
			}
			sets = append(sets, database.Update{Filter: bson.D{{Key: "_id", Value: u.id}}, Update: bson.D{{Key: "$set", Value: set}}})
		}
		if len(sets) >= updateBatch || last && len(sets) > 0 {
			if err := coll.UpdateEach(ctx, sets); err != nil {
				return err
			}
			sets = sets[:0]
		}
		if len(entries) >= entryBatch || last && len(entries) > 0 {
			// Entries already there (an earlier run wrote them) are fine.
			if err := coll.InsertMany(ctx, entries, false); !database.OnlyDuplicates(err) {
				return err
			}
			entries = entries[:0]
		}
		if time.Since(lastLog) > 5*time.Second {
			log.Info("timeline positions: progress", "versions", i+1, "of", len(updates))
			lastLog = time.Now()
		}
	}
	return nil
}
