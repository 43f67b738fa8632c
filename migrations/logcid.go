package migrations

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/internal/database"
)

// upLogCid (step 11) gives every commit log document of <ct>_events (its
// entries, entry spans and folded mark) cid LogCid, the one shard key
// value of the log, and moves an entry's context from cid to room. Entries
// written before had their context's cid, and voids and spans none: on a
// sharded cluster two contexts' entries n could have gone to two shards,
// each taking the number. Run again, it finds nothing left to do. Shard
// <ct>_events only after it has run (docs/scaling.md).
func upLogCid(ctx context.Context, db *database.Conn, log *slog.Logger) error {
	types, err := ContextTypes(ctx, db)
	if err != nil {
		return err
	}
	for _, ct := range types {
		coll := db.Collection(EventsCollection(ct))
		var updates []database.Update
		filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$regex", Value: "^" + strings.ReplaceAll(LogEntryPrefix, "#", `\#`)}}}}
		find := &database.Find{Projection: bson.D{{Key: "cid", Value: 1}}}
		err := coll.Each(ctx, filter, find, func(raw bson.Raw) error {
			id, _ := raw.Lookup("_id").StringValueOK()
			cid, _ := raw.Lookup("cid").StringValueOK()
			if cid == LogCid {
				return nil
			}
			set := bson.D{{Key: "cid", Value: LogCid}}
			if cid != "" {
				set = append(set, bson.E{Key: "room", Value: cid}) // an entry's context
			}
			updates = append(updates, database.Update{Filter: bson.D{{Key: "_id", Value: id}}, Update: bson.D{{Key: "$set", Value: set}}})
			return nil
		})
		if err != nil {
			return fmt.Errorf("commit log of %s: %w", ct, err)
		}
		if err := coll.UpdateEach(ctx, updates); err != nil {
			return fmt.Errorf("commit log of %s: %w", ct, err)
		}
		if len(updates) > 0 {
			log.Info("commit log documents given the log's shard key", "ct", ct, "documents", len(updates))
		}
	}
	return nil
}
