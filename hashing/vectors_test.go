package hashing_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/hashing"
)

// vectorsPath is the shared hashing contract, checked out beside the project.
var vectorsPath = filepath.Join("..", "..", "shared", "spec", "vectors.json")

type vector struct {
	Name  string `json:"name"`
	Event struct {
		Src  string          `json:"src"`
		Ct   string          `json:"ct"`
		Cid  string          `json:"cid"`
		T    string          `json:"t"`
		TS   int64           `json:"ts"`
		Pids []string        `json:"pids"`
		O    json.RawMessage `json:"o"`
	} `json:"event"`
	CanonicalO    string `json:"canonicalO"`
	DHash         string `json:"dHash"`
	CanonicalHead string `json:"canonicalHead"`
	ID            string `json:"_id"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	raw, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("the shared spec must be checked out beside the project: %v", err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

func TestVectorsFromRawJSON(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			_, canonical, err := hashing.ParseObject(v.Event.O)
			if err != nil {
				t.Fatal(err)
			}
			checkVector(t, v, canonical)
		})
	}
}

// TestVectorsFromBSON reproduces the vectors from the data as MongoDB hands
// it back: marshalled to BSON, then decoded as bson.Raw, bson.D and bson.M.
func TestVectorsFromBSON(t *testing.T) {
	for _, v := range loadVectors(t) {
		doc, _, err := hashing.ParseObject(v.Event.O)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := bson.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		var asD bson.D
		var asM bson.M
		if err := bson.Unmarshal(raw, &asD); err != nil {
			t.Fatal(err)
		}
		if err := bson.Unmarshal(raw, &asM); err != nil {
			t.Fatal(err)
		}
		for name, decoded := range map[string]any{"raw": bson.Raw(raw), "D": asD, "M": asM} {
			t.Run(v.Name+"/"+name, func(t *testing.T) {
				canonical, err := hashing.CanonicalObject(decoded)
				if err != nil {
					t.Fatal(err)
				}
				checkVector(t, v, canonical)
			})
		}
	}
}

// TestVectorsFromGoValues uses encoding/json's generic decoding (float64
// numbers, map[string]any objects), as a client library might.
func TestVectorsFromGoValues(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(v.Event.O, &m); err != nil {
				t.Fatal(err)
			}
			canonical, err := hashing.CanonicalObject(m)
			if err != nil {
				t.Fatal(err)
			}
			checkVector(t, v, canonical)
		})
	}
}

func checkVector(t *testing.T, v vector, canonical []byte) {
	t.Helper()
	if string(canonical) != v.CanonicalO {
		t.Errorf("canonicalO\n got %s\nwant %s", canonical, v.CanonicalO)
	}
	head := hashing.Head{Src: v.Event.Src, Ct: v.Event.Ct, Cid: v.Event.Cid, T: v.Event.T, TS: v.Event.TS, Pids: v.Event.Pids}
	dHash, id := hashing.ID(head, canonical)
	if dHash != v.DHash {
		t.Errorf("dHash %s, want %s", dHash, v.DHash)
	}
	head.DHash = dHash
	if err := head.Validate(); err != nil {
		t.Errorf("vector head refused: %v", err)
	}
	if got := string(hashing.AppendCanonicalHead(nil, head)); got != v.CanonicalHead {
		t.Errorf("canonicalHead\n got %s\nwant %s", got, v.CanonicalHead)
	}
	if id != v.ID {
		t.Errorf("_id %s, want %s", id, v.ID)
	}
}
