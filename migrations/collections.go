package migrations

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/internal/database"
)

// Collections shared by all context types.
const (
	ContextsCollection    = "contexts"          // one document per context: {_id: "ct/cid", ct, cid, seq}
	MigrationsCollection  = "schema_migrations" // one document per applied step
	CheckpointsCollection = "audit_checkpoints" // how far the audit verified each context
	ProbeCollection       = "write_probe"       // a document written and removed to see whether writes succeed again
)

// Collections of the federation: the one place that names them.
const (
	ServerKeysCollection   = "server_keys"        // this server's signing keys
	PeerKeysCollection     = "peer_keys"          // every key of other servers seen, never removed
	CursorsCollection      = "federation_cursors" // what was delivered to each peer, per context
	TransactionsCollection = "federation_txns"    // answers to transactions received
	PendingCollection      = "federation_pending" // received events waiting for their parents
	LeasesCollection       = "federation_leases"  // which process sends to each peer
	ReplaysCollection      = "federation_replays" // signatures of requests received within the signing window
)

// Collections of context type ct. Events of rooms live in room_events,
// beside the versions of each room's head (documents "<cid>#<seq>").
func EventsCollection(ct string) string { return ct + "_events" } // the events and head versions
func ClidsCollection(ct string) string  { return ct + "_clids" }  // client ids → event ids, before step 10 (see ClidRecordID)
func EditsCollection(ct string) string  { return ct + "_edits" }  // update and delete events by target

// VersionID is the _id of version seq of context cid's head, in
// <ct>_events beside the context's events.
func VersionID(cid string, seq int64) string { return cid + "#" + strconv.FormatInt(seq, 10) }

// EventsOf is the filter for the events of context cid in a <ct>_events
// collection, which also holds the context's head versions (they have no v).
func EventsOf(cid string) bson.D {
	return bson.D{{Key: "cid", Value: cid}, {Key: "v", Value: bson.D{{Key: "$exists", Value: true}}}}
}

// LogEntryID is the _id of entry n of a context type's commit log, in
// <ct>_events: which head version was the n-th to add events. A context id
// starts with a letter or digit, so it never looks like a version's.
func LogEntryID(n int64) string { return LogEntryPrefix + strconv.FormatInt(n, 10) }

// ClidRecordID is the _id of the record of client id clid in context cid,
// in <ct>_events beside the context's events: written in the same insert
// as the event it names, so that a clid used already fails that insert.
// A context id has no '#', and "c" is neither a version's number nor a
// span's "s": it never looks like another document's.
func ClidRecordID(cid, clid string) string { return cid + "#c" + clid }

// LogEntryPrefix starts the _id of every commit log entry.
const LogEntryPrefix = "~log#"

// LogCid is the cid, the shard key in <ct>_events, of every commit log
// document (entries, entry spans, the folded mark), which name their
// context in "room": one value, so that a sharded cluster keeps the log on
// one shard and a number claimed by a unique _id is unique across shards.
// A context id starts with a letter or digit: it is never this.
const LogCid = "~log"

// EventIndexes are the secondary indexes of every <ct>_events collection.
// They serve listing and the audit on MongoDB; the hot path (append,
// ingest, leaves, idempotency) reads and writes by _id only.
var EventIndexes = []database.Index{
	{Name: "cid_ts_id", Keys: bson.D{{Key: "cid", Value: 1}, {Key: "ts", Value: 1}, {Key: "_id", Value: 1}}},
	{Name: "cid_isLeaf", Keys: bson.D{{Key: "cid", Value: 1}, {Key: "isLeaf", Value: 1}}, Sparse: true},
	{Name: "pids", Keys: bson.D{{Key: "pids", Value: 1}}},
	// A context's timeline: its head versions in order, each holding the
	// positions it adds (a page is one range read of them on MongoDB).
	{Name: "cid_seq", Keys: bson.D{{Key: "cid", Value: 1}, {Key: "head.seq", Value: 1}}, Sparse: true},
}

// PrepareContextType creates the collections and indexes of context type
// ct. It is idempotent.
func PrepareContextType(ctx context.Context, db *database.Conn, ct string) error {
	for _, name := range []string{EventsCollection(ct), EditsCollection(ct)} {
		if err := db.CreateCollection(ctx, name); err != nil {
			return err
		}
	}
	return createIndexes(ctx, db, db.Collection(EventsCollection(ct)), EventIndexes)
}

// createIndexes creates the indexes a collection lacks, where secondary
// indexes serve queries. (Asking FerretDB v1 to create an index that exists
// makes it panic and drop the connection.)
func createIndexes(ctx context.Context, db *database.Conn, c *database.Collection, indexes []database.Index) error {
	if !db.Backend().SecondaryIndexes() {
		return nil
	}
	existing, err := c.IndexNames(ctx)
	if err != nil {
		return err
	}
	var missing []database.Index
	for _, ix := range indexes {
		if !slices.Contains(existing, ix.Name) {
			missing = append(missing, ix)
		}
	}
	return c.CreateIndexes(ctx, missing)
}

// dropUnusedIndexes drops the given indexes of a collection where
// secondary indexes serve no query (stores made before step 6 have them).
// A concurrent drop of the same index by another process is not an error.
func dropUnusedIndexes(ctx context.Context, db *database.Conn, c *database.Collection, indexes []database.Index) error {
	if db.Backend().SecondaryIndexes() {
		return nil
	}
	existing, err := c.IndexNames(ctx)
	if err != nil {
		return err
	}
	for _, ix := range indexes {
		if slices.Contains(existing, ix.Name) {
			if err := c.DropIndex(ctx, ix.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// ContextTypes lists the context types present in the database: those in
// the contexts registry and those with an events collection.
func ContextTypes(ctx context.Context, db *database.Conn) ([]string, error) {
	ctx = database.Scatter(ctx, database.ScatterContextTypes)
	seen := map[string]bool{}
	var types []string
	add := func(ct string) {
		if ct != "" && !seen[ct] {
			seen[ct] = true
			types = append(types, ct)
		}
	}
	names, err := db.CollectionNames(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if ct, ok := strings.CutSuffix(n, "_events"); ok {
			add(ct)
		}
	}
	// Not distinct: FerretDB v1 refuses the maxTimeMS the driver adds to it.
	var docs []struct {
		Ct string `bson:"ct"`
	}
	ctOnly := &database.Find{Projection: bson.D{{Key: "ct", Value: 1}}}
	if err := db.Collection(ContextsCollection).FindAll(ctx, bson.D{}, ctOnly, &docs); err != nil {
		return nil, err
	}
	for _, d := range docs {
		add(d.Ct)
	}
	slices.Sort(types)
	return types, nil
}
