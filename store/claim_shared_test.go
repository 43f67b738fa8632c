package store_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestSharedInsertLostClaim: the claims of rooms x, y and z share one
// insert, and y's, in the middle, is lost: a second store (as another
// process would) wrote that version of y first. x and z are written with
// it, y is written again on top of the other store's event, every commit
// log entry names what it should, and the audit is clean.
func TestSharedInsertLostClaim(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		conn := b.Connect(t, storetest.Options{})
		opts := store.Options{LeafFlagDelay: time.Hour} // no flag versions in between
		ours := storetest.NewStore(t, conn, server, opts)
		other := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, opts)
		genesis := map[string]*eventstore.Event{}
		for _, cid := range []string{"lead", "x", "y", "z"} {
			g, err := ours.CreateContext(ctx, "room", cid, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			genesis[cid] = g
		}
		moved, _, err := other.Append(ctx, "room", "y", store.NewEvent{T: "msg"}) // ours' head of y is stale now
		if err != nil {
			t.Fatal(err)
		}

		// The shared insert of lead's append is held until x, y and z
		// have queued their claims behind it, one after the other.
		blocked, release := make(chan struct{}), make(chan struct{})
		claims := make(chan struct{}, 16)
		var mu sync.Mutex
		var inserts []string
		var once sync.Once
		store.SetFailpoint(ours, func(step string) error {
			switch {
			case step == "claim":
				claims <- struct{}{}
			case strings.HasPrefix(step, "shared insert of "):
				mu.Lock()
				inserts = append(inserts, step)
				mu.Unlock()
				once.Do(func() {
					close(blocked)
					<-release
				})
			}
			return nil
		})
		t.Cleanup(func() { store.SetFailpoint(ours, nil) })
		type result struct {
			e   *eventstore.Event
			err error
		}
		results := map[string]chan result{}
		appendTo := func(cid string) {
			results[cid] = make(chan result, 1)
			go func() {
				e, _, err := ours.Append(ctx, "room", cid, store.NewEvent{T: "msg", O: data(t, `{"msg":"`+cid+`"}`)})
				results[cid] <- result{e, err}
			}()
			<-claims
		}
		appendTo("lead")
		<-blocked
		for _, cid := range []string{"x", "y", "z"} {
			appendTo(cid)
			time.Sleep(20 * time.Millisecond) // from its claim step into the queue: no I/O in between
		}
		close(release)
		got := map[string]*eventstore.Event{}
		for cid, ch := range results {
			r := <-ch
			if r.err != nil {
				t.Fatalf("append to %s: %v", cid, r.err)
			}
			got[cid] = r.e
		}
		store.SetFailpoint(ours, nil)
		mu.Lock()
		if !slices.Contains(inserts, "shared insert of 3") {
			t.Fatalf("x, y and z did not share an insert: %v", inserts)
		}
		mu.Unlock()

		if err := ours.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for cid, e := range got {
			want := []string{genesis[cid].ID}
			if cid == "y" {
				want = []string{moved.ID} // built again on the version that won
			}
			if !slices.Equal(e.Pids, want) {
				t.Errorf("%s: parents %v, want %v", cid, e.Pids, want)
			}
			page, err := other.List(ctx, "room", cid, store.ListQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if last := page.Events[len(page.Events)-1]; last.ID != e.ID {
				t.Errorf("%s: timeline ends with %s, want %s", cid, last.ID, e.ID)
			}
			storetest.CheckLeaves(t, other, conn, "room", cid)
		}
		// Each event once in the commit log, read by a store that wrote
		// none of them.
		seen := map[string]int{}
		reader := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, opts)
		commits, _, err := reader.ReadLog(ctx, "room", 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range commits {
			for _, e := range c.Events {
				seen[e.ID]++
			}
		}
		for cid, e := range got {
			if seen[e.ID] != 1 {
				t.Errorf("%s: event in the commit log %d times", cid, seen[e.ID])
			}
		}
		if len(seen) != 4+1+4 {
			t.Errorf("commit log holds %d events, want 9", len(seen))
		}
		rep, err := audit.New(ours, conn, audit.Config{}).Verify(ctx, audit.Options{})
		if err != nil || !rep.Clean {
			t.Fatalf("audit: %v %+v", err, rep.Problems)
		}
	})
}

// TestConcurrentAppendsTwoStoresManyRooms: two stores on one database,
// 8 goroutines each, appending to 5 rooms at random: shared inserts, with
// claims lost to the other store among them. Every acknowledged event is
// in its room's timeline and the commit log once, the leaves are right and
// the audit is clean.
func TestConcurrentAppendsTwoStoresManyRooms(t *testing.T) {
	const goroutines, appends, rooms = 8, 40, 5
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		conn := b.Connect(t, storetest.Options{})
		ss := []*store.Store{
			storetest.NewStore(t, conn, server, store.Options{}),
			storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, store.Options{}),
		}
		var shared atomic.Int64
		for _, s := range ss {
			store.SetFailpoint(s, func(step string) error {
				if strings.HasPrefix(step, "shared insert of ") && step != "shared insert of 1" {
					shared.Add(1)
				}
				return nil
			})
		}
		acked := map[string]map[string]bool{}
		for r := range rooms {
			cid := fmt.Sprintf("r%d", r)
			g, err := ss[0].CreateContext(ctx, "room", cid, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			acked[cid] = map[string]bool{g.ID: true}
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i, s := range ss {
			for j := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range appends {
						cid := fmt.Sprintf("r%d", rand.IntN(rooms))
						o := data(t, fmt.Sprintf(`{"msg":"%d-%d-%d"}`, i, j, k))
						e, _, err := s.Append(ctx, "room", cid, store.NewEvent{T: "msg", O: o})
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						if acked[cid][e.ID] {
							t.Errorf("event %s acknowledged twice", e.ID)
						}
						acked[cid][e.ID] = true
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if shared.Load() == 0 {
			t.Fatal("no insert was shared by claims of different rooms")
		}
		t.Logf("%d shared inserts", shared.Load())
		for _, s := range ss {
			store.SetFailpoint(s, nil)
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		inLog := map[string]int{}
		commits, _, err := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, store.Options{}).
			ReadLog(ctx, "room", 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range commits {
			for _, e := range c.Events {
				inLog[e.ID]++
			}
		}
		for cid, ids := range acked {
			var listed []string
			for q := (store.ListQuery{Limit: store.MaxListLimit}); ; {
				page, err := ss[1].List(ctx, "room", cid, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page.Events {
					listed = append(listed, e.ID)
				}
				if q.From = page.Next; q.From == nil {
					break
				}
			}
			if len(listed) != len(ids) {
				t.Errorf("%s: %d events in the timeline, %d acknowledged", cid, len(listed), len(ids))
			}
			for id := range ids {
				if !slices.Contains(listed, id) {
					t.Errorf("%s: acknowledged event %s lost", cid, id)
				}
				if inLog[id] != 1 {
					t.Errorf("%s: event %s in the commit log %d times", cid, id, inLog[id])
				}
			}
			storetest.CheckLeaves(t, ss[0], conn, "room", cid)
		}
		rep, err := audit.New(ss[0], conn, audit.Config{}).Verify(ctx, audit.Options{})
		if err != nil || !rep.Clean {
			t.Fatalf("audit: %v %+v", err, rep.Problems)
		}
	})
}

// TestCrashInSharedInsert: a write that fails at a shared insert fails
// every claim in it, and the next writes heal all of their rooms.
func TestCrashInSharedInsert(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		conn := b.Connect(t, storetest.Options{})
		s := storetest.NewStore(t, conn, server, store.Options{})
		rooms := []string{"a", "b", "c", "d", "e", "f"}
		for _, cid := range rooms {
			if _, err := s.CreateContext(ctx, "room", cid, "", nil); err != nil {
				t.Fatal(err)
			}
		}
		crash := errors.New("crash")
		var crashed atomic.Int64
		store.SetFailpoint(s, func(step string) error {
			if strings.HasPrefix(step, "shared insert of ") && step != "shared insert of 1" && crashed.Add(1) == 1 {
				return crash
			}
			return nil
		})
		var failed atomic.Int64
		for round := 0; crashed.Load() == 0 && round < 50; round++ {
			var wg sync.WaitGroup
			for _, cid := range rooms {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, _, err := s.Append(ctx, "room", cid, store.NewEvent{T: "msg"}); errors.Is(err, crash) {
						failed.Add(1)
					} else if err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		if crashed.Load() == 0 {
			t.Fatal("no shared insert in 50 rounds")
		}
		if failed.Load() < 2 {
			t.Errorf("%d appends failed with the crashed shared insert, want all of its claims (≥ 2)", failed.Load())
		}
		store.SetFailpoint(s, nil)
		restarted := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, store.Options{})
		for _, cid := range rooms {
			if _, _, err := restarted.Append(ctx, "room", cid, store.NewEvent{T: "msg"}); err != nil {
				t.Fatal(err)
			}
			if err := restarted.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			storetest.CheckLeaves(t, restarted, conn, "room", cid)
		}
		rep, err := audit.New(restarted, conn, audit.Config{}).Verify(ctx, audit.Options{})
		if err != nil || !rep.Clean {
			t.Fatalf("audit: %v %+v", err, rep.Problems)
		}
	})
}
