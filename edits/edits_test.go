package edits_test

import (
	"slices"
	"strings"
	"testing"

	"encoding/json"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/edits/editstest"
	"github.com/eventstore-go/eventstore/hashing"
)

var target = strings.Repeat("a", 64)

func data(t testing.TB, js string) json.RawMessage {
	t.Helper()
	o, err := eventstore.ParseData([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func canonical(t testing.TB, v any) string {
	t.Helper()
	c, err := hashing.CanonicalObject(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(c)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		ed   edits.Edit
		code eventstore.Code
	}{
		{"nothing to do", edits.Edit{}, eventstore.EINVALID},
		{"overlapping paths", edits.Edit{Set: []edits.SetOp{{Path: "a", Value: 1}}, Unset: []string{"a.b"}}, eventstore.EINVALID},
		{"same path twice", edits.Edit{Unset: []string{"a", "a"}}, eventstore.EINVALID},
		{"empty segment", edits.Edit{Unset: []string{"a..b"}}, eventstore.EINVALID},
		{"dollar member", edits.Edit{Unset: []string{"$a"}}, eventstore.EINVALIDDATA},
		{"bad value", edits.Edit{Set: []edits.SetOp{{Path: "x", Value: int64(1 << 60)}}}, eventstore.EINVALIDDATA},
		{"fine", edits.Edit{Set: []edits.SetOp{{Path: "a.b", Value: "x"}}, Unset: []string{"a.c"}}, ""},
	}
	for _, tt := range tests {
		if got := eventstore.ErrorCode(tt.ed.Validate()); got != tt.code {
			t.Errorf("%s: code %q, want %q", tt.name, got, tt.code)
		}
	}
}

// TestEncodeParse: the o of an edit is canonical and reads back; a
// malformed o is refused.
func TestEncodeParse(t *testing.T) {
	ed := edits.Edit{Set: []edits.SetOp{{Path: "u.name", Value: "bo"}, {Path: "msg", Value: "hi"}}, Unset: []string{"z", "b"}}
	o, err := edits.Encode(target, ed)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"set":[{"path":"msg","value":"hi"},{"path":"u.name","value":"bo"}],"target":"` + target + `","unset":["b","z"]}`
	if got := string(o); got != want {
		t.Errorf("o %s, want %s", got, want)
	}
	got, back, err := edits.Parse(eventstore.TypeUpdate, o)
	if err != nil || got != target || len(back.Set) != 2 || !slices.Equal(back.Unset, []string{"b", "z"}) {
		t.Errorf("Parse: %s %+v %v", got, back, err)
	}
	bad := []struct{ t, o string }{
		{eventstore.TypeUpdate, `{"target":"x","unset":["a"]}`},
		{eventstore.TypeUpdate, `{"target":"` + target + `","unset":["a"],"more":1}`},
		{eventstore.TypeUpdate, `{"target":"` + target + `"}`},
		{eventstore.TypeDelete, `{"target":"` + target + `","unset":["a"]}`},
	}
	for _, b := range bad {
		if _, _, err := edits.Parse(b.t, data(t, b.o)); err == nil {
			t.Errorf("Parse(%s, %s) accepted", b.t, b.o)
		}
	}
	if _, _, err := edits.Parse(eventstore.TypeDelete, data(t, `{"target":"`+target+`"}`)); err != nil {
		t.Errorf("a delete: %v", err)
	}
}

// TestApply: sets, then unsets; a set through a non-object skips the edit
// and leaves d as it was.
func TestApply(t *testing.T) {
	d, err := edits.DecodeData(data(t, `{"msg":"helo","u":{"name":"al"}}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := edits.Edit{
		Set:   []edits.SetOp{{Path: "msg", Value: "hello"}, {Path: "edit.count", Value: int64(1)}},
		Unset: []string{"u.name"},
	}.Apply(d)
	if err != nil {
		t.Fatal(err)
	}
	if c := canonical(t, got); c != `{"edit":{"count":1},"msg":"hello","u":{}}` {
		t.Errorf("applied: %s", c)
	}
	if canonical(t, d) != `{"msg":"helo","u":{"name":"al"}}` {
		t.Error("Apply changed its input")
	}
	if _, err := (edits.Edit{Set: []edits.SetOp{{Path: "msg.x", Value: 1}}}).Apply(d); err != edits.ErrNotApplicable {
		t.Errorf("a set through a string: %v, want ErrNotApplicable", err)
	}
}

// sixUpdates are editstest.SixUpdates as the fold reads them; the tied
// sixth update's id is the smaller, so it folds first.
func sixUpdates(t testing.TB) []edits.Event {
	ids := []string{"1", "4", "2", "6", "5", "3"}
	var out []edits.Event
	for i, u := range editstest.SixUpdates(target) {
		_, ed, err := edits.Parse(eventstore.TypeUpdate, data(t, u.O))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, edits.Event{ID: strings.Repeat(ids[i], 64), TS: u.TS, T: eventstore.TypeUpdate, Edit: ed})
	}
	return out
}

// TestFoldConvergesInEveryOrder folds the same six updates given in all
// 720 orders, with a repeat, and requires the same d every time.
func TestFoldConvergesInEveryOrder(t *testing.T) {
	o := data(t, editstest.Original)
	updates := sixUpdates(t)
	want := editstest.Folded
	for _, order := range editstest.Permutations(len(updates)) {
		var events []edits.Event
		for _, i := range order {
			events = append(events, updates[i])
		}
		events = append(events, updates[order[0]])
		given := slices.Clone(events)
		f, err := edits.Fold(o, events)
		if err != nil {
			t.Fatal(err)
		}
		if f.Deleted || string(f.D) != want {
			t.Fatalf("order %v: %+v d %s, want %s", order, f, f.D, want)
		}
		if !slices.EqualFunc(events, given, func(a, b edits.Event) bool { return a.ID == b.ID }) {
			t.Fatal("Fold reordered its input")
		}
	}
}

// TestFoldDelete: any delete wins, at the earliest delete's ts; an update
// that cannot apply is skipped.
func TestFoldDelete(t *testing.T) {
	o := data(t, `{"msg":"hi"}`)
	skipped := edits.Event{ID: target, TS: 5, T: eventstore.TypeUpdate, Edit: edits.Edit{Set: []edits.SetOp{{Path: "msg.x", Value: 1}}}}
	f, err := edits.Fold(o, []edits.Event{skipped})
	if err != nil || f.Deleted || string(f.D) != `{"msg":"hi"}` {
		t.Errorf("a skipped update: %+v %v", f, err)
	}
	del := func(id string, ts int64) edits.Event {
		return edits.Event{ID: strings.Repeat(id, 64), TS: ts, T: eventstore.TypeDelete}
	}
	f, err = edits.Fold(o, []edits.Event{skipped, del("b", 9), del("c", 7)})
	if err != nil || !f.Deleted || f.DeletedAt != 7 || f.D != nil {
		t.Errorf("deleted: %+v %v", f, err)
	}
}
