package database

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// InsertError is how far a failed atomic insert got, the same on every
// backend, so that callers decide from it rather than from the backend:
//
//   - in a MongoDB transaction nothing is written, and a duplicate's
//     document is not named (Written 0, At -1);
//   - FerretDB writes a batch in one SQLite transaction and, when that
//     fails, goes on document by document, stopping at the first failure:
//     the documents before a duplicate are written (Written == At); after
//     another failure, how many is not known (Unknown).
type InsertError struct {
	Err       error
	Duplicate bool // a document's _id (or another unique key) was taken
	At        int  // the duplicate document's index; -1: not named
	Written   int  // documents known to be written, from the first
	Unknown   bool // documents from Written on may be written too
}

func (e *InsertError) Error() string { return e.Err.Error() }
func (e *InsertError) Unwrap() error { return e.Err }

// DuplicateAt is an InsertError for a duplicate at document index of an
// insert that wrote the documents before it, as a FerretDB insert does.
func DuplicateAt(index int) *InsertError {
	return &InsertError{Err: fmt.Errorf("duplicate key at document %d", index), Duplicate: true, At: index, Written: index}
}

// InsertAtomically inserts docs, in order, all or nothing, through the
// write gate: on FerretDB one insert command of at most 100 documents is
// one SQLite transaction; on MongoDB the insert runs in a transaction
// (inTransaction). A failure is an *InsertError.
func (c *Conn) InsertAtomically(ctx context.Context, coll *mongo.Collection, docs []any) error {
	if c.backend.FerretDB && len(docs) > FerretBatch {
		return fmt.Errorf("%d documents cannot be inserted atomically (at most %d)", len(docs), FerretBatch)
	}
	if err := c.backend.Writable(); err != nil {
		return err
	}
	var taken bool
	err := c.Write(ctx, func() error {
		if c.backend.FerretDB && c.backend.mongoReads {
			var err error
			if taken, err = anyStored(ctx, coll, docs); err != nil || taken {
				return err
			}
		}
		if c.backend.transactions {
			return c.inTransaction(ctx, func(ctx context.Context) error {
				_, err := coll.InsertMany(ctx, docs)
				return err
			})
		}
		_, err := coll.InsertMany(ctx, docs)
		return err
	})
	if taken {
		return &InsertError{Err: errors.New("duplicate key (found before inserting, as a transaction would)"), Duplicate: true, At: -1}
	}
	if err == nil {
		return nil
	}
	ie := &InsertError{Err: err, At: -1}
	if index, ok := duplicateIndex(err); ok {
		ie.Duplicate = true
		if !c.backend.transactions {
			ie.At, ie.Written = index, index
		}
		return ie
	}
	if IsDuplicate(err) {
		ie.Duplicate = true
		return ie
	}
	ie.Unknown = !c.backend.transactions
	return ie
}

// inTransaction runs f in a transaction, committed when f returns nil.
// Only a MongoDB replica set or sharded cluster takes it: not exercised by
// the tests here (no MongoDB server on these machines); written to the
// driver's documentation of Session.WithTransaction.
func (c *Conn) inTransaction(ctx context.Context, f func(ctx context.Context) error) error {
	sess, err := c.Client.StartSession()
	if err != nil {
		return err
	}
	defer sess.EndSession(ctx)
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) { return nil, f(ctx) })
	return err
}

// duplicateIndex is the index of the document of an insert that a
// duplicate key refused, where the error names it (not in a transaction).
func duplicateIndex(err error) (int, bool) {
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) {
		for _, we := range bwe.WriteErrors {
			if we.Code == duplicateKey {
				return we.Index, true
			}
		}
	}
	var we mongo.WriteException
	if errors.As(err, &we) {
		for _, e := range we.WriteErrors {
			if e.Code == duplicateKey {
				return e.Index, true
			}
		}
	}
	return 0, false
}

// anyStored reports whether a document with the _id of one of docs is
// stored. With MongoDB's paths taken on FerretDB (Config.MongoDBReads), an
// atomic insert asks first, and answers a duplicate as a transaction does
// (nothing written, the document not named), so that the tests here run
// what callers do with that answer. Another process may still insert in
// between: then FerretDB's own answer stands.
func anyStored(ctx context.Context, coll *mongo.Collection, docs []any) (bool, error) {
	ctx = Scatter(ctx, scatterEmulation)
	for _, d := range docs {
		raw, ok := d.(bson.Raw)
		if !ok {
			var err error
			if raw, err = bson.Marshal(d); err != nil {
				return false, err
			}
		}
		err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: raw.Lookup("_id")}}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return err == nil, err
		}
	}
	return false, nil
}
