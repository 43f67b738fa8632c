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

	"github.com/eventstore-go/eventstore"
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
	// The same with the isLeaf flags' idle upkeep (flags.go) put off past
	// the run: what the flag versions cost when rooms go idle between
	// appends.
	{name: "rooms=20-flagdelay=1m", rooms: manyRooms, delay: time.Minute},
}

// acrossRates holds the appends/s of each shape of
// BenchmarkAppendAcrossRooms by backend and shape, for the ratios of the
// shapes measured after it in the same run.
var acrossRates sync.Map

// BenchmarkAppendAcrossRooms: 8 writers appending roomMessage to one room
// (rooms=1), then the same 8 spread over 20 rooms of one context type
// (rooms=20: append i goes to room i mod 20), each shape on a fresh store
// in a fresh database, in the same run; beside them the limit of 8
// independent single-document writes, raw InsertOne of event documents by
// 8 writers (raw-insertone), and rooms=20 again with the isLeaf upkeep put
// off (rooms=20-flagdelay=1m). Each reports appends/s, append latency (p50,
// p99), database commands (round trips) per append, in all and by command
// name, and the share of the machine's cores busy (FerretDB and SQLite run
// in this process); rooms=20 also the ratios of its appends/s to rooms=1
// (target ≥ 0.8) and to raw-insertone, measured before it in the same run.
// Run rooms=20 alone (-bench 'AcrossRooms/embedded/rooms=20$') to
// profile it.
func BenchmarkAppendAcrossRooms(b *testing.B) {
	for _, backend := range storetest.Backends() {
		for _, shape := range acrossShapes {
			b.Run(backend.Name+"/"+shape.name, func(b *testing.B) {
				b.ReportAllocs()
				var took []time.Duration
				var elapsed, cpu time.Duration
				var commands int64
				byName := map[string]int64{}
				for range b.N {
					r := appendAcross(b, backend, shape)
					took = append(took, r.took...)
					elapsed += r.elapsed
					cpu += r.cpu
					commands += r.commands
					for k, v := range r.byName {
						byName[k] += v
					}
				}
				n := float64(len(took))
				rate := n / elapsed.Seconds()
				b.ReportMetric(rate, "appends/s")
				b.ReportMetric(quantileMillis(took, 0.50), "p50-ms")
				b.ReportMetric(quantileMillis(took, 0.99), "p99-ms")
				b.ReportMetric(float64(commands)/n, "commands/append")
				b.ReportMetric(cpu.Seconds()/(elapsed.Seconds()*float64(runtime.NumCPU())), "cores-busy")
				b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/append")
				for _, name := range []string{"insert", "find", "update"} {
					b.ReportMetric(float64(byName[name])/n, name+"s/append")
				}
				b.Logf("%s, %s: %d writes in %v, commands %v", backend.Name, shape.name, len(took), elapsed.Round(time.Millisecond), byName)
				acrossRates.Store(backend.Name+"/"+shape.name, rate)
				if shape.name != "rooms=20" {
					return
				}
				for _, limit := range []string{"rooms=1", "raw-insertone"} {
					if r, ok := acrossRates.Load(backend.Name + "/" + limit); ok {
						b.ReportMetric(rate/r.(float64), "ratio-to-"+limit)
					}
				}
			})
		}
	}
}

// acrossRooms is one shape of BenchmarkAppendAcrossRooms, measured once.
type acrossRooms struct {
	took     []time.Duration // each append's latency
	elapsed  time.Duration
	cpu      time.Duration    // of this process (FerretDB and SQLite included) meanwhile
	commands int64            // sent while the appends ran (with idle upkeep)
	byName   map[string]int64 // the same by command name
}

// appendAcross writes roomAppends appends (or raw inserts) of shape with
// roomWriters writers on a fresh store.
func appendAcross(b *testing.B, backend storetest.Backend, shape acrossShape) acrossRooms {
	b.Helper()
	b.StopTimer()
	ctx := context.Background()
	counter := newNamedCounter()
	conn := backend.Connect(b, storetest.Options{Monitor: counter.monitor()})
	o := data(b, roomMessage)
	var write func(i int) error
	if shape.raw {
		if err := migrations.PrepareContextType(ctx, conn, "raw"); err != nil {
			b.Fatal(err)
		}
		raw := conn.DB.Collection(migrations.EventsCollection("raw"))
		write = func(i int) error {
			e := &eventstore.Event{ID: fmt.Sprintf("%064x", i), Pids: []string{fmt.Sprintf("%064x", i+1)}, V: 2, TS: int64(i),
				Src: server, Ct: "raw", Cid: fmt.Sprintf("r%d", i%manyRooms), T: "msg", DHash: fmt.Sprintf("%064x", i), O: o, D: o}
			_, err := raw.InsertOne(ctx, rawDoc(e))
			return err
		}
	} else {
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
		write = func(i int) error {
			_, _, err := s.Append(ctx, "room", cids[i%len(cids)], store.NewEvent{T: "msg", O: o})
			return err
		}
	}
	r := acrossRooms{took: make([]time.Duration, roomAppends)}
	before := counter.snapshot()
	b.StartTimer()
	start, cpu0 := time.Now(), storetest.ProcessCPU(os.Getpid())
	err := storetest.Concurrently(roomWriters, roomAppends, func(i int) error {
		t0 := time.Now()
		err := write(i)
		r.took[i] = time.Since(t0)
		return err
	})
	r.elapsed, r.cpu = time.Since(start), storetest.ProcessCPU(os.Getpid())-cpu0
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	after := counter.snapshot()
	r.byName = map[string]int64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			r.byName[k] = d
			r.commands += d
		}
	}
	b.StartTimer()
	return r
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
