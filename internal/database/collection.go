package database

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Collection is a collection of the packages that keep their own documents
// beside the events (federation, audit, migrations): the operations they
// use, every write through the write gate. Errors are the driver's; test
// them with ErrNotFound and IsDuplicate, or turn them into answers with
// Wrap.
type Collection struct {
	conn *Conn
	c    *mongo.Collection
}

// Collection is the collection called name.
func (c *Conn) Collection(name string) *Collection {
	return &Collection{conn: c, c: c.DB.Collection(name)}
}

// Name is the collection's name.
func (c *Collection) Name() string { return c.c.Name() }

// Find selects documents: Sort and Limit as the driver takes them (nil,
// 0: none), Projection to read some fields only.
type Find struct {
	Sort       bson.D
	Limit      int64
	Projection bson.D
}

func (f *Find) options() *options.FindOptionsBuilder {
	o := options.Find()
	if f == nil {
		return o
	}
	if f.Sort != nil {
		o.SetSort(f.Sort)
	}
	if f.Limit > 0 {
		o.SetLimit(f.Limit)
	}
	if f.Projection != nil {
		o.SetProjection(f.Projection)
	}
	return o
}

// FindOne decodes the first document filter matches into out; ErrNotFound
// when there is none.
func (c *Collection) FindOne(ctx context.Context, filter any, out any) error {
	return c.c.FindOne(ctx, filter).Decode(out)
}

// FindByID decodes the document with _id id into out; found is false when
// there is none. It is the one read FerretDB answers from an index.
func (c *Collection) FindByID(ctx context.Context, id any, out any) (found bool, err error) {
	err = c.c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(out)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	return err == nil, err
}

// FindAll decodes every document filter matches into out, a pointer to a
// slice. On FerretDB a filter other than {_id: value} scans the
// collection: keep it to small collections there.
func (c *Collection) FindAll(ctx context.Context, filter any, find *Find, out any) error {
	cur, err := c.c.Find(ctx, filter, find.options())
	if err != nil {
		return err
	}
	return cur.All(ctx, out)
}

// Each calls fn with every document filter matches, in turn, until fn
// returns an error, without holding them all.
func (c *Collection) Each(ctx context.Context, filter any, find *Find, fn func(bson.Raw) error) error {
	cur, err := c.c.Find(ctx, filter, find.options())
	if err != nil {
		return err
	}
	defer cur.Close(context.WithoutCancel(ctx))
	for cur.Next(ctx) {
		if err := fn(cur.Current); err != nil {
			return err
		}
	}
	return cur.Err()
}

// Count counts the documents filter matches, up to limit (0: all). On
// FerretDB it reads them: keep it to small collections there.
func (c *Collection) Count(ctx context.Context, filter any, limit int64) (int64, error) {
	o := options.Count()
	if limit > 0 {
		o.SetLimit(limit)
	}
	return c.c.CountDocuments(ctx, filter, o)
}

// InsertOne inserts doc.
func (c *Collection) InsertOne(ctx context.Context, doc any) error {
	return c.conn.Write(ctx, func() error {
		_, err := c.c.InsertOne(ctx, doc)
		return err
	})
}

// InsertMany inserts docs; unordered, it goes on past a failed document
// and OnlyDuplicates tells whether every failure was one already there.
func (c *Collection) InsertMany(ctx context.Context, docs []any, ordered bool) error {
	if len(docs) == 0 {
		return nil
	}
	return c.conn.Write(ctx, func() error {
		_, err := c.c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(ordered))
		return err
	})
}

// UpdateOne applies update to the first document filter matches, or with
// upsert inserts one; it returns how many matched.
func (c *Collection) UpdateOne(ctx context.Context, filter, update any, upsert bool) (matched int64, err error) {
	err = c.conn.Write(ctx, func() error {
		res, err := c.c.UpdateOne(ctx, filter, update, options.UpdateOne().SetUpsert(upsert))
		if res != nil {
			matched = res.MatchedCount + res.UpsertedCount
		}
		return err
	})
	return matched, err
}

// UpdateMany applies update to every document filter matches.
func (c *Collection) UpdateMany(ctx context.Context, filter, update any) (matched int64, err error) {
	err = c.conn.Write(ctx, func() error {
		res, err := c.c.UpdateMany(ctx, filter, update)
		if res != nil {
			matched = res.MatchedCount
		}
		return err
	})
	return matched, err
}

// Update is one update of UpdateEach.
type Update struct {
	Filter, Update any
}

// UpdateEach applies each update to the first document its filter
// matches, in commands as small as the backend needs (Conn.BulkUpdate).
func (c *Collection) UpdateEach(ctx context.Context, updates []Update) error {
	models := make([]mongo.WriteModel, len(updates))
	for i, u := range updates {
		models[i] = mongo.NewUpdateOneModel().SetFilter(u.Filter).SetUpdate(u.Update)
	}
	return c.conn.BulkUpdate(ctx, c.c, models)
}

// ReplaceOne replaces the first document filter matches with doc, or with
// upsert inserts it.
func (c *Collection) ReplaceOne(ctx context.Context, filter, doc any, upsert bool) error {
	return c.conn.Write(ctx, func() error {
		_, err := c.c.ReplaceOne(ctx, filter, doc, options.Replace().SetUpsert(upsert))
		return err
	})
}

// DeleteOne deletes the first document filter matches; it returns how
// many it deleted.
func (c *Collection) DeleteOne(ctx context.Context, filter any) (deleted int64, err error) {
	err = c.conn.Write(ctx, func() error {
		res, err := c.c.DeleteOne(ctx, filter)
		if res != nil {
			deleted = res.DeletedCount
		}
		return err
	})
	return deleted, err
}

// DeleteMany deletes every document filter matches.
func (c *Collection) DeleteMany(ctx context.Context, filter any) (deleted int64, err error) {
	err = c.conn.Write(ctx, func() error {
		res, err := c.c.DeleteMany(ctx, filter)
		if res != nil {
			deleted = res.DeletedCount
		}
		return err
	})
	return deleted, err
}

// Drop removes the collection.
func (c *Collection) Drop(ctx context.Context) error {
	return c.conn.Write(ctx, func() error { return c.c.Drop(ctx) })
}
