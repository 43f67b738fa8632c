package migrations_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

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
		cur, err := conn.DB.Collection("chat_events").Indexes().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var idx []struct {
			Name string `bson:"name"`
		}
		if err := cur.All(ctx, &idx); err != nil {
			t.Fatal(err)
		}
		for _, want := range migrations.EventIndexes {
			if !slices.ContainsFunc(idx, func(i struct {
				Name string `bson:"name"`
			}) bool {
				return i.Name == want.Name
			}) {
				t.Errorf("index %s missing on chat_events", want.Name)
			}
		}
		names, _ := conn.DB.ListCollectionNames(ctx, bson.D{})
		for _, want := range []string{"chat_clids", "chat_edits", migrations.ContextsCollection, migrations.MigrationsCollection} {
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
		for i, c := range []migrations.Database{first, second} {
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
