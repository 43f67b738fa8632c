package store_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestFollowers: every follower is told of every commit made after it
// registered, with the commit's context and events in order, and of none
// made before.
func TestFollowers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _ := newStore(t, b)
		var mu sync.Mutex
		seen := map[string][]string{} // follower → "cid/id"
		follow := func(name string) {
			s.Follow(func(ct, cid string, events []*eventstore.Event) {
				mu.Lock()
				defer mu.Unlock()
				for _, e := range events {
					if e.Ct != ct || e.Cid != cid {
						t.Errorf("%s: event %s of %s/%s told as %s/%s", name, e.ID, e.Ct, e.Cid, ct, cid)
					}
					seen[name] = append(seen[name], cid+"/"+e.ID)
				}
			})
		}
		follow("early")
		g, err := s.CreateContext(ctx(t), "room", "f1", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		follow("late")
		var want []string
		for range 3 {
			e, _, err := s.Append(ctx(t), "room", "f1", store.NewEvent{T: "msg"})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, "f1/"+e.ID)
		}
		mu.Lock()
		defer mu.Unlock()
		if got := seen["early"]; !slices.Equal(got, append([]string{"f1/" + g.ID}, want...)) {
			t.Errorf("the follower registered first was told %v, want the genesis and %v", got, want)
		}
		if got := seen["late"]; !slices.Equal(got, want) {
			t.Errorf("the follower registered after the genesis was told %v, want %v", got, want)
		}
	})
}
