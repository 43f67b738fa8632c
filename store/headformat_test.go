package store

import (
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func sampleHead() head {
	return head{
		Cid:     "r1",
		Seq:     7,
		Leaves:  []leaf{{ID: "e2", TS: 1700000000002}},
		Count:   3,
		Genesis: "e0",
		Participation: participants{
			Servers: []string{"a.example", "b.example"},
			Joins:   []joinRef{{Server: "b.example", Event: "j1"}},
		},
		Pos:      3,
		Types:    []string{"msg"},
		Log:      12,
		Added:    []string{"e2"},
		AllLocal: true,
		Clids:    []clidDoc{{ID: "r1#c2", Event: "e2"}},
		Flagged:  []string{"e1"},
		Flag:     []string{"e2"},
		Unflag:   []string{"e1"},
		At:       bson.DateTime(1700000000003),
	}
}

// TestHeadPacked: a version is stored as {_id, cid, head: {seq, packed}}
// and reads back as it was written.
func TestHeadPacked(t *testing.T) {
	h := sampleHead()
	raw, err := bson.Marshal(headDoc{ID: headID(h.Cid, h.Seq), Cid: h.Cid, Head: h})
	if err != nil {
		t.Fatal(err)
	}
	var stored struct {
		ID   string `bson:"_id"`
		Cid  string `bson:"cid"`
		Head bson.D `bson:"head"`
	}
	if err := bson.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	if stored.ID != "r1#7" || stored.Cid != "r1" || len(stored.Head) != 2 || stored.Head[0].Key != "seq" || stored.Head[0].Value != int64(7) || stored.Head[1].Key != "packed" {
		t.Fatalf("stored as %v", bson.Raw(raw))
	}
	var back headDoc
	if err := bson.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Head, h) || back.ID != "r1#7" || back.Cid != "r1" {
		t.Errorf("read back %+v, want %+v", back.Head, h)
	}
}

// TestHeadLegacy: a version written before packing (every field of the
// head in the document) reads as it did.
func TestHeadLegacy(t *testing.T) {
	h := sampleHead()
	raw, err := bson.Marshal(struct {
		ID   string `bson:"_id"`
		Cid  string `bson:"cid"`
		Head head   `bson:"head"`
	}{"r1#7", "r1", h})
	if err != nil {
		t.Fatal(err)
	}
	var back headDoc
	if err := bson.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Head, h) {
		t.Errorf("read %+v, want %+v", back.Head, h)
	}
}

// TestHeadFieldBesidePacked: a field set beside packed (by hand, to mend
// a version) is the one read; a packed head that is not JSON is an error,
// and the version keeps its _id and cid (the audit names it by them).
func TestHeadFieldBesidePacked(t *testing.T) {
	h := sampleHead()
	raw, _ := bson.Marshal(headDoc{ID: "r1#7", Cid: "r1", Head: h})
	var doc bson.D
	if err := bson.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	stored := doc[2].Value.(bson.D)
	mended := append(stored, bson.E{Key: "leaves", Value: bson.A{bson.D{{Key: "id", Value: "e9"}, {Key: "ts", Value: int64(5)}}}})
	doc[2].Value = mended
	raw, _ = bson.Marshal(doc)
	var back headDoc
	if err := bson.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if want := []leaf{{ID: "e9", TS: 5}}; !reflect.DeepEqual(back.Head.Leaves, want) || back.Head.Count != 3 {
		t.Errorf("leaves %v count %d, want %v and 3", back.Head.Leaves, back.Head.Count, want)
	}
	doc[2].Value = bson.D{{Key: "seq", Value: int64(7)}, {Key: "packed", Value: "{not json"}}
	raw, _ = bson.Marshal(doc)
	var bad headDoc
	if err := bson.Unmarshal(raw, &bad); err == nil {
		t.Error("a packed head that is not JSON was read")
	}
	if bad.ID != "r1#7" || bad.Cid != "r1" {
		t.Errorf("a version whose head fails is named %q of %q, want r1#7 of r1", bad.ID, bad.Cid)
	}
}
