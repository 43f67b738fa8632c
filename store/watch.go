package store

import (
	"context"
	"errors"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/eventstore-go/eventstore/migrations"
)

// ErrNoChangeStreams is WatchLogs's answer on a backend without change
// streams (FerretDB, a standalone mongod): readers poll the logs instead.
var ErrNoChangeStreams = errors.New("this backend has no change streams")

// WatchLogs calls wake with the context type of every commit log entry
// inserted into the database, by any process, until ctx ends: a MongoDB
// change stream on the database, filtered to entry inserts. It only wakes
// readers, who still read the log by _id and poll it as well, so a change
// stream that breaks loses nothing. Not exercised by the tests here (no
// MongoDB server on these machines); written to the driver's documentation
// of Database.Watch.
func (s *Store) WatchLogs(ctx context.Context, wake func(ct string)) error {
	if !s.conn.dialect.transactions {
		return ErrNoChangeStreams
	}
	pipeline := mongo.Pipeline{{{Key: "$match", Value: bson.D{
		{Key: "operationType", Value: "insert"},
		{Key: "documentKey._id", Value: bson.D{{Key: "$regex", Value: "^" + strings.ReplaceAll(migrations.LogEntryPrefix, "#", `\#`)}}},
	}}}}
	cs, err := s.db.Watch(ctx, pipeline)
	if err != nil {
		return dbError("change stream", err)
	}
	defer cs.Close(context.WithoutCancel(ctx))
	for cs.Next(ctx) {
		var ev struct {
			NS struct {
				Coll string `bson:"coll"`
			} `bson:"ns"`
		}
		if err := cs.Decode(&ev); err != nil {
			continue
		}
		if ct, ok := strings.CutSuffix(ev.NS.Coll, "_events"); ok {
			wake(ct)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return dbError("change stream", cs.Err())
}
