package store_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestConcurrentAppendsTwoStores: two stores on one database (as two
// processes would be), 8 goroutines each, 250 appends each, one context.
func TestConcurrentAppendsTwoStores(t *testing.T) {
	const stores, goroutines, appends = 2, 8, 250
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		first := b.Connect(t, storetest.Options{})
		second := b.Connect(t, storetest.Options{Database: first.DB.Name()})
		ss := []*store.Store{
			storetest.NewStore(t, first, server, store.Options{}),
			storetest.NewStore(t, second, server, store.Options{}),
		}
		g, err := ss[0].CreateContext(ctx, "room", "busy", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		acked := map[string]bool{g.ID: true}
		var wg sync.WaitGroup
		for i := range stores {
			for j := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range appends {
						o := data(t, fmt.Sprintf(`{"msg":"%d-%d-%d"}`, i, j, k))
						e, _, err := ss[i].Append(ctx, "room", "busy", store.NewEvent{T: "msg", O: o})
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						if acked[e.ID] {
							t.Errorf("event %s acknowledged twice", e.ID)
						}
						acked[e.ID] = true
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		ids := storetest.CheckLeaves(t, ss[1], second, "room", "busy")
		if want := 1 + stores*goroutines*appends; len(ids) != want || len(acked) != want {
			t.Fatalf("%d events stored, %d acknowledged, want %d", len(ids), len(acked), want)
		}
		for _, id := range ids {
			if !acked[id] {
				t.Errorf("stored event %s was never acknowledged", id)
			}
		}
	})
}

// TestClidIdempotent: 50 concurrent appends with one clid store one event
// and all get it back.
func TestClidIdempotent(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		conn := b.Connect(t, storetest.Options{})
		other := b.Connect(t, storetest.Options{Database: conn.DB.Name()})
		ss := []*store.Store{
			storetest.NewStore(t, conn, server, store.Options{}),
			storetest.NewStore(t, other, server, store.Options{}),
		}
		if _, err := ss[0].CreateContext(ctx, "room", "r1", "", nil); err != nil {
			t.Fatal(err)
		}
		const callers = 50
		got := make([]*eventstore.Event, callers)
		existed := make([]bool, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				got[i], existed[i], err = ss[i%2].Append(ctx, "room", "r1",
					store.NewEvent{T: "msg", O: data(t, `{"msg":"once"}`), Clid: "client-42"})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		fresh := 0
		for i := range callers {
			if got[i].ID != got[0].ID {
				t.Errorf("caller %d got %s, caller 0 got %s", i, got[i].ID, got[0].ID)
			}
			if !existed[i] {
				fresh++
			}
		}
		if fresh != 1 {
			t.Errorf("%d callers were told they created the event, want 1", fresh)
		}
		ids := storetest.CheckLeaves(t, ss[0], conn, "room", "r1")
		if len(ids) != 2 {
			t.Errorf("%d events stored, want genesis and one message", len(ids))
		}
		again, existed1, err := ss[1].Append(ctx, "room", "r1", store.NewEvent{T: "msg", O: data(t, `{"msg":"once"}`), Clid: "client-42"})
		if err != nil || !existed1 || again.ID != got[0].ID {
			t.Errorf("a later retry: %v existed=%v err=%v", again, existed1, err)
		}
	})
}

// TestCrashBetweenSteps fails an append at each step, and a flag version
// at its flags, as a crash would, and checks that no acknowledged event is
// lost and that the next append, from the same store or a fresh one (a
// restarted process), heals the leaves and flags.
func TestCrashBetweenSteps(t *testing.T) {
	steps := []string{"claim", "shared insert of 1", "flags"} // clid records go in the claim's insert
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, step := range steps {
			for _, healer := range []string{"same store", "restarted store", "repair"} {
				t.Run(step+"/"+healer, func(t *testing.T) {
					ctx := ctxT(t)
					conn := b.Connect(t, storetest.Options{})
					s := storetest.NewStore(t, conn, server, store.Options{})
					if _, err := s.CreateContext(ctx, "room", "r1", "", nil); err != nil {
						t.Fatal(err)
					}
					acked := map[string]bool{}
					for range 3 {
						e, _, err := s.Append(ctx, "room", "r1", store.NewEvent{T: "msg", Clid: fmt.Sprint(len(acked))})
						if err != nil {
							t.Fatal(err)
						}
						acked[e.ID] = true
					}
					// An append writes no flags (complete_flags.go): the
					// crash at flags is in the flag version that makes them
					// the leaves; the other steps are an append's, on a
					// context whose leaf is flagged.
					var err error
					if step == "flags" {
						crash := crashAt(s, step)
						if err = s.Flush(ctx); !errors.Is(err, crash) {
							t.Fatalf("flush with a crash at %s: %v", step, err)
						}
					} else {
						if err := s.Flush(ctx); err != nil {
							t.Fatal(err)
						}
						crash := crashAt(s, step)
						if _, _, err = s.Append(ctx, "room", "r1", store.NewEvent{T: "msg", Clid: "lost?"}); !errors.Is(err, crash) {
							t.Fatalf("append with a crash at %s: %v", step, err)
						}
					}
					store.SetFailpoint(s, nil)
					next := s
					switch healer {
					case "restarted store":
						next = storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, store.Options{})
					case "repair":
						if _, err := audit.New(s, conn, audit.Config{}).Repair(ctx, "room", "r1"); err != nil {
							t.Fatal(err)
						}
					}
					if healer != "repair" {
						e, _, err := next.Append(ctx, "room", "r1", store.NewEvent{T: "msg"})
						if err != nil {
							t.Fatal(err)
						}
						acked[e.ID] = true
					}
					ids := storetest.CheckLeaves(t, next, conn, "room", "r1")
					for id := range acked {
						if !slices.Contains(ids, id) {
							t.Errorf("acknowledged event %s lost", id)
						}
					}
					// The crashed append's client retries with its clid: it
					// gets one event, whether or not the crash left it written.
					r1, _, err := next.Append(ctx, "room", "r1", store.NewEvent{T: "msg", Clid: "lost?"})
					if err != nil {
						t.Fatal(err)
					}
					r2, existed, err := next.Append(ctx, "room", "r1", store.NewEvent{T: "msg", Clid: "lost?"})
					if err != nil || !existed || r2.ID != r1.ID {
						t.Errorf("retry after the crash: %v %v %v", r2, existed, err)
					}
					storetest.CheckLeaves(t, next, conn, "room", "r1")
				})
			}
		}
	})
}

// TestCrashWhileFlagging fails the idle-time write of isLeaf flags midway;
// the next write, or a flush from a restarted store, finishes it.
func TestCrashWhileFlagging(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, step := range []string{"claim", "flags"} {
			t.Run(step, func(t *testing.T) {
				ctx := ctxT(t)
				conn := b.Connect(t, storetest.Options{})
				s := storetest.NewStore(t, conn, server, store.Options{})
				if _, err := s.CreateContext(ctx, "room", "r1", "", nil); err != nil {
					t.Fatal(err)
				}
				for range 3 {
					if _, _, err := s.Append(ctx, "room", "r1", store.NewEvent{T: "msg"}); err != nil {
						t.Fatal(err)
					}
				}
				crash := crashAt(s, step)
				if err := s.Flush(ctx); !errors.Is(err, crash) {
					t.Fatalf("flush with a crash at %s: %v", step, err)
				}
				store.SetFailpoint(s, nil)
				restarted := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, store.Options{})
				if _, _, err := restarted.Append(ctx, "room", "r1", store.NewEvent{T: "msg"}); err != nil {
					t.Fatal(err)
				}
				storetest.CheckLeaves(t, restarted, conn, "room", "r1")
			})
		}
	})
}

// crashAt makes every write of s fail at the named step, as a crash there
// would, and returns the error it fails with.
func crashAt(s *store.Store, step string) error {
	crash := errors.New("crash")
	store.SetFailpoint(s, func(name string) error {
		if name == step {
			return crash
		}
		return nil
	})
	return crash
}
