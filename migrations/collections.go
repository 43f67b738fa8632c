package migrations

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Database is what migrations need of an open database: the driver handle
// and a way to create a collection (which, on the embedded store, also adds
// the index FerretDB's _id lookups need).
type Database interface {
	Database() *mongo.Database
	CreateCollection(ctx context.Context, name string) error
}

// Collections shared by all context types.
const (
	ContextsCollection   = "contexts"          // one document per context: {_id: "ct/cid", ct, cid, seq}
	MigrationsCollection = "schema_migrations" // one document per applied step
)

// Collections of context type ct. Events of rooms live in room_events.
func EventsCollection(ct string) string { return ct + "_events" } // the events
func HeadsCollection(ct string) string  { return ct + "_heads" }  // head log: leaves per version
func ClidsCollection(ct string) string  { return ct + "_clids" }  // client ids → event ids
func EditsCollection(ct string) string  { return ct + "_edits" }  // update and delete events by target

// EventIndexes are the secondary indexes of every <ct>_events collection.
// They serve listing and the audit on MongoDB; the hot path (append,
// ingest, leaves, idempotency) reads and writes by _id only.
var EventIndexes = []mongo.IndexModel{
	{Keys: bson.D{{Key: "cid", Value: 1}, {Key: "ts", Value: 1}, {Key: "_id", Value: 1}},
		Options: options.Index().SetName("cid_ts_id")},
	{Keys: bson.D{{Key: "cid", Value: 1}, {Key: "isLeaf", Value: 1}},
		Options: options.Index().SetName("cid_isLeaf").SetSparse(true)},
	{Keys: bson.D{{Key: "pids", Value: 1}}, Options: options.Index().SetName("pids")},
}

// PrepareContextType creates the collections and indexes of context type
// ct. It is idempotent.
func PrepareContextType(ctx context.Context, db Database, ct string) error {
	for _, name := range []string{EventsCollection(ct), HeadsCollection(ct), ClidsCollection(ct), EditsCollection(ct)} {
		if err := db.CreateCollection(ctx, name); err != nil {
			return err
		}
	}
	if _, err := db.Database().Collection(EventsCollection(ct)).Indexes().CreateMany(ctx, EventIndexes); err != nil {
		return fmt.Errorf("indexes of %s: %w", EventsCollection(ct), err)
	}
	return nil
}

// ContextTypes lists the context types present in the database: those in
// the contexts registry and those with an events collection.
func ContextTypes(ctx context.Context, db *mongo.Database) ([]string, error) {
	seen := map[string]bool{}
	var types []string
	add := func(ct string) {
		if ct != "" && !seen[ct] {
			seen[ct] = true
			types = append(types, ct)
		}
	}
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if len(n) > len("_events") && n[len(n)-len("_events"):] == "_events" {
			add(n[:len(n)-len("_events")])
		}
	}
	res := db.Collection(ContextsCollection).Distinct(ctx, "ct", bson.D{})
	var cts []string
	if err := res.Decode(&cts); err != nil && res.Err() == nil {
		return nil, err
	}
	for _, ct := range cts {
		add(ct)
	}
	return types, nil
}
