package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// readWholeLog reads context type ct's commit log from its start until
// it has want events (or fails after a while).
func readWholeLog(t *testing.T, s *store.Store, ct string, want int) []*store.Commit {
	t.Helper()
	var out []*store.Commit
	var through int64
	n := 0
	deadline := time.Now().Add(30 * time.Second)
	for n < want {
		commits, next, err := s.ReadLog(ctx(t), ct, through, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range commits {
			n += len(c.Events)
		}
		out, through = append(out, commits...), next
		if len(commits) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the commit log stops at entry %d with %d events of %d", through, n, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}

var ctx = storetest.Context

// checkLog fails unless the commits hold every event once and each
// context's commits come in the order of its timeline, without gaps.
func checkLog(t *testing.T, commits []*store.Commit, want map[string]bool) {
	t.Helper()
	seen := map[string]bool{}
	next := map[string]int64{} // per context: the position expected next
	var last int64
	for _, c := range commits {
		if c.Log <= last {
			t.Errorf("entry %d after entry %d", c.Log, last)
		}
		last = c.Log
		if p, ok := next[c.Cid]; ok && c.First != p {
			t.Errorf("%s: commit %d starts at position %d, want %d", c.Cid, c.Log, c.First, p)
		}
		next[c.Cid] = c.First + int64(len(c.Events))
		for _, e := range c.Events {
			if seen[e.ID] {
				t.Errorf("event %s twice in the log", e.ID)
			}
			seen[e.ID] = true
			if !want[e.ID] {
				t.Errorf("event %s in the log was not written", e.ID)
			}
		}
	}
	if len(seen) != len(want) {
		t.Errorf("the log holds %d events, want %d", len(seen), len(want))
	}
}

// TestCommitLogTwoProcesses: two stores on one database append to five
// rooms at once; a third reads the commit log and finds every event once,
// each room's in timeline order.
func TestCommitLogTwoProcesses(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		first := b.Connect(t, storetest.Options{})
		second := b.Connect(t, storetest.Options{Database: first.DB.Name()})
		third := b.Connect(t, storetest.Options{Database: first.DB.Name()})
		ss := []*store.Store{
			storetest.NewStore(t, first, server, store.Options{}),
			storetest.NewStore(t, second, server, store.Options{}),
		}
		var mu sync.Mutex
		written := map[string]bool{}
		for r := range 5 {
			g, err := ss[0].CreateContext(ctx(t), "room", fmt.Sprintf("r%d", r), "", nil)
			if err != nil {
				t.Fatal(err)
			}
			written[g.ID] = true
		}
		var wg sync.WaitGroup
		for i := range ss {
			for j := range 4 {
				wg.Go(func() {
					for k := range 40 {
						room := fmt.Sprintf("r%d", (j+k)%5)
						e, _, err := ss[i].Append(ctx(t), "room", room, store.NewEvent{T: "msg", O: data(t, fmt.Sprintf(`{"k":"%d-%d-%d"}`, i, j, k))})
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						written[e.ID] = true
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		reader := storetest.NewStore(t, third, server, store.Options{})
		checkLog(t, readWholeLog(t, reader, "room", len(written)), written)
	})
}

// TestCommitLogHoles: a number nobody writes, with later entries present,
// holds readers back only until they void it; a writer whose number was
// voided or taken takes the next one.
func TestCommitLogHoles(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, conn := newStore(t, b)
		coll := conn.DB.Collection(migrations.EventsCollection("room"))
		g, err := s.CreateContext(ctx(t), "room", "h1", "", nil) // entry 1
		if err != nil {
			t.Fatal(err)
		}
		written := map[string]bool{g.ID: true}
		// Another process took entry 2 and died before writing it; entry 3
		// is a void someone wrote. This process's next number is 2.
		if _, err := coll.InsertOne(ctx(t), bson.D{{Key: "_id", Value: migrations.LogEntryID(3)}, {Key: "cid", Value: migrations.LogCid}, {Key: "void", Value: true}}); err != nil {
			t.Fatal(err)
		}
		other := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, store.Options{})
		commits := readWholeLog(t, other, "room", 1)
		// Entry 2 is a hole: the reader must stop before it.
		if next, through, err := other.ReadLog(ctx(t), "room", commits[len(commits)-1].Log, 10); err != nil || len(next) != 0 || through != 1 {
			t.Fatalf("read past a hole: %d commits through %d (%v)", len(next), through, err)
		}
		// The writer's number 2 is free (nobody wrote it): it takes it.
		e, _, err := s.Append(ctx(t), "room", "h1", store.NewEvent{T: "msg"})
		if err != nil {
			t.Fatal(err)
		}
		written[e.ID] = true
		// And then 3 is void: its next append takes 4.
		e, _, err = s.Append(ctx(t), "room", "h1", store.NewEvent{T: "msg"})
		if err != nil {
			t.Fatal(err)
		}
		written[e.ID] = true
		all := readWholeLog(t, other, "room", len(written))
		checkLog(t, all, written)
		if got := all[len(all)-1].Log; got != 4 {
			t.Errorf("the last append took entry %d, want 4", got)
		}
		// A hole left by nobody: entry 6 exists, 5 never will.
		if _, err := coll.InsertOne(ctx(t), bson.D{{Key: "_id", Value: migrations.LogEntryID(6)}, {Key: "cid", Value: migrations.LogCid}, {Key: "void", Value: true}}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for {
			_, through, err := other.ReadLog(ctx(t), "room", 4, 10)
			if err != nil {
				t.Fatal(err)
			}
			if through == 6 {
				break
			}
			if time.Since(start) > 20*time.Second {
				t.Fatalf("the reader never passed the hole at entry 5 (through %d)", through)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("the reader passed the hole after %v", time.Since(start).Round(100*time.Millisecond))
		var hole bson.M
		if err := coll.FindOne(ctx(t), bson.D{{Key: "_id", Value: migrations.LogEntryID(5)}}).Decode(&hole); err != nil || hole["void"] != true {
			t.Errorf("entry 5 is %v (%v), want void", hole, err)
		}
		// The writer, whose allocator thinks 5 is next, lands after 6.
		e, _, err = s.Append(ctx(t), "room", "h1", store.NewEvent{T: "msg"})
		if err != nil {
			t.Fatal(err)
		}
		page, err := s.List(ctx(t), "room", "h1", store.ListQuery{Backward: true, Limit: 1})
		if err != nil || page.Events[0].ID != e.ID {
			t.Fatalf("newest event: %v", err)
		}
		tail, _, err := other.ReadLog(ctx(t), "room", 6, 10)
		if err != nil || len(tail) != 1 || tail[0].Log != 7 || tail[0].Events[0].ID != e.ID {
			t.Errorf("after the holes: %d commits (%v), want the append at entry 7", len(tail), err)
		}
	})
}
