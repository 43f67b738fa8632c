package store_test

import (
	"fmt"
	"sync"
	"testing"

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
		if _, err := s.Update(ctx, "room", "r1", g.ID, store.Edit{Unset: []string{"x"}}); err != nil {
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
