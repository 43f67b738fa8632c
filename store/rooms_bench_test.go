package store_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// roomMessage is benchMessage trimmed to a 120-byte chat message (123
// bytes of BSON as o).
const roomMessage = `{"msg":"Still on for the release review at 3pm? Fixes are pushed","u":{"_id":"u1","username":"alice"},"groupable":false}`

const (
	roomWriters = 8     // appending at once
	roomAppends = 2_000 // per shape and op
	manyRooms   = 20
)

// acrossShape is one shape of BenchmarkAppendAcrossRooms.
type acrossShape struct {
	name  string
	rooms int           // appends go to rooms r0 … r<rooms-1>, append i to room i mod rooms
	delay time.Duration // store.Options.LeafFlagDelay; 0: the default
	raw   bool          // raw InsertOne of event documents instead of appends: the limit
}

var acrossShapes = []acrossShape{
	{name: "rooms=1", rooms: 1},
	{name: "raw-insertone", raw: true},
	{name: "rooms=20", rooms: manyRooms},
	// The same with the isLeaf flags' idle upkeep (complete_flags.go) put off past
	// the run: what the flag versions cost when rooms go idle between
	// appends.
	{name: "rooms=20-flagdelay=1m", rooms: manyRooms, delay: time.Minute},
}

// acrossBlocks: the shapes take turns, a block of appends each, until each
// has done roomAppends, so that the machine's drift (fsync latency varies
// by the second here) falls on every shape alike. A shape's rate is also
// taken as the median of its blocks' rates: one stall of the disk (tens of
// ms, at random) moves a whole run's rate by a third, and the ratio with
// it, but not the median.
const acrossBlocks = 16

// BenchmarkAppendAcrossRooms: 8 writers appending roomMessage to one room
// (rooms=1), the same 8 spread over 20 rooms of one context type (rooms=20:
// append i goes to room i mod 20), each shape on a fresh store in a fresh
// database; beside them the limit of 8 independent single-document writes,
// raw InsertOne of event documents by 8 writers (raw-insertone), and
// rooms=20 again with the isLeaf upkeep put off (rooms=20-flagdelay=1m).
// The shapes are measured once, together, taking turns in blocks
// (acrossBlocks); each sub-benchmark reports its shape: appends/s, append
// latency (p50, p99), database commands (round trips) per append, in all
// and by command name, and the share of the machine's cores busy (FerretDB
// and SQLite run in this process); rooms=20 also the ratios of its
// appends/s to rooms=1 (target ≥ 0.8) and to raw-insertone. To profile
// one shape, see appendAcross.
func BenchmarkAppendAcrossRooms(b *testing.B) {
	for _, backend := range storetest.Backends() {
		var results map[string]acrossRooms
		for _, shape := range acrossShapes {
			b.Run(backend.Name+"/"+shape.name, func(b *testing.B) {
				if results == nil {
					results = measureAcross(b, backend)
				}
				r := results[shape.name]
				n := float64(len(r.took))
				b.ReportMetric(float64(r.elapsed.Nanoseconds())/n, "ns/op")
				b.ReportMetric(n/r.elapsed.Seconds(), "appends/s")
				b.ReportMetric(r.medianRate(), "median-block-appends/s")
				b.ReportMetric(quantileMillis(r.took, 0.50), "p50-ms")
				b.ReportMetric(quantileMillis(r.took, 0.99), "p99-ms")
				b.ReportMetric(float64(r.commands)/n, "commands/append")
				b.ReportMetric(r.cpu.Seconds()/(r.elapsed.Seconds()*float64(runtime.NumCPU())), "cores-busy")
				b.ReportMetric(float64(r.cpu.Microseconds())/n, "cpu-µs/append")
				for _, name := range []string{"insert", "find", "update"} {
					b.ReportMetric(float64(r.byName[name])/n, name+"s/append")
				}
				b.Logf("%s, %s: %d writes in %v, commands %v", backend.Name, shape.name, len(r.took), r.elapsed.Round(time.Millisecond), r.byName)
				if shape.name != "rooms=20" {
					return
				}
				for _, limit := range []string{"rooms=1", "raw-insertone"} {
					l := results[limit]
					b.ReportMetric(r.medianRate()/l.medianRate(), "ratio-to-"+limit)
					b.ReportMetric(n/r.elapsed.Seconds()/(float64(len(l.took))/l.elapsed.Seconds()), "whole-run-ratio-to-"+limit)
				}
			})
		}
	}
}

// acrossRooms is one shape of BenchmarkAppendAcrossRooms, measured.
type acrossRooms struct {
	took     []time.Duration // each append's latency
	elapsed  time.Duration
	blocks   []float64        // each block's appends/s
	cpu      time.Duration    // of this process (FerretDB and SQLite included) meanwhile
	commands int64            // sent while the appends ran (with idle upkeep)
	byName   map[string]int64 // the same by command name
}

// medianRate is the median of r's block rates.
func (r acrossRooms) medianRate() float64 {
	s := slices.Clone(r.blocks)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}

// measureAcross measures every shape of acrossShapes, taking turns.
func measureAcross(b *testing.B, backend storetest.Backend) map[string]acrossRooms {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	type turn struct {
		write   func(i int) error
		counter *namedCounter
		r       acrossRooms
		done    int
	}
	turns := make([]*turn, len(acrossShapes))
	for k, shape := range acrossShapes {
		t := &turn{counter: newNamedCounter(), r: acrossRooms{took: make([]time.Duration, roomAppends), byName: map[string]int64{}}}
		t.write = appendAcross(b, backend, shape, t.counter)
		turns[k] = t
	}
	block := roomAppends / acrossBlocks
	for range acrossBlocks {
		for _, t := range turns {
			before, first := t.counter.snapshot(), t.done
			start, cpu0 := time.Now(), storetest.ProcessCPU(os.Getpid())
			err := storetest.Concurrently(roomWriters, block, func(i int) error {
				t0 := time.Now()
				err := t.write(first + i)
				t.r.took[first+i] = time.Since(t0)
				return err
			})
			took := time.Since(start)
			t.r.elapsed += took
			t.r.blocks = append(t.r.blocks, float64(block)/took.Seconds())
			t.r.cpu += storetest.ProcessCPU(os.Getpid()) - cpu0
			if err != nil {
				b.Fatal(err)
			}
			t.done += block
			for k, v := range t.counter.snapshot() {
				if d := v - before[k]; d > 0 {
					t.r.byName[k] += d
					t.r.commands += d
				}
			}
		}
	}
	out := map[string]acrossRooms{}
	for k, t := range turns {
		t.r.took = t.r.took[:t.done]
		out[acrossShapes[k].name] = t.r
	}
	return out
}

// appendAcross makes the write of shape on a fresh store, counting its
// commands with counter: write(i) is its i-th append (or raw insert). To
// profile rooms=20 alone, leave only it in acrossShapes.
func appendAcross(b *testing.B, backend storetest.Backend, shape acrossShape, counter *namedCounter) (write func(i int) error) {
	b.Helper()
	ctx := context.Background()
	conn := backend.Connect(b, storetest.Options{Monitor: counter.monitor()})
	o := data(b, roomMessage)
	if shape.raw {
		stored := storetest.BSON(b, o)
		if err := migrations.PrepareContextType(ctx, conn, "raw"); err != nil {
			b.Fatal(err)
		}
		raw := conn.DB.Collection(migrations.EventsCollection("raw"))
		return func(i int) error {
			_, err := raw.InsertOne(ctx, rawDoc(i, fmt.Sprintf("r%d", i%manyRooms), stored))
			return err
		}
	}
	s := storetest.NewStore(b, conn, server, store.Options{LeafFlagDelay: shape.delay})
	cids := make([]string, shape.rooms)
	for i := range cids {
		cids[i] = fmt.Sprintf("r%d", i)
		if _, err := s.CreateContext(ctx, "room", cids[i], "", nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	return func(i int) error {
		_, _, err := s.Append(ctx, "room", cids[i%len(cids)], store.NewEvent{T: "msg", O: o})
		return err
	}
}

// namedCounter counts the commands a client sends, by name.
type namedCounter struct {
	mu sync.Mutex
	n  map[string]int64
}

func newNamedCounter() *namedCounter { return &namedCounter{n: map[string]int64{}} }

func (c *namedCounter) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		c.mu.Lock()
		c.n[e.CommandName]++
		c.mu.Unlock()
	}}
}

func (c *namedCounter) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// quantileMillis is the p-quantile of ds in milliseconds (nearest rank).
func quantileMillis(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return millis(s[max(int(math.Ceil(p*float64(len(s))))-1, 0)])
}
