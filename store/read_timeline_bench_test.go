package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// pageStore is one store of BenchmarkLatestPage and the room it reads.
type pageStore struct {
	label  string // its size: 1k, 100k, 1M
	s      *store.Store
	cid    string
	newest string // the id of the room's newest event
	took   []time.Duration
	cmds   *storetest.CommandCounter
	sent   int64 // commands of the pages measured
	seq    int64 // the room's head versions (with those that only move isLeaf flags)
}

// BenchmarkLatestPage: the newest page of 50 of one room (List, Dir
// Backward, Limit 50: what a client opening a room reads) in stores of
// 1,000, 100,000 and EVENTSTORE_BENCH_EVENTS (1,000,000) events, each in
// its own database on the same backend, read in turns in the same run.
// Rooms hold 1,000 events up to 100 rooms; past 100,000 events there are
// 100 rooms, 99 of them growing (10,091 events each at 1M), read as <big>,
// and one of 1,000 events, read as <big>-room1k (the store's size alone).
// It reports the time of a page at each size and time-ratio-<size>/1k, a
// store's mean time per page over the 1k store's (target ≤ 1.2 at 1M),
// the database commands (round trips) per page, and the head versions of
// the room read; how long each store took to fill is in the log (-v).
func BenchmarkLatestPage(b *testing.B) {
	sizes := storetest.BenchSizes(b)
	for _, backend := range storetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			// Built once: this level runs once, the measurement below as
			// often as the benchmark framework asks.
			var stores []*pageStore
			for _, n := range sizes {
				cmds := &storetest.CommandCounter{}
				conn := backend.Connect(b, storetest.Options{Monitor: cmds.Monitor()})
				s := storetest.NewStore(b, conn, server, store.Options{})
				// Rooms of 1,000 events up to 100 of them; past that, 100
				// rooms: 99 share the rest and one keeps 1,000 events, read
				// too, to tell the store's size from the room's.
				sizes, read := slices.Repeat([]int{1000}, max(1, n/1000)), []int{n / 2000}
				if n > 100_000 {
					sizes = make([]int, 99)
					for i := range sizes {
						sizes[i] = (n - 1000) / 99
						if i < (n-1000)%99 {
							sizes[i]++
						}
					}
					sizes = slices.Insert(sizes, 50, 1000)
					read = []int{49, 50}
				}
				f := storetest.Populate(b, s, storetest.Fill{Sizes: sizes})
				b.Logf("filled %d events in %d rooms in %v (%.0f events/s)", n, len(sizes), f.Took.Round(time.Millisecond), float64(n)/f.Took.Seconds())
				for _, r := range read {
					label := storetest.SizeLabel(n)
					if n > 100_000 && f.Counts[r] == 1000 {
						label += "-room1k"
					}
					v, err := s.LatestVersion(context.Background(), "room", f.Rooms[r], 0)
					if err != nil {
						b.Fatal(err)
					}
					stores = append(stores, &pageStore{label: label, s: s, cid: f.Rooms[r], newest: f.Last[r].ID, cmds: cmds, seq: v.Seq})
				}
			}
			b.Run("page=50", func(b *testing.B) {
				b.ReportAllocs()
				ctx := context.Background()
				page := func(ps *pageStore) error {
					p, err := ps.s.List(ctx, "room", ps.cid, store.ListQuery{Backward: true, Limit: 50})
					if err != nil {
						return err
					}
					if len(p.Events) != 50 || p.Events[0].ID != ps.newest || p.Next == nil {
						return fmt.Errorf("%s: the newest page has %d events, newest %s, want 50 from %s", ps.label, len(p.Events), p.Events[0].ID, ps.newest)
					}
					return nil
				}
				for _, ps := range stores { // warm up: the first reads of a database open it
					ps.took, ps.sent = ps.took[:0], 0
					for range 5 {
						if err := page(ps); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ResetTimer()
				// One op: a page of each store, in turns, the first one
				// rotating, so that each size sees the same machine.
				for i := range b.N {
					for j := range stores {
						ps := stores[(i+j)%len(stores)]
						before, start := ps.cmds.Count(), time.Now()
						if err := page(ps); err != nil {
							b.Fatal(err)
						}
						ps.took = append(ps.took, time.Since(start))
						ps.sent += ps.cmds.Count() - before
					}
				}
				b.StopTimer()
				small := storetest.MeanDuration(stores[0].took)
				for _, ps := range stores {
					b.ReportMetric(millis(storetest.MeanDuration(ps.took)), "ms/page@"+ps.label)
					b.ReportMetric(millis(medianDuration(ps.took)), "p50-ms/page@"+ps.label)
					b.ReportMetric(float64(ps.sent)/float64(len(ps.took)), "commands/page@"+ps.label)
					b.ReportMetric(float64(ps.seq), "versions@"+ps.label)
				}
				for _, ps := range stores[1:] {
					b.ReportMetric(storetest.MeanDuration(ps.took).Seconds()/small.Seconds(), "time-ratio-"+ps.label+"/"+stores[0].label)
				}
			})
		})
	}
}

func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func millis(d time.Duration) float64 { return d.Seconds() * 1000 }
