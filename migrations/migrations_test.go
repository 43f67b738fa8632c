package migrations_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/eventstore-go/eventstore/internal/database"
	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestUpStatusCheck(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn := b.Connect(t, storetest.Options{SkipMigrations: true})
		if err := migrations.Check(ctx, conn); !errors.Is(err, migrations.ErrPending) {
			t.Fatalf("fresh database: %v", err)
		}
		// A context type that existed before the migration gets its indexes.
		if _, err := conn.DB.Collection("chat_events").InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}}); err != nil {
			t.Fatal(err)
		}
		done, err := migrations.Up(ctx, conn, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(done) != len(migrations.Steps) {
			t.Fatalf("applied %d steps, want %d", len(done), len(migrations.Steps))
		}
		if err := migrations.Check(ctx, conn); err != nil {
			t.Fatal(err)
		}
		again, err := migrations.Up(ctx, conn, nil)
		if err != nil || len(again) != 0 {
			t.Fatalf("second up applied %d steps: %v", len(again), err)
		}
		status, err := migrations.Status(ctx, conn)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range status {
			if s.AppliedAt.IsZero() {
				t.Errorf("step %d not recorded", s.Version)
			}
		}
		have := indexNames(t, conn.DB.Collection("chat_events"))
		for _, want := range migrations.EventIndexes {
			if got := slices.Contains(have, want.Name); got != conn.Backend().SecondaryIndexes() {
				t.Errorf("index %s on chat_events: present %v, want %v (secondary indexes serve queries: %v)", want.Name, got, conn.Backend().SecondaryIndexes(), conn.Backend().SecondaryIndexes())
			}
		}
		names, _ := conn.DB.ListCollectionNames(ctx, bson.D{})
		for _, want := range []string{"chat_edits", migrations.ContextsCollection, migrations.MigrationsCollection} {
			if !slices.Contains(names, want) {
				t.Errorf("collection %s missing", want)
			}
		}
	})
}

// TestConcurrentUp: two processes migrating one database at once both
// succeed and every step is recorded once.
func TestConcurrentUp(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		first := b.Connect(t, storetest.Options{SkipMigrations: true})
		second := b.Connect(t, storetest.Options{SkipMigrations: true, Database: first.DB.Name()})
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, c := range []*database.Conn{first, second} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = migrations.Up(ctx, c, nil)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		n, err := first.DB.Collection(migrations.MigrationsCollection).CountDocuments(ctx, bson.D{})
		if err != nil || n != int64(len(migrations.Steps)) {
			t.Errorf("%d records, want %d (%v)", n, len(migrations.Steps), err)
		}
	})
}

// TestUnusedIndexesDropped: a store made before step 6 has secondary
// indexes; on the embedded store (where FerretDB never reads them) step 6
// drops them, on MongoDB it leaves them. Only _id's own stays either way.
func TestUnusedIndexesDropped(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn := b.Connect(t, storetest.Options{SkipMigrations: true})
		if _, err := migrations.Up(ctx, conn, nil); err != nil {
			t.Fatal(err)
		}
		// As an older version left it: the indexes, and step 6 not applied.
		events := conn.DB.Collection("chat_events")
		if _, err := events.InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}, {Key: "cid", Value: "c"}}); err != nil {
			t.Fatal(err)
		}
		var models []mongo.IndexModel
		for _, ix := range migrations.EventIndexes {
			if !slices.Contains(indexNames(t, events), ix.Name) {
				models = append(models, mongo.IndexModel{Keys: ix.Keys, Options: options.Index().SetName(ix.Name)})
			}
		}
		if len(models) > 0 {
			if _, err := events.Indexes().CreateMany(ctx, models); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := conn.DB.Collection(migrations.MigrationsCollection).DeleteOne(ctx, bson.D{{Key: "_id", Value: 6}}); err != nil {
			t.Fatal(err)
		}
		done, err := migrations.Up(ctx, conn, nil)
		if err != nil || len(done) != 1 || done[0].Version != 6 {
			t.Fatalf("up applied %+v: %v", done, err)
		}
		have := indexNames(t, events)
		for _, ix := range migrations.EventIndexes {
			if got := slices.Contains(have, ix.Name); got != conn.Backend().SecondaryIndexes() {
				t.Errorf("index %s after step 6: present %v, want %v", ix.Name, got, conn.Backend().SecondaryIndexes())
			}
		}
		if !slices.Contains(have, "_id_") {
			t.Errorf("the _id index is gone: %v", have)
		}
		if n, err := events.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
			t.Errorf("%d documents after step 6 (%v), want 1", n, err)
		}
	})
}

func indexNames(tb testing.TB, c *mongo.Collection) []string {
	tb.Helper()
	cur, err := c.Indexes().List(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	var idx []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(context.Background(), &idx); err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, i := range idx {
		names = append(names, i.Name)
	}
	return names
}
