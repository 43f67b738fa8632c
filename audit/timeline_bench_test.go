package audit_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// auditedRoom is the room BenchmarkVerifyRoom audits in one store.
type auditedRoom struct {
	label   string // the store's size
	auditor *audit.Auditor
	cid     string
	cmds    *storetest.CommandCounter
	took    []time.Duration
	sent    int64 // commands of the audits measured
}

// BenchmarkVerifyRoom: the per-context audit (Verify with Ct and Cid, as
// GET …/verify runs it) of a room of 1,000 events in a store that holds
// that room alone and in one of EVENTSTORE_BENCH_EVENTS (1,000,000) events
// in all, the room written among 100 others of about 10,000 events each,
// concurrently; each store in its own database on the same backend,
// audited in turns in the same run. It reports the time of an audit in
// each and time-ratio-<big>/room, the big store's time over the small
// one's (target ≤ 1.5), and database commands per audit. Fill times are in
// the log (-v).
func BenchmarkVerifyRoom(b *testing.B) {
	big := storetest.BenchEvents(b)
	const roomEvents, others = 1000, 100
	for _, backend := range storetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			// Built once: this level runs once, the measurement below as
			// often as the benchmark framework asks.
			build := func(label string, sizes []int, at int) *auditedRoom {
				cmds := &storetest.CommandCounter{}
				conn := backend.Connect(b, storetest.Options{Monitor: cmds.Monitor()})
				s := storetest.NewStore(b, conn, server, store.Options{})
				f := storetest.Populate(b, s, storetest.Fill{Sizes: sizes})
				b.Logf("%s: filled %d events in %d rooms in %v (%.0f events/s)", label, sumInts(sizes), len(sizes),
					f.Took.Round(time.Millisecond), float64(sumInts(sizes))/f.Took.Seconds())
				return &auditedRoom{label: label, auditor: audit.New(s, conn, audit.Config{}), cid: f.Rooms[at], cmds: cmds}
			}
			alone := build("room", []int{roomEvents}, 0)
			sizes := make([]int, others)
			rest := big - roomEvents
			for i := range others {
				sizes[i] = rest / others
				if i < rest%others {
					sizes[i]++
				}
			}
			// The audited room among the others, written at the same time.
			sizes = slices.Insert(sizes, others/2, roomEvents)
			among := build(storetest.SizeLabel(big), sizes, others/2)
			rooms := []*auditedRoom{alone, among}
			b.Run("events=1000", func(b *testing.B) {
				b.ReportAllocs()
				ctx := context.Background()
				verify := func(r *auditedRoom) {
					rep, err := r.auditor.Verify(ctx, audit.Options{Ct: "room", Cid: r.cid})
					if err != nil || !rep.Clean || rep.Events != roomEvents {
						b.Fatalf("%s: verify %s: %v %+v", r.label, r.cid, err, rep)
					}
				}
				for _, r := range rooms { // warm up
					r.took, r.sent = r.took[:0], 0
					verify(r)
				}
				b.ResetTimer()
				// One op: an audit in each store, in turns, the first one
				// rotating.
				for i := range b.N {
					for j := range rooms {
						r := rooms[(i+j)%len(rooms)]
						before, start := r.cmds.Count(), time.Now()
						verify(r)
						r.took = append(r.took, time.Since(start))
						r.sent += r.cmds.Count() - before
					}
				}
				b.StopTimer()
				for _, r := range rooms {
					b.ReportMetric(storetest.MeanDuration(r.took).Seconds()*1000, "ms/audit@"+r.label)
					b.ReportMetric(float64(r.sent)/float64(len(r.took)), "commands/audit@"+r.label)
				}
				b.ReportMetric(storetest.MeanDuration(among.took).Seconds()/storetest.MeanDuration(alone.took).Seconds(), "time-ratio-"+among.label+"/room")
			})
		})
	}
}

func sumInts(ns []int) int {
	t := 0
	for _, n := range ns {
		t += n
	}
	return t
}
