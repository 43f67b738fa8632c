package database

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Deleting many documents by _id.
//
// Compaction deletes every head version and commit log entry it folds:
// as many documents as there were appends. FerretDB runs each delete
// statement of a command as a transaction of its own, an fsync each, and
// an $in on _id is a scan of the collection there, so folding 100,000
// quiet rooms took 26 minutes, most of it in those deletes. On the
// embedded store the ids therefore go to SQLite as one DELETE in one
// transaction, through this process's own handle on the file and the
// write gate: FerretDB keeps nothing about rows that it would need to
// hear of. Elsewhere they go as bulk deletes of one document each.

// deleteChunk is how many ids one DELETE statement of the embedded store
// names (SQLite allows 32,766 parameters).
const deleteChunk = 500

// DeleteByIDs deletes the documents of collection whose _id is one of ids:
// on the embedded store all in one transaction; elsewhere in unordered
// bulk writes of a delete of one document each, filter(id) naming it (with
// the shard key), a few per command (and so with Config.MongoDBReads). A
// document already gone is not an error.
func (c *Conn) DeleteByIDs(ctx context.Context, collection string, ids []string, filter func(id string) bson.D) error {
	if len(ids) == 0 {
		return nil
	}
	if c.embedded != nil && !c.backend.mongoReads {
		return c.embedded.DeleteIDs(ctx, c.DB.Name(), collection, ids, c.Write)
	}
	coll := c.DB.Collection(collection)
	for len(ids) > 0 {
		n := min(len(ids), c.backend.UpdateChunk())
		models := make([]mongo.WriteModel, n)
		for i, id := range ids[:n] {
			models[i] = mongo.NewDeleteOneModel().SetFilter(filter(id))
		}
		err := c.Write(ctx, func() error {
			_, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
			return err
		})
		if err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// DeleteIDs deletes the rows of collection in database whose _id is one of
// ids (strings), in one SQLite transaction, through write (the store's
// write gate).
func (e *Embedded) DeleteIDs(ctx context.Context, database, collection string, ids []string, write func(context.Context, func() error) error) error {
	db, err := e.handle(database)
	if err != nil {
		return err
	}
	table, err := tableOf(ctx, db, database, collection)
	if err != nil {
		return err
	}
	// FerretDB compares its _id expression with the value as JSON.
	args := make([]any, len(ids))
	for i, id := range ids {
		js, err := json.Marshal(id)
		if err != nil {
			return err
		}
		args[i] = string(js)
	}
	return write(ctx, func() error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for len(args) > 0 {
			n := min(len(args), deleteChunk)
			q := fmt.Sprintf(`DELETE FROM %q WHERE %s IN (?%s)`, table, idExpression, strings.Repeat(", ?", n-1))
			if _, err := tx.ExecContext(ctx, q, args[:n]...); err != nil {
				return fmt.Errorf("embedded store: deleting from %s.%s: %w", database, collection, err)
			}
			args = args[n:]
		}
		return tx.Commit()
	})
}
