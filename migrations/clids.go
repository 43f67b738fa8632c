package migrations

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/internal/database"
)

// upClidRecords (step 10) moves the records of client ids from <ct>_clids
// into <ct>_events, beside the events they name (ClidRecordID), where a
// claim writes them in the same insert as its events: a clid used already
// then fails that insert, and an append with a clid is one write. It
// copies every record (a record there already stays as it is), then drops
// <ct>_clids; run again, it copies what is left.
func upClidRecords(ctx context.Context, db *database.Conn, log *slog.Logger) error {
	types, err := ContextTypes(ctx, db)
	if err != nil {
		return err
	}
	names, err := db.CollectionNames(ctx)
	if err != nil {
		return err
	}
	for _, ct := range types {
		old := ClidsCollection(ct)
		if !slices.Contains(names, old) {
			continue
		}
		n, err := copyClidRecords(ctx, db.Collection(old), db.Collection(EventsCollection(ct)))
		if err != nil {
			return fmt.Errorf("clid records of %s: %w", ct, err)
		}
		if err := db.Collection(old).Drop(ctx); err != nil {
			return fmt.Errorf("dropping %s: %w", old, err)
		}
		log.Info("clid records moved beside the events", "ct", ct, "records", n)
	}
	return nil
}

// copyClidRecords copies the records of from ({_id: "cid#clid", event})
// into to, in batches; it returns how many it read.
func copyClidRecords(ctx context.Context, from, to *database.Collection) (int, error) {
	const batchSize = 500
	n := 0
	var batch []any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := to.InsertMany(ctx, batch, false)
		batch = batch[:0]
		if !database.OnlyDuplicates(err) { // a duplicate: copied by an earlier run
			return err
		}
		return nil
	}
	err := from.Each(ctx, bson.D{}, nil, func(raw bson.Raw) error {
		var d struct {
			ID    string `bson:"_id"`
			Event string `bson:"event"`
		}
		if err := bson.Unmarshal(raw, &d); err != nil {
			return err
		}
		cid, clid, ok := strings.Cut(d.ID, "#")
		if !ok || d.Event == "" {
			return nil
		}
		n++
		batch = append(batch, bson.D{{Key: "_id", Value: ClidRecordID(cid, clid)}, {Key: "cid", Value: cid},
			{Key: "event", Value: d.Event}, {Key: "at", Value: bson.DateTime(0)}})
		if len(batch) == batchSize {
			return flush()
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, flush()
}
