package federation

import (
	"slices"
	"testing"
)

// TestPendingIndexKeepsOwnWritesOverALoad: a load sets the index to what
// it read, and this process's writes made while it read count over it.
func TestPendingIndexKeepsOwnWritesOverALoad(t *testing.T) {
	p := newPendingIndex()
	room := roomKey{"room", "r1"}
	doc := func(id, origin string) pendingDoc {
		return pendingDoc{ID: id, Origin: origin, Ct: room.ct, Cid: room.cid}
	}
	if _, err := p.load(true, func() ([]pendingDoc, error) {
		return []pendingDoc{doc("e1", "a.test"), doc("e2", "a.test"), doc("e3", "b.test")}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if a, r := p.counts("a.test", room); a != 2 || r != 3 {
		t.Fatalf("after the first load: %d from a.test, %d in the room; want 2, 3", a, r)
	}
	if _, err := p.load(true, func() ([]pendingDoc, error) {
		t.Error("loaded again with once")
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	// Another process dropped e1 and e3 and kept e4; meanwhile this one
	// keeps e5, drops e2, and e4 is sent again, now by b.test.
	if _, err := p.load(false, func() ([]pendingDoc, error) {
		p.add("e5", pendingKey{origin: "a.test", room: room})
		p.remove("e2")
		p.add("e4", pendingKey{origin: "b.test", room: room})
		return []pendingDoc{doc("e2", "a.test"), doc("e4", "a.test")}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if a, r := p.counts("a.test", room); a != 1 || r != 2 {
		t.Errorf("after the second load: %d from a.test, %d in the room; want 1 (e5), 2 (e4, e5)", a, r)
	}
	if b, _ := p.counts("b.test", room); b != 1 {
		t.Errorf("%d from b.test, want 1 (e4)", b)
	}
	ids := p.inRoom(room)
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"e4", "e5"}) || p.size() != 2 {
		t.Errorf("pending in the room: %v (size %d), want e4, e5", ids, p.size())
	}
	p.remove("e4")
	p.remove("e5")
	if a, r := p.counts("a.test", room); a != 0 || r != 0 || p.size() != 0 || len(p.byRoom) != 0 || len(p.byOrigin) != 0 {
		t.Errorf("emptied: %d, %d, size %d, rooms %v, origins %v", a, r, p.size(), p.byRoom, p.byOrigin)
	}
}
