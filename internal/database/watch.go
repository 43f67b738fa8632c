package database

import (
	"context"
	"errors"
	"regexp"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// ErrNoChangeStreams is WatchInserts's answer on a backend without change
// streams (FerretDB, a standalone mongod): readers poll instead.
var ErrNoChangeStreams = errors.New("this backend has no change streams")

// WatchInserts calls wake with the collection of every document inserted
// into the database, by any process, whose _id starts with idPrefix, until
// ctx ends: a MongoDB change stream on the database. Not exercised by the
// tests here (no MongoDB server on these machines); written to the
// driver's documentation of Database.Watch.
func (c *Conn) WatchInserts(ctx context.Context, idPrefix string, wake func(collection string)) error {
	if !c.backend.transactions {
		return ErrNoChangeStreams
	}
	pipeline := mongo.Pipeline{{{Key: "$match", Value: bson.D{
		{Key: "operationType", Value: "insert"},
		{Key: "documentKey._id", Value: bson.D{{Key: "$regex", Value: "^" + regexp.QuoteMeta(idPrefix)}}},
	}}}}
	cs, err := c.DB.Watch(ctx, pipeline)
	if err != nil {
		return err
	}
	defer cs.Close(context.WithoutCancel(ctx))
	for cs.Next(ctx) {
		var ev struct {
			NS struct {
				Coll string `bson:"coll"`
			} `bson:"ns"`
		}
		if err := cs.Decode(&ev); err == nil {
			wake(ev.NS.Coll)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return cs.Err()
}
