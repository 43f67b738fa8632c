package eventstore

import (
	"reflect"
	"testing"
)

func TestGroupByContext(t *testing.T) {
	ev := func(ct, cid, id string) *Event { return &Event{Ct: ct, Cid: cid, ID: id} }
	events := []*Event{ev("room", "b", "1"), nil, ev("room", "a", "2"), ev("room", "b", "3"), ev("dm", "b", "4"), nil, ev("room", "a", "5")}
	var got [][]any
	for _, g := range GroupByContext(events) {
		ids := []string{}
		for _, e := range g.Events {
			ids = append(ids, e.ID)
		}
		got = append(got, []any{g.Ct + "/" + g.Cid, g.Index, ids})
	}
	want := [][]any{
		{"room/b", []int{0, 3}, []string{"1", "3"}},
		{"room/a", []int{2, 6}, []string{"2", "5"}},
		{"dm/b", []int{4}, []string{"4"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groups %v, want %v", got, want)
	}
	if g := GroupByContext([]*Event{nil, nil}); len(g) != 0 {
		t.Errorf("all refused: %v", g)
	}
}
