package store

import (
	"fmt"
	"slices"
	"testing"
)

// TestSharedLayout: a shared insert holds every claim's entry and version,
// then every claim's events, and each document's index maps back to its
// claim and its index among the claim's own documents.
func TestSharedLayout(t *testing.T) {
	claim := func(name string, head, events int) *sharedClaim {
		c := &sharedClaim{head: head}
		for i := range head + events {
			c.docs = append(c.docs, fmt.Sprintf("%s%d", name, i))
		}
		return c
	}
	batch := []*sharedClaim{claim("x", 2, 1), claim("y", 1, 0), claim("z", 2, 3)}
	docs, place := sharedLayout(batch)
	var got []string
	for _, d := range docs {
		got = append(got, d.(string))
	}
	if want := []string{"x0", "x1", "y0", "z0", "z1", "x2", "z2", "z3", "z4"}; !slices.Equal(got, want) {
		t.Fatalf("layout %v, want %v", got, want)
	}
	for i, d := range got {
		k, local := place(i)
		if k < 0 || batch[k].docs[local] != d {
			t.Errorf("document %d (%s) placed at claim %d, index %d", i, d, k, local)
		}
	}
	if k, _ := place(len(docs)); k != -1 {
		t.Errorf("an index past the insert placed at claim %d", k)
	}
	for index, want := range map[int][]bool{0: {false, false, false}, 2: {true, false, false}, 3: {true, true, false}, 5: {true, true, true}} {
		for k, c := range batch {
			if got := c.headBefore(index, batch, k); got != want[k] {
				t.Errorf("claim %d's head before document %d: %v, want %v", k, index, got, want[k])
			}
		}
	}
}
