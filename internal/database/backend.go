package database

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Backend is what the server behind a Conn can do, asked of it once when
// connecting (hello, buildInfo), and the choices that follow. It is the
// only place that knows which backend it is: callers ask what it can do.
type Backend struct {
	// FerretDB is FerretDB v1 on SQLite, embedded or reached by URI. Only
	// a filter that is exactly {_id: value} reaches SQLite there;
	// everything else is a scan in Go.
	FerretDB bool
	// transactions: multi-document transactions, on a MongoDB replica set
	// or sharded cluster. A standalone mongod has none.
	transactions bool
	// mongoReads: use MongoDB's read paths (ranges, $in, estimated
	// counts, secondary indexes, filters by _id that carry the shard key)
	// even on FerretDB, which executes them correctly, scanning; so that
	// tests here run them (Config.MongoDBReads).
	mongoReads bool
}

// detectBackend asks the server what it is.
func detectBackend(ctx context.Context, db *mongo.Database) (Backend, error) {
	var hello struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return Backend{}, err
	}
	var build bson.M
	if err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&build); err != nil {
		return Backend{}, err
	}
	var b Backend
	_, b.FerretDB = build["ferretdbVersion"]
	b.transactions = !b.FerretDB && (hello.SetName != "" || hello.Msg == "isdbgrid")
	return b, nil
}

// FerretBatch is FerretDB's insert batch size: an insert command of at most
// this many documents is written in one SQLite transaction.
const FerretBatch = 100

// FerretDB v1 keeps the SQLite connection of every statement of an update
// command open until the command ends, and has 100 of them: a bulk update of
// 100 statements, or many bulk updates at once, deadlock its pool. So
// FerretDB, embedded or not, gets short update commands and a small driver
// pool.
const (
	ferretUpdateChunk = 4
	ferretPoolSize    = 16
	mongoUpdateChunk  = 500
)

// UpdateChunk bounds the statements of one update command.
func (b Backend) UpdateChunk() int {
	if b.FerretDB {
		return ferretUpdateChunk
	}
	return mongoUpdateChunk
}

// poolSize is the driver's connection pool cap for this backend (0: the
// driver's default).
func (b Backend) poolSize() uint64 {
	if b.FerretDB {
		return ferretPoolSize
	}
	return 0
}

// Writable says whether events can be written here: a standalone mongod has
// no transactions, so a head version and its events could not be written
// all or nothing. Reading and auditing work anyway.
func (b Backend) Writable() error {
	if b.transactions || b.FerretDB {
		return nil
	}
	return errors.New("a standalone mongod cannot write events atomically (no transactions): " +
		"run it as a replica set (mongod --replSet rs0, then rs.initiate() once; one member is enough)")
}

// EscapesNestedArrays: FerretDB v1 cannot store an array directly inside
// an array, so data holding one is stored escaped (escape.go).
func (b Backend) EscapesNestedArrays() bool { return b.FerretDB }

// CountsCheaply: an estimated document count is metadata, not a scan.
func (b Backend) CountsCheaply() bool { return !b.FerretDB || b.mongoReads }

// ReadsRanges: a find on a range of an index, or an $in on _id, is one
// indexed read (MongoDB), so a set of documents is read in one round trip.
// On FerretDB either is a scan of the collection: there a set is read as
// that many finds by _id.
func (b Backend) ReadsRanges() bool { return !b.FerretDB || b.mongoReads }

// SecondaryIndexes: indexes other than _id serve queries. FerretDB v1
// pushes no filter but {_id: value} down to SQLite, so there they would
// only cost every write.
func (b Backend) SecondaryIndexes() bool { return !b.FerretDB || b.mongoReads }

// gated: this process's writes go one at a time (writegate.go).
func (b Backend) gated() bool { return b.FerretDB }

// ByID is the filter of the one document with _id id in a collection
// sharded on field key, whose value there is value (key "": sharded on
// _id, or not at all): {_id: id, key: value} on MongoDB, where the _id
// index answers it and a sharded cluster sends it to the one shard that
// holds value; {_id: id} alone on FerretDB, which scans for any other
// filter.
func (b Backend) ByID(key string, value, id any) bson.D {
	if key == "" || b.FerretDB && !b.mongoReads {
		return bson.D{{Key: "_id", Value: id}}
	}
	return bson.D{{Key: "_id", Value: id}, {Key: key, Value: value}}
}

// ByIDs is ByID for the documents with any of ids: an $in on _id, read
// in one round trip where ReadsRanges.
func (b Backend) ByIDs(key string, value any, ids []string) bson.D {
	f := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}
	if key != "" && (!b.FerretDB || b.mongoReads) {
		f = append(f, bson.E{Key: key, Value: value})
	}
	return f
}
