package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// BenchmarkFsyncsPerAppend counts the fsyncs of the embedded store per
// append with a clid (as chat services send), with strace (target ≤ 1): one
// writer in one room, 8 writers over 20 rooms and over 20,000 (two
// messages a room); and, as the limit, per
// raw InsertOne of an event document into a collection of the same store
// in the same run. It reports them by file: those of SQLite's write-ahead
// log, one per committed transaction (wal-fsyncs), and the others, which
// checkpoints make when they copy the log into the database file as it
// fills, in proportion to the bytes written; and apart, those of the rooms'
// idle upkeep after the appends (upkeep-fsyncs). Tracing slows the run, so it
// reports counts, not rates. Without strace it is skipped, saying so.
func BenchmarkFsyncsPerAppend(b *testing.B) {
	for _, shape := range []struct {
		name              string
		writers, rooms, n int // n appends a round, append i to room i mod rooms
	}{
		{"writers=1/rooms=1", 1, 1, 400},
		{"writers=8/rooms=20", 8, 20, 400},
		{"writers=8/rooms=20000", 8, 20_000, 40_000}, // 2 messages a room
	} {
		n := shape.n
		b.Run("embedded/"+shape.name, func(b *testing.B) {
			ctx := context.Background()
			conn := storetest.Backend{Name: "embedded"}.Connect(b, storetest.Options{})
			s := storetest.NewStore(b, conn, server, store.Options{})
			err := storetest.Concurrently(shape.writers, shape.rooms, func(r int) error {
				_, err := s.CreateContext(ctx, "room", fmt.Sprintf("f%d", r), "", nil)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			if err := migrations.PrepareContextType(ctx, conn, "raw"); err != nil {
				b.Fatal(err)
			}
			raw := conn.DB.Collection(migrations.EventsCollection("raw"))
			o := data(b, roomMessage)
			stored := storetest.BSON(b, o)
			var ours, limit storetest.Fsyncs
			var upkeep int64
			for round := range b.N {
				got, err := storetest.CountFsyncs(func() error {
					return storetest.Concurrently(shape.writers, n, func(i int) error {
						_, _, err := s.Append(ctx, "room", fmt.Sprintf("f%d", i%shape.rooms),
							store.NewEvent{T: "msg", O: o, Clid: fmt.Sprintf("c-%d-%d", round, i)})
						return err
					})
				})
				if err != nil {
					b.Skipf("skipped: %v", err)
				}
				ours.Add(got)
				// The rooms' idle upkeep (isLeaf flags), which a server
				// does a minute after each room's last append.
				if got, err = storetest.CountFsyncs(func() error { return s.Flush(ctx) }); err != nil {
					b.Fatal(err)
				}
				upkeep += got.Total()
				got, err = storetest.CountFsyncs(func() error {
					return storetest.Concurrently(shape.writers, n, func(i int) error {
						_, err := raw.InsertOne(ctx, rawDoc(round*n+i, "bench", stored))
						return err
					})
				})
				if err != nil {
					b.Fatal(err)
				}
				limit.Add(got)
			}
			per := func(k int64) float64 { return float64(k) / float64(n*b.N) }
			b.ReportMetric(per(ours.Total()), "fsyncs/append")
			b.ReportMetric(per(ours.WAL), "wal-fsyncs/append")
			b.ReportMetric(per(ours.Other), "other-fsyncs/append")
			b.ReportMetric(per(upkeep), "upkeep-fsyncs/append")
			b.ReportMetric(per(limit.Total()), "raw-fsyncs/insert")
			b.ReportMetric(per(limit.WAL), "raw-wal-fsyncs/insert")
		})
	}
}
