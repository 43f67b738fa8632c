package database

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Index is a secondary index of a collection.
type Index struct {
	Name   string
	Keys   bson.D
	Sparse bool
}

// IndexNames lists the names of the collection's indexes.
func (c *Collection) IndexNames(ctx context.Context) ([]string, error) {
	cur, err := c.c.Indexes().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("indexes of %s: %w", c.Name(), err)
	}
	var existing []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(ctx, &existing); err != nil {
		return nil, fmt.Errorf("indexes of %s: %w", c.Name(), err)
	}
	names := make([]string, len(existing))
	for i, e := range existing {
		names[i] = e.Name
	}
	return names, nil
}

// CreateIndexes creates indexes. (FerretDB v1 panics and drops the
// connection when asked to create one that exists: leave those out.)
func (c *Collection) CreateIndexes(ctx context.Context, indexes []Index) error {
	models := make([]mongo.IndexModel, len(indexes))
	for i, ix := range indexes {
		opts := options.Index().SetName(ix.Name)
		if ix.Sparse {
			opts.SetSparse(true)
		}
		models[i] = mongo.IndexModel{Keys: ix.Keys, Options: opts}
	}
	if len(models) == 0 {
		return nil
	}
	err := c.conn.Write(ctx, func() error {
		_, err := c.c.Indexes().CreateMany(ctx, models)
		return err
	})
	if err != nil {
		return fmt.Errorf("indexes of %s: %w", c.Name(), err)
	}
	return nil
}

// DropIndex drops the index called name; one already gone (another
// process dropped it) is not an error.
func (c *Collection) DropIndex(ctx context.Context, name string) error {
	err := c.conn.Write(ctx, func() error { return c.c.Indexes().DropOne(ctx, name) })
	var ce mongo.CommandError
	if err != nil && !(errors.As(err, &ce) && ce.Code == 27) { // 27: IndexNotFound
		return fmt.Errorf("dropping index %s of %s: %w", name, c.Name(), err)
	}
	return nil
}

// CollectionNames lists the database's collections.
func (c *Conn) CollectionNames(ctx context.Context) ([]string, error) {
	return c.DB.ListCollectionNames(ctx, bson.D{})
}
