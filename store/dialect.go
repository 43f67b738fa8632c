package store

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// dialect is what differs between the backends the store runs on, a real
// MongoDB and FerretDB v1 on SQLite (the embedded store), in one place:
// the rest of the store asks it what the backend can do rather than
// branching on which backend it is.
type dialect struct {
	// ferret is FerretDB v1. Only a filter that is exactly {_id: value}
	// reaches SQLite there; everything else is a scan in Go.
	ferret bool
	// transactions: multi-document transactions, on a MongoDB replica set
	// or sharded cluster. A standalone mongod has none.
	transactions bool
}

// detectDialect asks the server what it is.
func detectDialect(ctx context.Context, db *mongo.Database) (dialect, error) {
	var hello struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return dialect{}, err
	}
	var build bson.M
	if err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&build); err != nil {
		return dialect{}, err
	}
	var d dialect
	_, d.ferret = build["ferretdbVersion"]
	d.transactions = !d.ferret && (hello.SetName != "" || hello.Msg == "isdbgrid")
	return d, nil
}

// ferretBatch is FerretDB's insert batch size: an insert command of at most
// this many documents is written in one SQLite transaction.
const ferretBatch = 100

// FerretDB v1 keeps the SQLite connection of every statement of an update
// command open until the command ends, and has 100 of them: a bulk update of
// 100 statements, or many bulk updates at once, deadlock its pool. So the
// embedded store gets short update commands and a small driver pool.
const (
	embeddedUpdateChunk = 4
	embeddedPoolSize    = 16
	mongoUpdateChunk    = 500
)

// updateChunk bounds the statements of one update command.
func (d dialect) updateChunk() int {
	if d.ferret {
		return embeddedUpdateChunk
	}
	return mongoUpdateChunk
}

// writable says whether the store can write: a standalone mongod has no
// transactions, so a head version and its events could not be written all
// or nothing. Reading and auditing work anyway.
func (d dialect) writable() error {
	if d.transactions || d.ferret {
		return nil
	}
	return errors.New("a standalone mongod cannot write events atomically (no transactions): " +
		"run it as a replica set (mongod --replSet rs0, then rs.initiate() once; one member is enough)")
}

// insertAtomically inserts docs, in order, all or nothing: on FerretDB one
// insert command of at most ferretBatch documents is one SQLite
// transaction; on MongoDB the insert runs in a transaction.
func (d dialect) insertAtomically(ctx context.Context, client *mongo.Client, coll *mongo.Collection, docs []any) error {
	if d.ferret {
		if len(docs) > ferretBatch {
			return fmt.Errorf("%d documents cannot be inserted atomically (at most %d)", len(docs), ferretBatch)
		}
		_, err := coll.InsertMany(ctx, docs)
		return err
	}
	if err := d.writable(); err != nil {
		return err
	}
	sess, err := client.StartSession()
	if err != nil {
		return err
	}
	defer sess.EndSession(ctx)
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		return coll.InsertMany(ctx, docs)
	})
	return err
}

// partialInsertPossible: without transactions (FerretDB), an insert that
// failed on a duplicate may have written the documents before it.
func (d dialect) partialInsertPossible() bool { return !d.transactions }

// escapesNestedArrays: FerretDB v1 cannot store an array directly inside
// an array, so data holding one is stored escaped (nested.go).
func (d dialect) escapesNestedArrays() bool { return d.ferret }

// countsCheaply: an estimated document count is metadata, not a scan.
func (d dialect) countsCheaply() bool { return !d.ferret }

// readsRanges: a find on a range of an index, or an $in on _id, is one
// indexed read (MongoDB), so a set of documents is read in one round trip.
// On FerretDB either is a scan of the collection: there a set is read as
// that many finds by _id.
func (d dialect) readsRanges() bool { return !d.ferret }
