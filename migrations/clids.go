package migrations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/eventstore-go/eventstore/internal/database"
)

// upClidRecords (step 10) moves the records of client ids from <ct>_clids
// into <ct>_events, beside the events they name (ClidRecordID), where a
// claim writes them in the same insert as its events: a clid used already
// then fails that insert, and an append with a clid is one write. It
// copies every record (a record there already stays as it is), then drops
// <ct>_clids; run again, it copies what is left.
func upClidRecords(ctx context.Context, db *database.Conn, log *slog.Logger) error {
	types, err := ContextTypes(ctx, db.Database())
	if err != nil {
		return err
	}
	names, err := db.Database().ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return err
	}
	for _, ct := range types {
		old := ClidsCollection(ct)
		if !slices.Contains(names, old) {
			continue
		}
		n, err := copyClidRecords(ctx, db.Database().Collection(old), db.Database().Collection(EventsCollection(ct)))
		if err != nil {
			return fmt.Errorf("clid records of %s: %w", ct, err)
		}
		if err := db.Database().Collection(old).Drop(ctx); err != nil {
			return fmt.Errorf("dropping %s: %w", old, err)
		}
		log.Info("clid records moved beside the events", "ct", ct, "records", n)
	}
	return nil
}

// copyClidRecords copies the records of from ({_id: "cid#clid", event})
// into to, in batches; it returns how many it read.
func copyClidRecords(ctx context.Context, from, to *mongo.Collection) (int, error) {
	cur, err := from.Find(ctx, bson.D{})
	if err != nil {
		return 0, err
	}
	defer cur.Close(ctx)
	const batchSize = 500
	n := 0
	var batch []any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := to.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
		batch = batch[:0]
		if err != nil && !onlyDuplicates(err) {
			return err
		}
		return nil
	}
	for cur.Next(ctx) {
		var d struct {
			ID    string `bson:"_id"`
			Event string `bson:"event"`
		}
		if err := cur.Decode(&d); err != nil {
			return n, err
		}
		cid, clid, ok := strings.Cut(d.ID, "#")
		if !ok || d.Event == "" {
			continue
		}
		n++
		batch = append(batch, bson.D{{Key: "_id", Value: ClidRecordID(cid, clid)}, {Key: "cid", Value: cid},
			{Key: "event", Value: d.Event}, {Key: "at", Value: bson.DateTime(0)}})
		if len(batch) == batchSize {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return n, err
	}
	return n, flush()
}

// onlyDuplicates reports whether every error of an unordered insert is a
// duplicate key: the documents are there already.
func onlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) == 0 || bwe.WriteConcernError != nil {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}
	return true
}
