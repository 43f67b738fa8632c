package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// docMixes are the inserts of BenchmarkDocumentMix: what one shared insert
// of 8 writers holds, about 4 appends' worth.
var docMixes = []struct {
	name     string
	claims   int  // claims in the insert, sharing its 4 events
	entries  bool // an entry per claim (false: one for the insert)
	unpacked bool // versions as stored before headformat.go
}{
	{name: "1room", claims: 1, entries: true},
	{name: "20rooms", claims: 4, entries: true},
	{name: "20rooms-1entry", claims: 4},
	{name: "1room-unpacked", claims: 1, entries: true, unpacked: true},
	{name: "20rooms-unpacked", claims: 4, entries: true, unpacked: true},
}

// BenchmarkDocumentMix is the database alone, inserting the documents the
// shapes of BenchmarkAppendAcrossRooms write, copied from a real store, one
// insert after another, each mix in its own fresh database, taking turns
// in blocks: 1room is a version with its commit log entry and 4 events
// (one room's claim of 4 appends); 20rooms is 4 claims of one event each,
// each with its version and entry; 20rooms-1entry the same with one entry
// for the insert; the -unpacked mixes store the versions' fields as they
// were before headformat.go. It bounds what the store can reach: the
// ratio of 20rooms to 1room here is the ratio of the appends' documents,
// before any of the store's own work. Each reports the median insert
// latency and, beside the 1room mix of its kind, its ratio (p50-ratio,
// the 1room insert's median over its own: insert rates at 4 events each).
func BenchmarkDocumentMix(b *testing.B) {
	backend := storetest.Backends()[0]
	type turn struct {
		insert func() []any
		coll   *mongo.Collection
		each   []time.Duration
	}
	turns := make([]*turn, len(docMixes))
	for k, mix := range docMixes {
		event, version, entry := sampleDocuments(b, backend)
		if mix.unpacked {
			version = unpacked(b, version)
		}
		n := 0
		copyOf := func(d bson.D) bson.D {
			n++
			c := append(bson.D{}, d...)
			c[0].Value = fmt.Sprintf("%s-%d", c[0].Value, n)
			return c
		}
		t := &turn{}
		t.insert = func() []any {
			var docs []any
			if !mix.entries {
				docs = append(docs, copyOf(entry))
			}
			for range mix.claims {
				if mix.entries {
					docs = append(docs, copyOf(entry))
				}
				docs = append(docs, copyOf(version))
				for range 4 / mix.claims {
					docs = append(docs, copyOf(event))
				}
			}
			return docs
		}
		conn := backend.Connect(b, storetest.Options{})
		if err := migrations.PrepareContextType(context.Background(), conn, "room"); err != nil {
			b.Fatal(err)
		}
		t.coll = conn.DB.Collection(migrations.EventsCollection("room"))
		turns[k] = t
	}
	const rounds, block = 20, 50
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		for range rounds {
			for _, t := range turns {
				for range block {
					docs := t.insert()
					start := time.Now()
					if _, err := t.coll.InsertMany(ctx, docs); err != nil {
						b.Fatal(err)
					}
					t.each = append(t.each, time.Since(start))
				}
			}
		}
	}
	b.StopTimer()
	for k, t := range turns {
		name := docMixes[k].name
		b.ReportMetric(quantileMillis(t.each, 0.5), name+"-p50-ms")
		base := turns[0]
		if docMixes[k].unpacked {
			base = turns[3]
		}
		if base != t {
			b.ReportMetric(quantileMillis(base.each, 0.5)/quantileMillis(t.each, 0.5), name+"-p50-ratio")
		}
	}
}

// sampleDocuments appends one message to a fresh store and returns its
// event, the version that added it and that version's commit log entry, as
// stored.
func sampleDocuments(b *testing.B, backend storetest.Backend) (event, version, entry bson.D) {
	b.Helper()
	ctx := context.Background()
	conn := backend.Connect(b, storetest.Options{})
	s := storetest.NewStore(b, conn, server, store.Options{})
	if _, err := s.CreateContext(ctx, "room", "t", "", nil); err != nil {
		b.Fatal(err)
	}
	if _, _, err := s.Append(ctx, "room", "t", store.NewEvent{T: "msg", O: data(b, roomMessage)}); err != nil {
		b.Fatal(err)
	}
	cur, err := conn.DB.Collection(migrations.EventsCollection("room")).Find(ctx, bson.D{})
	if err != nil {
		b.Fatal(err)
	}
	var all []bson.D
	if err := cur.All(ctx, &all); err != nil {
		b.Fatal(err)
	}
	for _, d := range all {
		id, _ := d[0].Value.(string)
		raw, _ := bson.Marshal(d)
		t, _ := bson.Raw(raw).Lookup("t").StringValueOK()
		switch {
		case id == migrations.LogEntryID(2):
			entry = d
		case id == "t#2":
			version = d
		case len(id) == 64 && t == "msg":
			event = d
		}
	}
	if event == nil || version == nil || entry == nil {
		b.Fatalf("no event, version or entry in %v", all)
	}
	return event, version, entry
}

// unpacked is version v with its head's fields stored as fields.
func unpacked(b *testing.B, v bson.D) bson.D {
	b.Helper()
	h := v[2].Value.(bson.D)
	var fields bson.D
	if err := bson.UnmarshalExtJSON([]byte(h[1].Value.(string)), false, &fields); err != nil {
		b.Fatal(err)
	}
	return bson.D{v[0], v[1], {Key: "head", Value: append(bson.D{{Key: "cid", Value: v[1].Value}, h[0]}, fields...)}}
}
