package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

const benchMessage = `{"msg":"Are we still on for the release review at 3pm? I pushed the last fixes","u":{"_id":"u1","username":"alice","name":"Alice Liddell"},"mentions":[],"groupable":false}`

// BenchmarkAppend: appends to one context at concurrency 1 and 8, and at
// concurrency 1 with a clid on every append (as chat services send), beside
// raw InsertOne of documents of the same shape into a collection prepared
// the same way, on the same backend in the same run (target ratio ≥ 0.5;
// with a clid ≥ 0.8). With a clid it is also held against a raw insert of
// the four documents such an append writes (ratio-insert-of-four): the
// database's own cost of that one write. It also reports the database
// commands (round trips) per append. The room's idle upkeep runs once,
// after the last append, and counts in the appends' time.
func BenchmarkAppend(b *testing.B) {
	for _, backend := range storetest.Backends() {
		for _, shape := range []struct {
			conc int
			clid bool
		}{{1, false}, {8, false}, {1, true}} {
			conc := shape.conc
			name := fmt.Sprintf("%s/conc=%d", backend.Name, conc)
			if shape.clid {
				name += "/clid"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				ctx := context.Background()
				var counter storetest.CommandCounter
				conn := backend.Connect(b, storetest.Options{Monitor: counter.Monitor()})
				s := storetest.NewStore(b, conn, server, store.Options{})
				if _, err := s.CreateContext(ctx, "room", "bench", "", nil); err != nil {
					b.Fatal(err)
				}
				o := data(b, benchMessage)
				stored := storetest.BSON(b, o)
				if err := migrations.PrepareContextType(ctx, conn, "raw"); err != nil {
					b.Fatal(err)
				}
				raw := conn.DB.Collection(migrations.EventsCollection("raw"))
				var commands int64
				appended := 0
				var calls atomic.Int64
				limits := []storetest.Limit{{F: func(i int) error {
					_, err := raw.InsertOne(ctx, rawDoc(i, "bench", stored))
					return err
				}}}
				if shape.clid {
					// What an idempotent append must write, raw: its
					// commit log entry, clid record, head version and
					// event, in one ordered insert (claim_insert.go).
					if err := migrations.PrepareContextType(ctx, conn, "raw4"); err != nil {
						b.Fatal(err)
					}
					raw4 := conn.DB.Collection(migrations.EventsCollection("raw4"))
					limits = append(limits, storetest.Limit{Name: "insert-of-four", F: func(i int) error {
						_, err := raw4.InsertMany(ctx, appendDocs(i, stored))
						return err
					}})
				}
				storetest.CompareWith(b, conc, func(i int) error {
					before := counter.Count()
					in := store.NewEvent{T: "msg", O: o}
					if shape.clid {
						in.Clid = fmt.Sprintf("c-%d", appended) // conc 1: one at a time
					}
					_, _, err := s.Append(ctx, "room", "bench", in)
					calls.Add(1)
					if conc == 1 {
						commands += counter.Count() - before
						appended++
					}
					return err
				}, func() error {
					// The idle upkeep (isLeaf flags, complete_flags.go),
					// which a busy room gets once it goes quiet: after the
					// last append, timed with its block. (Rooms that go
					// quiet after a message or two pay it per message:
					// api BenchmarkChatShapes reports that apart.)
					if calls.Load() == int64(b.N) {
						return s.Flush(ctx)
					}
					return nil
				}, limits...)
				if conc == 1 && appended > 0 {
					b.ReportMetric(float64(commands)/float64(appended), "commands/append")
				}
			})
		}
	}
}

// appendDocs are the four documents an idempotent append writes (its
// commit log entry, clid record, head version and event), shaped and sized
// as the store writes them, with ids of their own (i).
func appendDocs(i int, o bson.Raw) []any {
	id := rawID(i)
	packed := fmt.Sprintf(`{"leaves":[{"id":"%s","ts":%d}],"count":%d,"genesis":"%064x","servers":["a.example"],"pos":%d,"types":["msg"],"log":%d,"added":["%s"],"allLocal":true,"at":{"$date":"2026-12-07T12:33:18.615Z"}}`,
		id, 1796646798615+i, i, 0, i, i, id)
	clid := fmt.Sprintf("c-%d", i)
	event := rawDoc(i, "bench", o)
	event = append(event[:1], append(bson.D{{Key: "clid", Value: clid}}, event[1:]...)...)
	return []any{
		bson.D{{Key: "_id", Value: fmt.Sprintf("~log#%d", i)}, {Key: "cid", Value: "~log"}, {Key: "room", Value: "bench"}, {Key: "seq", Value: int64(i)}},
		bson.D{{Key: "_id", Value: "bench#c" + clid}, {Key: "cid", Value: "bench"}, {Key: "event", Value: id}, {Key: "at", Value: bson.DateTime(i)}},
		bson.D{{Key: "_id", Value: fmt.Sprintf("bench#%d", i)}, {Key: "cid", Value: "bench"}, {Key: "head", Value: bson.D{{Key: "seq", Value: int64(i)}, {Key: "packed", Value: packed}}}},
		event[:len(event)-2], // without d (stored only once it differs from o) and isLeaf (written later)
	}
}

// rawID is the i-th id of a raw event document: a SHA-256 in hex, as an
// event's id is, so that raw inserts meet the _id index where events do,
// anywhere in it, rather than always at its end as counting ids
// ("000…01", "000…02") did, which kept the limit's index pages few and
// cached.
func rawID(i int) string {
	sum := sha256.Sum256([]byte("raw-" + strconv.Itoa(i)))
	return hex.EncodeToString(sum[:])
}

// rawDoc is the i-th raw event document of context cid, data o.
func rawDoc(i int, cid string, o bson.Raw) bson.D {
	return docOf(&eventstore.Event{ID: rawID(i), Pids: []string{rawID(i - 1)}, V: 2, TS: int64(i),
		Src: server, Ct: "raw", Cid: cid, T: "msg", DHash: rawID(i)}, o)
}

// docOf is the BSON document event e is stored as, its data o.
func docOf(e *eventstore.Event, o bson.Raw) bson.D {
	return bson.D{{Key: "_id", Value: e.ID}, {Key: "pids", Value: e.Pids}, {Key: "v", Value: int32(e.V)},
		{Key: "ts", Value: bson.DateTime(e.TS)}, {Key: "src", Value: e.Src}, {Key: "ct", Value: e.Ct},
		{Key: "cid", Value: e.Cid}, {Key: "t", Value: e.T}, {Key: "dHash", Value: e.DHash},
		{Key: "o", Value: o}, {Key: "d", Value: o}, {Key: "isLeaf", Value: true}}
}

// BenchmarkAppendAtSize: appends, a clid on each as chat services send, to
// a context that already holds 1,000, then 100,000, then 1,000,000 events,
// in the same run (target: the rate at each size at least 0.8 of the rate
// at 1k), and database commands per append at each size. The sizes are
// EVENTSTORE_BENCH_APPEND_SIZES (comma separated) when set; filling a
// million events takes a few minutes here.
func BenchmarkAppendAtSize(b *testing.B) {
	sizes := []int{1_000, 100_000, 1_000_000}
	if v := os.Getenv("EVENTSTORE_BENCH_APPEND_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				b.Fatalf("EVENTSTORE_BENCH_APPEND_SIZES=%q: want sizes, comma separated", v)
			}
			sizes = append(sizes, n)
		}
	}
	label := func(n int) string {
		switch {
		case n >= 1_000_000 && n%1_000_000 == 0:
			return strconv.Itoa(n/1_000_000) + "M"
		case n >= 1_000 && n%1_000 == 0:
			return strconv.Itoa(n/1_000) + "k"
		}
		return strconv.Itoa(n)
	}
	for _, backend := range storetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			ctx := context.Background()
			var counter storetest.CommandCounter
			conn := backend.Connect(b, storetest.Options{Monitor: counter.Monitor()})
			s := storetest.NewStore(b, conn, server, store.Options{})
			g, err := s.CreateContext(ctx, "room", "big", "", nil)
			if err != nil {
				b.Fatal(err)
			}
			o := data(b, benchMessage)
			// Fill with remote events in batches of 99 (the fastest way in).
			stored := 1
			last := g
			fill := func(n int) {
				for stored < n {
					var batch []*eventstore.Event
					for range min(99, n-stored) {
						e := remoteEvent(b, "b.example", "room", "big", "msg", last.TS+1, []string{last.ID}, o)
						batch = append(batch, e)
						last = e
					}
					res, err := s.IngestFrom(ctx, "", batch)
					if err != nil || res[len(res)-1].Status != store.Stored {
						b.Fatalf("filling: %v %+v", err, res[len(res)-1])
					}
					stored += len(batch)
				}
			}
			clids := 0
			rate := func(n int) (float64, float64) {
				before := counter.Count()
				start := time.Now()
				for range n {
					clids++
					in := store.NewEvent{T: "msg", O: o, Clid: "c" + strconv.Itoa(clids)}
					if _, _, err := s.Append(ctx, "room", "big", in); err != nil {
						b.Fatal(err)
					}
				}
				stored += n
				return float64(n) / time.Since(start).Seconds(), float64(counter.Count()-before) / float64(n)
			}
			rates, cmds := make([]float64, len(sizes)), make([]float64, len(sizes))
			b.ResetTimer()
			for range b.N {
				for i, size := range sizes {
					b.StopTimer()
					fill(size)
					b.StartTimer()
					rates[i], cmds[i] = rate(500)
				}
			}
			for i, size := range sizes {
				b.ReportMetric(rates[i], "appends/s@"+label(size))
				b.ReportMetric(cmds[i], "commands/append@"+label(size))
				if i > 0 {
					b.ReportMetric(rates[i]/rates[0], "ratio-"+label(size)+"-to-"+label(sizes[0]))
				}
			}
		})
	}
}

// BenchmarkIngest: a chain of 10,000 remote events ingested in batches of
// 99 (as a joining server stores a history), beside raw InsertMany of the
// same documents in the same batches, on the same backend in the same run;
// and the database commands per batch.
func BenchmarkIngest(b *testing.B) {
	for _, backend := range storetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			ctx := context.Background()
			var counter storetest.CommandCounter
			conn := backend.Connect(b, storetest.Options{Monitor: counter.Monitor()})
			o := data(b, benchMessage)
			if err := migrations.PrepareContextType(ctx, conn, "raw"); err != nil {
				b.Fatal(err)
			}
			const n, batchSize = 10_000, 99
			var ours, limit time.Duration
			var commands, batches int64
			for i := range b.N {
				s := storetest.NewStore(b, conn, server, store.Options{})
				cid := fmt.Sprintf("ingest-%d", i)
				chain := []*eventstore.Event{remoteEvent(b, "b.example", "room", cid, "room", 1_000_000, nil, o)}
				for len(chain) < n {
					last := chain[len(chain)-1]
					chain = append(chain, remoteEvent(b, "b.example", "room", cid, "msg", last.TS+1, []string{last.ID}, o))
				}
				start := time.Now()
				for from := 0; from < n; from += batchSize {
					before := counter.Count()
					res, err := s.IngestFrom(ctx, "", chain[from:min(from+batchSize, n)])
					if err != nil || res[0].Status != store.Stored {
						b.Fatalf("ingest: %v %+v", err, res[0])
					}
					commands += counter.Count() - before
					batches++
				}
				if err := s.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				ours += time.Since(start)
				raw := conn.DB.Collection(migrations.EventsCollection("raw"))
				stored := make([]bson.Raw, n) // the data as the store keeps it, converted before the clock starts
				for i, e := range chain {
					stored[i] = storetest.BSON(b, e.O)
				}
				start = time.Now()
				for from := 0; from < n; from += batchSize {
					var docs []any
					for i, e := range chain[from:min(from+batchSize, n)] {
						c := *e
						c.Ct, c.Cid = "raw", cid
						docs = append(docs, docOf(&c, stored[from+i]))
					}
					if _, err := raw.InsertMany(ctx, docs); err != nil {
						b.Fatal(err)
					}
				}
				limit += time.Since(start)
			}
			rate, limitRate := float64(n*b.N)/ours.Seconds(), float64(n*b.N)/limit.Seconds()
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(limitRate, "insertmany-docs/s")
			b.ReportMetric(rate/limitRate, "ratio")
			b.ReportMetric(float64(commands)/float64(batches), "commands/batch")
		})
	}
}
