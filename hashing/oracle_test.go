package hashing_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/eventstore-go/eventstore/internal/bsondata"
	"github.com/gowebpki/jcs"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/hashing"
)

// TestNumbersAgainstJCS compares number formatting with an independent JCS
// implementation over hand-picked edge cases and a million random doubles.
func TestNumbersAgainstJCS(t *testing.T) {
	cases := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 0.5, 1e21, 1e-7, 1e-6, 123e-20,
		1e20, 9007199254740991, 9007199254740992, 1e17, 1.5e300, 5e-324, math.MaxFloat64,
		0.000001, 0.0000001, 123456789012345680000, 4.35, 1.0000000000000002, 333333333.33333329}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], rng.Uint64())
		f := math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			cases = append(cases, f)
		}
	}
	for _, f := range cases {
		want, err := jcs.NumberToJSON(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := hashing.Canonical(f)
		if a := math.Abs(f); a > hashing.MaxSafeInteger && a < 1e21 {
			if !errors.Is(err, hashing.ErrIntegerRange) {
				t.Fatalf("%v: canonical form %s is an unsafe integer literal, want ErrIntegerRange, got %v", f, want, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		if string(got) != want {
			t.Fatalf("%v (bits %x): got %s, want %s", f, math.Float64bits(f), got, want)
		}
	}
}

// roundTripCorpus is data whose canonical form must survive JSON → BSON →
// decoded values → canonical JSON unchanged (testdata/roundtrip.json, which
// the store's tests also run through the database).
var roundTripCorpus = func() []string {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "roundtrip.json"))
	if err != nil {
		panic(err)
	}
	var f struct {
		Data []string `json:"data"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		panic(err)
	}
	return f.Data
}()

func TestRoundTripThroughBSON(t *testing.T) {
	for _, raw := range roundTripCorpus {
		doc, want, err := hashing.ParseObject([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		fromJCS, err := jcs.Transform([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if string(fromJCS) != string(want) {
			t.Errorf("disagrees with jcs\n got %s\njcs %s", want, fromJCS)
		}
		b, err := bsondata.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		var asD bson.D
		var asM map[string]any
		if err := bson.Unmarshal(b, &asD); err != nil {
			t.Fatal(err)
		}
		if err := bson.Unmarshal(b, &asM); err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]any{"raw": bson.Raw(b), "D": asD, "map": asM} {
			got, err := bsondata.Canonical(v)
			if err != nil {
				t.Fatalf("%s %s: %v", name, raw, err)
			}
			if string(got) != string(want) {
				t.Errorf("%s\n got %s\nwant %s", name, got, want)
			}
		}
	}
}
