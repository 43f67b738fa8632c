package audit_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// benchMessage is the chat message of the store's benchmarks.
const benchMessage = `{"msg":"Are we still on for the release review at 3pm? I pushed the last fixes","u":{"_id":"u1","username":"alice","name":"Alice Liddell"},"mentions":[],"groupable":false}`

// BenchmarkVerify: a full audit of 20,000 events, every signature verified
// (Ed25519, on all cores) and d checked, beside a plain cursor scan of the
// same collection, in the same run (target: at least 0.7 of the scan's
// rate). The events are the peer's, signed by its pinned key.
func BenchmarkVerify(b *testing.B) {
	for _, backend := range storetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			ctx := context.Background()
			conn := backend.Connect(b, storetest.Options{})
			s := signingStore(b, conn)
			o := data(b, benchMessage)
			const n = 20_000
			last := remoteEvent(b, "b.example", "room", "audit", "room", 1_000_000, nil, o)
			if _, err := s.IngestFrom(ctx, "", []*eventstore.Event{last}); err != nil {
				b.Fatal(err)
			}
			for stored := 1; stored < n; {
				var batch []*eventstore.Event
				for range min(99, n-stored) {
					e := remoteEvent(b, "b.example", "room", "audit", "msg", last.TS+1, []string{last.ID}, o)
					batch = append(batch, e)
					last = e
				}
				if _, err := s.IngestFrom(ctx, "", batch); err != nil {
					b.Fatal(err)
				}
				stored += len(batch)
			}
			if err := s.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			coll := conn.DB.Collection(migrations.EventsCollection("room"))
			auditor := audit.New(s, conn, signedConfig(conn))
			var tScan, tVerify time.Duration
			var docs int64
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				cur, err := coll.Find(ctx, bson.D{})
				if err != nil {
					b.Fatal(err)
				}
				docs = 0
				for cur.Next(ctx) {
					docs++
				}
				cur.Close(ctx)
				tScan += time.Since(start)
				start = time.Now()
				rep, err := auditor.Verify(ctx, audit.Options{})
				if err != nil || !rep.Clean || rep.Events != n {
					b.Fatalf("verify: %v %+v", err, rep)
				}
				tVerify += time.Since(start)
			}
			scanRate := float64(docs*int64(b.N)) / tScan.Seconds()
			verifyRate := float64(n*b.N) / tVerify.Seconds()
			b.ReportMetric(verifyRate, "events/s")
			b.ReportMetric(scanRate, "scan-docs/s")
			b.ReportMetric(verifyRate/scanRate, "ratio")
		})
	}
}
