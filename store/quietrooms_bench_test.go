package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// quietRooms is how many rooms BenchmarkQuietRooms fills:
// EVENTSTORE_BENCH_QUIET_ROOMS, 100,000 by default.
func quietRooms(b *testing.B) int {
	if v := os.Getenv("EVENTSTORE_BENCH_QUIET_ROOMS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("EVENTSTORE_BENCH_QUIET_ROOMS=%q: want a positive number", v)
		}
		return n
	}
	return 100_000
}

// BenchmarkQuietRooms: a store of many quiet rooms (a genesis and two
// messages each, 8 writers, as a chat service's direct messages), once
// compacted. It reports what an idle server spends on them: a compaction
// pass with nothing to fold (target < 1 s), and a restart: a new Store on
// the database with its first compaction pass, as serve runs it at start
// (target < 1 s, and no per-room work). contexts-visited says how many
// rooms each pass looked at (target 0).
func BenchmarkQuietRooms(b *testing.B) {
	rooms := quietRooms(b)
	for _, backend := range storetest.Backends() {
		b.Run(fmt.Sprintf("%s/rooms=%d", backend.Name, rooms), func(b *testing.B) {
			ctx := context.Background()
			var clk clock
			opts := store.Options{Now: clk.now, CompactAfter: store.MinCompactAfter}
			conn := backend.Connect(b, storetest.Options{})
			s := storetest.NewStore(b, conn, server, opts)
			o := data(b, roomMessage)
			start := time.Now()
			err := storetest.Concurrently(8, rooms, func(i int) error {
				cid := fmt.Sprintf("dm%d", i)
				if _, err := s.CreateContext(ctx, "room", cid, "", nil); err != nil {
					return err
				}
				for k := range 2 {
					if _, _, err := s.Append(ctx, "room", cid, store.NewEvent{T: "msg", O: o, Clid: fmt.Sprintf("c%d-%d", i, k)}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.Logf("filled %d rooms in %s", rooms, time.Since(start).Round(time.Second))
			clk.advance(store.MinCompactAfter + time.Minute)
			start = time.Now()
			first, err := store.Compact(ctx, s)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("first compaction: %+v in %s", first, time.Since(start).Round(time.Millisecond))

			// The timer keeps running: the fill takes longer than any
			// -benchtime, so b.N stays 1 and the store is filled once.
			var idle, restart time.Duration
			visited := 0
			for range 3 { // three passes and restarts: b.N is 1
				t0 := time.Now()
				st, err := store.Compact(ctx, s)
				if err != nil {
					b.Fatal(err)
				}
				idle += time.Since(t0)
				visited += st.Contexts

				t0 = time.Now()
				again := storetest.NewStore(b, backend.Connect(b, storetest.Options{Database: conn.DB.Name()}), server, opts)
				st, err = store.Compact(ctx, again)
				if err != nil {
					b.Fatal(err)
				}
				restart += time.Since(t0)
				visited += st.Contexts
			}
			b.ReportMetric(idle.Seconds()/3, "idle-pass-s")
			b.ReportMetric(restart.Seconds()/3, "restart-s")
			b.ReportMetric(float64(visited)/3, "contexts-visited")
		})
	}
}
