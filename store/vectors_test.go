package store_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestDataRoundTrip stores data through the store and reads it back: the
// canonical bytes must be those of the original JSON. This covers the data
// of every hashing vector (testdata/vectors.json) and a corpus of awkward
// data (testdata/roundtrip.json).
func TestDataRoundTrip(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vf struct {
		Vectors []struct {
			Event struct {
				O json.RawMessage `json:"o"`
			} `json:"event"`
			CanonicalO string `json:"canonicalO"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	vectors := vf.Vectors
	if len(vectors) == 0 {
		t.Fatal("testdata/vectors.json: no vectors")
	}
	var file struct {
		Data []string `json:"data"`
	}
	rt, err := os.ReadFile(filepath.Join("..", "testdata", "roundtrip.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rt, &file); err != nil {
		t.Fatal(err)
	}
	corpus := file.Data
	for _, v := range vectors {
		corpus = append(corpus, string(v.Event.O))
	}
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _ := newStore(t, b)
		ctx := ctxT(t)
		if _, err := s.CreateContext(ctx, "room", "r1", "", nil); err != nil {
			t.Fatal(err)
		}
		for _, js := range corpus {
			want, err := hashing.CanonicalJSON([]byte(js))
			if err != nil {
				t.Fatalf("%s: %v", js, err)
			}
			e, _, err := s.Append(ctx, "room", "r1", store.NewEvent{T: "msg", O: data(t, js)})
			if err != nil {
				t.Fatalf("%s: %v", js, err)
			}
			got, err := s.Get(ctx, "room", "r1", e.ID)
			if err != nil {
				t.Fatal(err)
			}
			for name, doc := range map[string]json.RawMessage{"o": got.O, "d": got.D} {
				c, err := hashing.CanonicalJSON(doc)
				if err != nil {
					t.Fatalf("%s read back: %v", name, err)
				}
				if string(c) != string(want) {
					t.Errorf("%s\n got %s\nwant %s", name, c, want)
				}
			}
			if err := got.Verify(); err != nil {
				t.Error(err)
			}
		}
	})
}

// TestNestedArraysInEdits: updates may put arrays inside arrays into d
// (stored escaped on FerretDB) and the result reads back as the data.
func TestNestedArraysInEdits(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _ := newStore(t, b)
		ctx := ctxT(t)
		if _, err := s.CreateContext(ctx, "room", "r1", "", nil); err != nil {
			t.Fatal(err)
		}
		e, _, err := s.Append(ctx, "room", "r1", store.NewEvent{T: "msg", O: data(t, `{"grid":[1,2]}`)})
		if err != nil {
			t.Fatal(err)
		}
		value, err := hashing.Parse([]byte(`[[1,[2]],{"":[[]]},{"":"array","v":[]}]`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, "room", "r1", e.ID, edits.Edit{Set: []edits.SetOp{{Path: "grid", Value: value}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, "room", "r1", e.ID, edits.Edit{Set: []edits.SetOp{{Path: "more", Value: []any{[]any{}}}}}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "room", "r1", e.ID)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := hashing.CanonicalJSON(got.D)
		o, _ := hashing.CanonicalJSON(got.O)
		if want := `{"grid":[[1,[2]],{"":[[]]},{"":"array","v":[]}],"more":[[]]}`; string(d) != want {
			t.Errorf("d %s, want %s", d, want)
		}
		if string(o) != `{"grid":[1,2]}` {
			t.Errorf("o %s", o)
		}
		if err := got.Verify(); err != nil {
			t.Error(err)
		}
	})
}
