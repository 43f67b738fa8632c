package database

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// fragment writes n documents, a kept one of about 1 KiB and a deleted one
// of about 700 bytes in turn, and deletes the second kind: what compaction
// does to head versions written between events.
func fragment(t *testing.T, ctx context.Context, conn *Conn, name string, n int) {
	t.Helper()
	coll := conn.DB.Collection(name)
	docs := make([]any, n)
	var gone []string
	for i := range docs {
		pad := strings.Repeat("k", 1000)
		if i%2 == 1 {
			pad = strings.Repeat("d", 700)
			gone = append(gone, fmt.Sprintf("d%05d", i))
		}
		docs[i] = bson.D{{Key: "_id", Value: fmt.Sprintf("d%05d", i)}, {Key: "pad", Value: pad}}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: gone}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ReclaimSpace(ctx); err != nil { // what compaction does: only whole free pages
		t.Fatal(err)
	}
}

// kept checks that the n/2 documents fragment kept are all there.
func kept(t *testing.T, ctx context.Context, conn *Conn, name string, n int) {
	t.Helper()
	count, err := conn.DB.Collection(name).CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if count != int64(n/2) {
		t.Errorf("%d documents after compacting the storage, want %d", count, n/2)
	}
	var d bson.M
	if err := conn.DB.Collection(name).FindOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("d%05d", n-2)}}).Decode(&d); err != nil {
		t.Errorf("the last document kept: %v", err)
	}
}

// pages is the size of conn's SQLite file in pages, its log copied in.
func pages(t *testing.T, ctx context.Context, conn *Conn) int64 {
	t.Helper()
	db, err := conn.embedded.handle(conn.DB.Name())
	if err != nil {
		t.Fatal(err)
	}
	return pageCount(t, ctx, db)
}

func pageCount(t *testing.T, ctx context.Context, db *sql.DB) int64 {
	t.Helper()
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fragmentedStore is an embedded store of its own, closed when the test
// ends, whose collection "things" fragment made; p is its size in pages.
func fragmentedStore(t *testing.T) (ctx context.Context, conn *Conn, p int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	conn, err := Connect(ctx, Config{DataDir: t.TempDir(), Database: "compact"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	fragment(t, ctx, conn, "things", fragmented)
	return ctx, conn, pages(t, ctx, conn)
}

// fragmented is how many documents fragmentedStore writes.
const fragmented = 4000

func TestCompactStorageGivesBackHalfEmptyPages(t *testing.T) {
	ctx, conn, p := fragmentedStore(t)
	before, after, err := conn.CompactStorage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The deleted documents were 40 % of the bytes and emptied no page.
	if q := pages(t, ctx, conn); float64(q) > 0.8*float64(p) {
		t.Errorf("%d pages before compacting the storage and %d after, want at most 80 %% of them after", p, q)
	}
	if after <= 0 || after >= before {
		t.Errorf("reported %d bytes before and %d after", before, after)
	}
	kept(t, ctx, conn, "things", fragmented)
	coll := conn.DB.Collection("things")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "after"}}); err != nil {
		t.Errorf("a write after compacting the storage: %v", err)
	}
}

// The command MongoDB takes, on FerretDB, which runs it as VACUUM: what a
// store reached by URI gets.
func TestCompactCommand(t *testing.T) {
	ctx, conn, p := fragmentedStore(t)
	if err := conn.compactCollections(ctx, []string{"things"}); err != nil {
		t.Fatal(err)
	}
	if q := pages(t, ctx, conn); float64(q) > 0.8*float64(p) {
		t.Errorf("%d pages before the compact command and %d after, want at most 80 %% of them after", p, q)
	}
	kept(t, ctx, conn, "things", fragmented)
	if err := conn.compactCollections(ctx, []string{"missing"}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("compacting a collection that does not exist: %v, want an error naming it", err)
	}
}

// TestDeleteByIDs: the documents named go, in one transaction on the
// embedded store and in bulk deletes with MongoDB's paths; the others and
// ids of no document are left alone, and the collection takes writes after.
func TestDeleteByIDs(t *testing.T) {
	for _, mongoReads := range []bool{false, true} {
		t.Run(fmt.Sprintf("mongoReads=%v", mongoReads), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			conn, err := Connect(ctx, Config{DataDir: t.TempDir(), Database: "deletes", MongoDBReads: mongoReads})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if err := conn.CreateCollection(ctx, "things"); err != nil {
				t.Fatal(err)
			}
			coll := conn.DB.Collection("things")
			const n = 1200 // more than one DELETE statement's worth
			docs := make([]any, n)
			var gone []string
			for i := range docs {
				id := fmt.Sprintf("r1#%d", i)
				docs[i] = bson.D{{Key: "_id", Value: id}, {Key: "cid", Value: "r1"}}
				if i%3 != 0 {
					gone = append(gone, id)
				}
			}
			if _, err := coll.InsertMany(ctx, docs); err != nil {
				t.Fatal(err)
			}
			byID := func(id string) bson.D { return bson.D{{Key: "cid", Value: "r1"}, {Key: "_id", Value: id}} }
			if err := conn.DeleteByIDs(ctx, "things", append(gone, "r1#none"), byID); err != nil {
				t.Fatal(err)
			}
			count, err := coll.CountDocuments(ctx, bson.D{})
			if err != nil {
				t.Fatal(err)
			}
			if count != n/3 {
				t.Errorf("%d documents left, want %d", count, n/3)
			}
			for id, want := range map[string]bool{"r1#0": true, "r1#1": false, "r1#1197": true, "r1#1199": false} {
				var d bson.M
				err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
				if kept := err == nil; kept != want {
					t.Errorf("%s: kept %v, want %v (%v)", id, kept, want, err)
				}
			}
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "r1#1"}}); err != nil {
				t.Errorf("writing a deleted _id again: %v", err)
			}
		})
	}
}
