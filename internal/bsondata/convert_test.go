package bsondata_test

import (
	"bytes"
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/internal/bsondata"
)

var samples = []string{
	`{}`,
	`{"msg":"hi","u":{"_id":"u1","name":"Alice"},"mentions":[],"n":3,"f":1.5,"ok":true,"none":null}`,
	`{"grid":[[1,[2]],{"":[[]]}],"é":"\u00e9","\u20ac":-0.25}`,
	`{"b":1,"a":{"d":2,"c":[{"z":1,"y":2}]}}`,
}

// TestRoundTrip: JSON data stored as BSON reads back as the same canonical
// JSON, whether from the bytes, from the driver's decoded values, or from
// the values converted back to hashing's.
func TestRoundTrip(t *testing.T) {
	for _, js := range samples {
		doc, canonical, err := bsondata.FromJSON([]byte(js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		want, err := hashing.CanonicalJSON([]byte(js))
		if err != nil || !bytes.Equal(canonical, want) {
			t.Fatalf("%s: canonical %s, want %s (%v)", js, canonical, want, err)
		}
		fromBytes, err := hashing.CanonicalBSON(doc)
		if err != nil || !bytes.Equal(fromBytes, want) {
			t.Errorf("%s: from BSON %s, %v", js, fromBytes, err)
		}
		var asD bson.D
		var asM bson.M
		if err := bson.Unmarshal(doc, &asD); err != nil {
			t.Fatal(err)
		}
		if err := bson.Unmarshal(doc, &asM); err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]any{"raw": doc, "D": asD, "M": asM} {
			if got, err := bsondata.CanonicalObject(v); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s as %s: %s, %v", js, name, got, err)
			}
		}
		back, err := hashing.Canonical(bsondata.Data(asD))
		if err != nil || !bytes.Equal(back, want) {
			t.Errorf("%s: Data of bson.D gives %s, %v", js, back, err)
		}
	}
}

// TestRefusals: FromJSON applies the data rules, and Canonical refuses
// what only BSON can hold.
func TestRefusals(t *testing.T) {
	for js, want := range map[string]error{
		`{"a":1,"a":2}`:          hashing.ErrDuplicateMember,
		`{"$a":1}`:               hashing.ErrMemberDollar,
		`[1]`:                    hashing.ErrNotObject,
		`{"n":9007199254740992}`: hashing.ErrIntegerRange,
		`{"a":}`:                 hashing.ErrSyntax,
	} {
		if _, _, err := bsondata.FromJSON([]byte(js)); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", js, err, want)
		}
	}
	if _, err := bsondata.Canonical(bson.D{{Key: "id", Value: bson.NewObjectID()}}); !errors.Is(err, hashing.ErrUnsupportedType) {
		t.Errorf("an ObjectID: %v", err)
	}
}
