package federation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
)

// BenchmarkCatchUp: a room of 10,000 events on A is shared with B, which
// fetches it all; beside it, raw InsertMany of the same event documents
// (in batches of 99, as B writes them) into B's backend, in the same run
// (target ≥ 0.5); and A's history read alone, which bounds catch-up from
// the sending side.
func BenchmarkCatchUp(b *testing.B) {
	const n = 10_000
	for range b.N {
		b.StopTimer()
		nodes := startNodes(b, "a.test", "b.test")
		a, bb := nodes["a.test"], nodes["b.test"]
		ctx := context.Background()
		g, err := a.st.CreateContext(ctx, "room", "big", "", nil)
		if err != nil {
			b.Fatal(err)
		}
		// Fill A with its own events (signed by A), fast, through ingest.
		last := g
		for stored := 1; stored < n; {
			var batch []*eventstore.Event
			for range min(99, n-stored) {
				e := event(b, a.keys.Current, "a.test", "room", "big", []string{last.ID}, last.TS+1, `{"msg":"Are we still on for the release review at 3pm? I pushed the last fixes","u":{"_id":"u1","username":"alice"}}`)
				batch = append(batch, e)
				last = e
			}
			if _, err := a.st.IngestFrom(ctx, "", batch); err != nil {
				b.Fatal(err)
			}
			stored += len(batch)
		}
		// The limit: raw InsertMany into B's backend of the very documents
		// A stores for these events, in batches of 99 as B writes them.
		cur, err := a.conn.DB.Collection(migrations.EventsCollection("room")).Find(ctx, migrations.EventsOf("big"))
		if err != nil {
			b.Fatal(err)
		}
		var docs []bson.Raw
		if err := cur.All(ctx, &docs); err != nil || len(docs) != n {
			b.Fatalf("A's documents: %d, %v", len(docs), err)
		}
		if err := migrations.PrepareContextType(ctx, bb.conn, "raw"); err != nil {
			b.Fatal(err)
		}
		raw := bb.conn.DB.Collection(migrations.EventsCollection("raw"))
		start := time.Now()
		for i := 0; i < n; i += 99 {
			if _, err := raw.InsertMany(ctx, docs[i:min(i+99, n)]); err != nil {
				b.Fatal(err)
			}
		}
		limit := float64(n) / time.Since(start).Seconds()
		// What bounds catch-up from the sending side: A reading the room's
		// history alone (on the embedded store a cursor scan that competes
		// with B's inserts for the same cores).
		start = time.Now()
		read := 0
		if err := a.st.History(ctx, "room", "big", func(*eventstore.Event) error { read++; return nil }); err != nil || read != n {
			b.Fatalf("history: %d events, %v", read, err)
		}
		readRate := float64(n) / time.Since(start).Seconds()
		b.StartTimer()
		start = time.Now()
		a.must("POST", "/api/v1/contexts/room/big/servers", `{"server":"b.test"}`, http.StatusCreated)
		for {
			sum, err := bb.st.Summary(ctx, "room", "big")
			if err == nil && sum.Count >= n+1 {
				break
			}
			if time.Since(start) > 10*time.Minute {
				b.Fatal("B did not catch up in 10 minutes")
			}
			time.Sleep(20 * time.Millisecond)
		}
		rate := float64(n) / time.Since(start).Seconds()
		b.StopTimer()
		b.ReportMetric(rate, "events/s")
		b.ReportMetric(limit, "insertmany-docs/s")
		b.ReportMetric(readRate, "history-read-events/s")
		b.ReportMetric(rate/limit, "ratio")
		for _, nd := range nodes {
			nd.stop()
		}
	}
}

// BenchmarkPropagation: A appends 100 events a second; the time from A's
// answer to B storing each event, p50 and p99 (targets < 50 ms, < 500 ms).
func BenchmarkPropagation(b *testing.B) {
	for range b.N {
		b.StopTimer()
		nodes := startNodes(b, "a.test", "b.test")
		a, bb := nodes["a.test"], nodes["b.test"]
		a.must("POST", "/api/v1/contexts/room/live", `{}`, http.StatusCreated)
		share(b, a, "room", "live", bb)
		var mu sync.Mutex
		arrived := map[string]time.Time{}
		hook := func(events []*eventstore.Event) {
			now := time.Now()
			mu.Lock()
			for _, e := range events {
				arrived[e.ID] = now
			}
			mu.Unlock()
		}
		bb.committed.Store(&hook)
		const count, rate = 500, 100
		sent := map[string]time.Time{}
		tick := time.NewTicker(time.Second / rate)
		b.StartTimer()
		for i := range count {
			<-tick.C
			e, _, err := a.st.Append(context.Background(), "room", "live", store.NewEvent{T: "msg", O: mustData(b, fmt.Sprintf(`{"n":%d}`, i))})
			if err != nil {
				b.Fatal(err)
			}
			sent[e.ID] = time.Now()
		}
		tick.Stop()
		deadline := time.Now().Add(30 * time.Second)
		var lat []time.Duration
		for {
			mu.Lock()
			lat = lat[:0]
			for id, at := range sent {
				if got, ok := arrived[id]; ok {
					lat = append(lat, max(got.Sub(at), 0))
				}
			}
			mu.Unlock()
			if len(lat) == count || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.StopTimer()
		if len(lat) != count {
			b.Fatalf("%d of %d events arrived", len(lat), count)
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		for _, nd := range nodes {
			nd.stop()
		}
	}
}

func mustData(tb testing.TB, js string) json.RawMessage {
	o, err := eventstore.ParseData([]byte(js))
	if err != nil {
		tb.Fatal(err)
	}
	return o
}
