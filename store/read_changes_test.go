package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestChangesParentsFirst: the events of the head log, page by page, come
// parents first, each once — the order a new participant stores them in.
func TestChangesParentsFirst(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _ := newStore(t, b)
		ctx := ctxT(t)
		g, err := s.CreateContext(ctx, "room", "r1", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					if _, _, err := s.Append(ctx, "room", "r1", store.NewEvent{T: "msg", O: data(t, fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))}); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		if _, err := s.Update(ctx, "room", "r1", g.ID, edits.Edit{Unset: []string{"x"}}); err != nil {
			t.Fatal(err)
		}
		s.Flush(ctx) // a version without events
		seen := map[string]bool{}
		var after int64
		for pages := 0; ; pages++ {
			events, through, err := s.Changes(ctx, "room", "r1", after, 37, false)
			if err != nil {
				t.Fatal(err)
			}
			if through == after {
				break
			}
			for i, e := range events {
				for _, p := range e.Pids {
					if !seen[p] {
						t.Fatalf("page from %d through %d, event %d of %d: %s (ts %d) comes before its parent %s", after, through, i, len(events), e.ID[:8], e.TS, p[:8])
					}
				}
				if seen[e.ID] {
					t.Fatalf("event %s twice", e.ID)
				}
				seen[e.ID] = true
			}
			after = through
		}
		if len(seen) != 1+200+1 {
			t.Errorf("%d events", len(seen))
		}
	})
}

// TestHistoryParentsFirst: History passes every event of a context once,
// parents first, as written (o, not the folded d), deleted events without
// o, and each still verifies.
func TestHistoryParentsFirst(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _ := newStore(t, b)
		ctx := ctxT(t)
		if _, err := s.CreateContext(ctx, "room", "h1", "", nil); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var appended []string
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 40 {
					e, _, err := s.Append(ctx, "room", "h1", store.NewEvent{T: "msg", O: data(t, fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					appended = append(appended, e.ID)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		edited, deleted := appended[3], appended[7]
		if _, err := s.Update(ctx, "room", "h1", edited, edits.Edit{Set: []edits.SetOp{{Path: "w", Value: int64(99)}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Delete(ctx, "room", "h1", deleted); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		err := s.History(ctx, "room", "h1", func(e *eventstore.Event) error {
			for _, p := range e.Pids {
				if !seen[p] {
					return fmt.Errorf("%s comes before its parent %s", e.ID[:8], p[:8])
				}
			}
			if seen[e.ID] {
				return fmt.Errorf("%s twice", e.ID[:8])
			}
			seen[e.ID] = true
			if err := e.Verify(); err != nil {
				return fmt.Errorf("%s does not verify: %w", e.ID[:8], err)
			}
			switch e.ID {
			case edited:
				var o struct{ W int64 }
				if _ = json.Unmarshal(e.O, &o); o.W == 99 || !bytes.Equal(e.D, e.O) {
					return fmt.Errorf("the edited event comes with o %s d %s; want o as written", e.O, e.D)
				}
			case deleted:
				if !e.Deleted || e.O != nil {
					return fmt.Errorf("the deleted event comes with deleted=%v o=%s", e.Deleted, e.O)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := 1 + 160 + 2; len(seen) != want { // genesis, messages, update, delete
			t.Errorf("History passed %d events, want %d", len(seen), want)
		}
	})
}

// TestJoinEvent: the server.join that made a server a participant is found
// by the server's name, whatever was appended after it, with reads by _id
// only; the creator, a server that never joined, and one whose join was
// deleted are not found; a head written before heads named their joins is
// answered by scanning.
func TestJoinEvent(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		var mu sync.Mutex
		var finds []bson.Raw
		monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if e.CommandName == "find" {
				mu.Lock()
				finds = append(finds, e.Command.Lookup("filter").Document())
				mu.Unlock()
			}
		}}
		conn := b.Connect(t, storetest.Options{Monitor: monitor})
		s := storetest.NewStore(t, conn, server, store.Options{})
		ctx := ctxT(t)
		if _, err := s.CreateContext(ctx, "room", "r1", "", nil); err != nil {
			t.Fatal(err)
		}
		join, err := s.Share(ctx, "room", "r1", "b.example")
		if err != nil {
			t.Fatal(err)
		}
		joinC, err := s.Share(ctx, "room", "r1", "c.example")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, _, err := s.Append(ctx, "room", "r1", store.NewEvent{T: "msg", O: data(t, fmt.Sprintf(`{"server":"b.example","i":%d}`, i))}); err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		finds = nil
		mu.Unlock()
		got, err := s.JoinEvent(ctx, "room", "r1", "b.example")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != join.ID || got.T != eventstore.TypeServerJoin {
			t.Errorf("join event %s (%s), want %s", got.ID, got.T, join.ID)
		}
		for _, who := range []string{"d.example", server} { // never joined; the creator
			if _, err := s.JoinEvent(ctx, "room", "r1", who); eventstore.ErrorCode(err) != eventstore.ENOTFOUND {
				t.Errorf("%s: %v, want not found", who, err)
			}
		}
		mu.Lock()
		for _, f := range finds {
			// By _id, and where reads carry it the shard key (cid).
			if keys, _ := f.Elements(); keys[0].Key() != "_id" || len(keys) > 2 || len(keys) == 2 && keys[1].Key() != "cid" {
				t.Errorf("JoinEvent read with filter %v, want by _id only (with cid)", f)
			}
		}
		mu.Unlock()
		if _, err := s.JoinEvent(ctx, "room", "r2", "b.example"); eventstore.ErrorCode(err) != eventstore.ENOTFOUND {
			t.Errorf("another room: %v", err)
		}
		// A deleted join names nobody any more.
		if _, err := s.Delete(ctx, "room", "r1", joinC.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.JoinEvent(ctx, "room", "r1", "c.example"); eventstore.ErrorCode(err) != eventstore.ENOTFOUND {
			t.Errorf("deleted join: %v, want not found", err)
		}
		// Heads from before joins were named: the scan finds it.
		sum, err := s.Summary(ctx, "room", "r1")
		if err != nil {
			t.Fatal(err)
		}
		events := conn.DB.Collection(migrations.EventsCollection("room"))
		id := fmt.Sprintf("r1#%d", sum.Version)
		var stored struct {
			Cid  string `bson:"cid"`
			Head struct {
				Seq    int64  `bson:"seq"`
				Packed string `bson:"packed"`
			} `bson:"head"`
		}
		if err := events.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&stored); err != nil {
			t.Fatal(err)
		}
		// The version as written before joins were named: unpacked, as
		// versions were then, and without joins.
		var fields bson.D
		if err := bson.UnmarshalExtJSON([]byte(stored.Head.Packed), false, &fields); err != nil {
			t.Fatal(err)
		}
		old := bson.D{{Key: "cid", Value: stored.Cid}, {Key: "seq", Value: stored.Head.Seq}}
		for _, f := range fields {
			if f.Key != "joins" {
				old = append(old, f)
			}
		}
		if len(old) != len(fields)+1 {
			t.Fatalf("the head had no joins to leave out: %v", fields)
		}
		if _, err := events.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "_id", Value: id}, {Key: "cid", Value: stored.Cid}, {Key: "head", Value: old}}); err != nil {
			t.Fatal(err)
		}
		fresh := storetest.NewStore(t, conn, server, store.Options{})
		if got, err := fresh.JoinEvent(ctx, "room", "r1", "b.example"); err != nil || got.ID != join.ID {
			t.Errorf("join from an old head: %v, %v; want %s", got, err, join.ID)
		}
	})
}
