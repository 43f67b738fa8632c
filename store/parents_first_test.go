package store

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/eventstore-go/eventstore"
)

// TestParentsFirst feeds a random DAG in random orders: every event comes
// out exactly once, after all its parents, whatever order it went in.
func TestParentsFirst(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var docs []*eventDoc
		for i := range 300 {
			d := &eventDoc{ID: fmt.Sprintf("e%03d", i)}
			for range rng.IntN(4) {
				if i > 0 {
					d.Pids = append(d.Pids, fmt.Sprintf("e%03d", rng.IntN(i))) // may repeat a parent
				}
			}
			docs = append(docs, d)
		}
		rng.Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
		position := map[string]int{}
		o := newParentsFirst(func(e *eventstore.Event) error {
			if _, dup := position[e.ID]; dup {
				t.Fatalf("seed %d: %s passed twice", seed, e.ID)
			}
			position[e.ID] = len(position)
			return nil
		})
		for _, d := range docs {
			if err := o.add(d); err != nil {
				t.Fatal(err)
			}
		}
		if len(position) != len(docs) || len(o.held) != 0 {
			t.Fatalf("seed %d: %d of %d passed, %d held", seed, len(position), len(docs), len(o.held))
		}
		for _, d := range docs {
			for _, p := range d.Pids {
				if position[p] >= position[d.ID] {
					t.Fatalf("seed %d: %s passed before its parent %s", seed, d.ID, p)
				}
			}
		}
	}
}

// TestParentsFirstHoldsOrphans: an event whose parent never comes is never
// passed on.
func TestParentsFirstHoldsOrphans(t *testing.T) {
	var passed []string
	o := newParentsFirst(func(e *eventstore.Event) error { passed = append(passed, e.ID); return nil })
	for _, d := range []*eventDoc{{ID: "a"}, {ID: "c", Pids: []string{"a", "b"}}, {ID: "d", Pids: []string{"c"}}} {
		if err := o.add(d); err != nil {
			t.Fatal(err)
		}
	}
	if len(passed) != 1 || passed[0] != "a" || len(o.held) != 2 {
		t.Fatalf("passed %v, held %d; want [a] and 2 held", passed, len(o.held))
	}
}
