package hashing_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/eventstore-go/eventstore/hashing"

	"github.com/eventstore-go/eventstore/internal/bsondata"
)

// chatMessage is a typical chat message, about 300 bytes of canonical JSON.
const chatMessage = `{"_id":"kM3oWBhYc6TN9hK2d","rid":"a7c5MQFQGe4XKMyEo","msg":"Are we still on for the release review at 3pm? I pushed the last fixes 😀",` +
	`"ts":1591904802385,"u":{"_id":"u1","username":"alice","name":"Alice Liddell"},"mentions":[],"channels":[],"groupable":false,"_updatedAt":1591904802385}`

var benchHead = hashing.Head{
	Src: "a.example", Ct: "room", Cid: "a7c5MQFQGe4XKMyEo", T: "msg", TS: 1591904802385,
	Pids: []string{"c800417be34558ecfab9e5e6304c55bc7db3c99796561e8fd97c00043ad2ea43"},
}

// BenchmarkEventID measures computing dHash and _id from data in three forms
// (parsed into hashing's values, a stored BSON document, raw JSON)
// and, in the same run, plain SHA-256 of the same canonical bytes (the data
// and the head): the limit. It reports ids/s and the ratio to that limit.
func BenchmarkEventID(b *testing.B) {
	doc, canonical, err := hashing.ParseObject([]byte(chatMessage))
	if err != nil {
		b.Fatal(err)
	}
	raw, err := bsondata.Marshal(doc)
	if err != nil {
		b.Fatal(err)
	}
	h := benchHead
	h.DHash = hashing.DataHash(canonical)
	headBytes := hashing.AppendCanonicalHead(nil, h)
	b.Logf("canonical data %d bytes, head %d bytes", len(canonical), len(headBytes))

	forms := []struct {
		name string
		id   func() string
	}{
		{"parsed-object", func() string { // data parsed once, as a request's o is
			c, err := hashing.Canonical(doc)
			if err != nil {
				b.Fatal(err)
			}
			_, id := hashing.ID(benchHead, c)
			return id
		}},
		{"stored-bson", func() string { // as the audit reads stored data
			c, err := hashing.CanonicalBSON(raw)
			if err != nil {
				b.Fatal(err)
			}
			_, id := hashing.ID(benchHead, c)
			return id
		}},
		{"raw-json", func() string {
			_, c, err := hashing.ParseObject([]byte(chatMessage))
			if err != nil {
				b.Fatal(err)
			}
			_, id := hashing.ID(benchHead, c)
			return id
		}},
	}
	sha := func() {
		sha256.Sum256(canonical)
		sha256.Sum256(headBytes)
	}
	for _, f := range forms {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			var ours, limit time.Duration
			const block = 256
			for done := 0; done < b.N; done += block {
				n := min(block, b.N-done)
				start := time.Now()
				for range n {
					f.id()
				}
				mid := time.Now()
				for range n {
					sha()
				}
				ours += mid.Sub(start)
				limit += time.Since(mid)
			}
			perID := float64(ours.Nanoseconds()) / float64(b.N)
			b.ReportMetric(perID, "ns/id")
			b.ReportMetric(1e9/perID, "ids/s")
			b.ReportMetric(float64(limit.Nanoseconds())/float64(b.N), "sha256-ns/id")
			b.ReportMetric(float64(limit)/float64(ours), "ratio-to-sha256")
		})
	}
}

// BenchmarkCanonicalJSONVsJCS compares this package's validating canonicalizer
// with github.com/gowebpki/jcs on the same chat message; it is the measurement
// behind writing the encoder here (see doc.go).
func BenchmarkCanonicalJSONVsJCS(b *testing.B) {
	raw := []byte(chatMessage)
	b.Run("hashing", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := hashing.CanonicalJSON(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gowebpki-jcs", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := jcs.Transform(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
