package store_test

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestAppendWritesNoFlags: appends to a room whose leaf carries its isLeaf
// flag write no update, in a room written a moment ago as in one this
// process has not written since it started: the parent keeps its flag
// until the room has been idle for LeafFlagDelay (here Flush stands in),
// and then one flag version makes the flags exactly the leaves.
func TestAppendWritesNoFlags(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		updates := &storetest.CommandsNamed{Name: "update"}
		monitor := updates.Monitor()
		conn := b.Connect(t, storetest.Options{Monitor: monitor})
		opts := store.Options{LeafFlagDelay: time.Hour} // no upkeep but Flush's
		s := storetest.NewStore(t, conn, server, opts)
		ctx := ctxT(t)
		g, err := s.CreateContext(ctx, "room", "r1", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		flagged := func() []string {
			t.Helper()
			filter := append(migrations.EventsOf("r1"), bson.E{Key: "isLeaf", Value: true})
			cur, err := conn.DB.Collection(migrations.EventsCollection("room")).Find(ctx, filter)
			if err != nil {
				t.Fatal(err)
			}
			var docs []struct {
				ID string `bson:"_id"`
			}
			if err := cur.All(ctx, &docs); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, d := range docs {
				ids = append(ids, d.ID)
			}
			return ids
		}
		appendNoUpdate := func(s *store.Store) string {
			t.Helper()
			before := updates.Count()
			e, _, err := s.Append(ctx, "room", "r1", store.NewEvent{T: "msg"})
			if err != nil {
				t.Fatal(err)
			}
			if n := updates.Count() - before; n != 0 {
				t.Errorf("an append wrote %d updates, want none", n)
			}
			return e.ID
		}
		flushed := func(s *store.Store, want string) {
			t.Helper()
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got := flagged(); len(got) != 1 || got[0] != want {
				t.Errorf("flags once idle: %v, want only %s", got, want[:8])
			}
		}
		flushed(s, g.ID)
		var last string
		for range 3 {
			last = appendNoUpdate(s)
		}
		if got := flagged(); len(got) != 1 || got[0] != g.ID {
			t.Errorf("flags before the room is idle: %v, want the genesis's, kept", got)
		}
		flushed(s, last)

		restarted := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name(), Monitor: monitor}), server, opts)
		last = appendNoUpdate(restarted)
		flushed(restarted, last)
		storetest.CheckLeaves(t, restarted, conn, "room", "r1")
	})
}
