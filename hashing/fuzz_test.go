package hashing_test

import (
	"bytes"
	"testing"

	"github.com/eventstore-go/eventstore/internal/bsondata"
	"github.com/gowebpki/jcs"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/hashing"
)

// FuzzCanonical: no panic on arbitrary bytes; accepted input canonicalizes
// idempotently, agrees with an independent JCS implementation, and gives the
// same canonical form after a trip through BSON.
func FuzzCanonical(f *testing.F) {
	for _, s := range roundTripCorpus {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"a":"\ud800"}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Add([]byte(`{"n":9007199254740992}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		doc, canonical, err := hashing.ParseObject(raw)
		if err != nil {
			return
		}
		again, err := hashing.CanonicalJSON(canonical)
		if err != nil {
			t.Fatalf("canonical form refused: %v\n%s", err, canonical)
		}
		if !bytes.Equal(again, canonical) {
			t.Fatalf("not idempotent\n1st %s\n2nd %s", canonical, again)
		}
		if oracle, err := jcs.Transform(raw); err == nil && !bytes.Equal(oracle, canonical) {
			t.Fatalf("disagrees with jcs\n got %s\njcs %s", canonical, oracle)
		}
		b, err := bsondata.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		fromBSON, err := bsondata.Canonical(bson.Raw(b))
		if err != nil {
			t.Fatalf("BSON form refused: %v", err)
		}
		if !bytes.Equal(fromBSON, canonical) {
			t.Fatalf("BSON round trip\n got %s\nwant %s", fromBSON, canonical)
		}
	})
}

// FuzzCanonicalBSON: arbitrary bytes read as a BSON document never panic.
func FuzzCanonicalBSON(f *testing.F) {
	for _, s := range roundTripCorpus {
		doc, _, _ := hashing.ParseObject([]byte(s))
		b, _ := bsondata.Marshal(doc)
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := bsondata.Canonical(bson.Raw(b)); err == nil {
			if _, err := hashing.CanonicalJSON(c); err != nil {
				t.Fatalf("accepted BSON gave refused JSON: %v\n%s", err, c)
			}
		}
	})
}
