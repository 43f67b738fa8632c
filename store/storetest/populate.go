package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/store"
)

// ChatMessage is the chat message of the benchmarks, as JSON.
const ChatMessage = `{"msg":"Are we still on for the release review at 3pm? I pushed the last fixes","u":{"_id":"u1","username":"alice","name":"Alice Liddell"},"mentions":[],"groupable":false}`

// Fill says what Populate writes: Events events in all, spread evenly over
// Rooms contexts Ct/Prefix0, Ct/Prefix1, … (the first Events%Rooms rooms
// get one more), each a chain — a genesis of type room, then messages —
// as a server Src created them.
type Fill struct {
	Ct      string          // "room" when ""
	Prefix  string          // "r" when ""
	Rooms   int             // 1 when 0
	Events  int             // in all
	Sizes   []int           // the events of each room, if set: instead of Rooms and Events
	Src     string          // "b.example" when ""
	O       json.RawMessage // the data of every event; ChatMessage when nil
	Writers int             // rooms written at once; 4 × GOMAXPROCS when 0
}

// BenchEventsVariable names the environment variable that sets the size
// of the big store of the timeline benchmarks (1,000,000 events when unset).
const BenchEventsVariable = "EVENTSTORE_BENCH_EVENTS"

// BenchEvents is the size of the big store of the timeline benchmarks: the
// value of EVENTSTORE_BENCH_EVENTS, at least 1,000; 1,000,000 when unset.
func BenchEvents(tb testing.TB) int {
	tb.Helper()
	v := os.Getenv(BenchEventsVariable)
	if v == "" {
		return 1_000_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1000 {
		tb.Fatalf("%s=%q: want a number of events, at least 1000", BenchEventsVariable, v)
	}
	return n
}

// BenchSizes are the store sizes of the benchmarks that measure how a
// cost grows: 1,000, 100,000 and BenchEvents, those below it only.
func BenchSizes(tb testing.TB) []int {
	tb.Helper()
	big := BenchEvents(tb)
	sizes := []int{1000}
	if big > 100_000 {
		sizes = append(sizes, 100_000)
	}
	if big > 1000 {
		sizes = append(sizes, big)
	}
	return sizes
}

// SizeLabel writes a number of events as a metric label: 1k, 100k, 1M.
func SizeLabel(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

// Filled is what Populate wrote.
type Filled struct {
	Ct     string
	Rooms  []string            // the rooms' ids, in Fill order
	Counts []int               // events in each room
	Last   []*eventstore.Event // the newest event of each room
	Took   time.Duration       // writing and flushing
}

// Populate fills s with f's events through the store's own write path:
// IngestFrom of remote events in batches of store.MaxBatchEvents (one head
// version each), several rooms at once, then Flush. The data is what
// federated events make: head versions, positions, commit log entries,
// isLeaf flags. It fails tb if any event is not stored.
func Populate(tb testing.TB, s *store.Store, f Fill) *Filled {
	tb.Helper()
	if f.Ct == "" {
		f.Ct = "room"
	}
	if f.Prefix == "" {
		f.Prefix = "r"
	}
	if len(f.Sizes) > 0 {
		f.Rooms, f.Events = len(f.Sizes), 0
		for _, n := range f.Sizes {
			f.Events += n
		}
	}
	if f.Rooms <= 0 {
		f.Rooms = 1
	}
	if f.Src == "" {
		f.Src = "b.example"
	}
	if f.O == nil {
		f.O = Data(tb, ChatMessage)
	}
	if f.Writers <= 0 {
		f.Writers = 4 * runtime.GOMAXPROCS(0)
	}
	canonical, err := eventstore.ParseData(f.O)
	if err != nil {
		tb.Fatal(err)
	}
	out := &Filled{Ct: f.Ct, Rooms: make([]string, f.Rooms), Counts: make([]int, f.Rooms), Last: make([]*eventstore.Event, f.Rooms)}
	for i := range f.Rooms {
		out.Rooms[i] = fmt.Sprintf("%s%d", f.Prefix, i)
		switch {
		case len(f.Sizes) > 0:
			out.Counts[i] = f.Sizes[i]
		default:
			out.Counts[i] = f.Events / f.Rooms
			if i < f.Events%f.Rooms {
				out.Counts[i]++
			}
		}
	}
	ctx := context.Background()
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(f.Writers)
	for i := range f.Rooms {
		g.Go(func() error {
			last, err := fillRoom(gctx, s, f, canonical, out.Rooms[i], out.Counts[i])
			out.Last[i] = last
			return err
		})
	}
	if err := g.Wait(); err != nil {
		tb.Fatalf("populating %d events in %d rooms: %v", f.Events, f.Rooms, err)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := s.Flush(fctx); err != nil {
		tb.Fatal(err)
	}
	out.Took = time.Since(start)
	return out
}

// fillRoom writes one room's chain of n events; it returns the newest.
func fillRoom(ctx context.Context, s *store.Store, f Fill, canonical []byte, cid string, n int) (*eventstore.Event, error) {
	var last *eventstore.Event
	const base = 1_700_000_000_000 // ts of each genesis, ms; each next event 1 ms later
	batch := make([]*eventstore.Event, 0, store.MaxBatchEvents)
	for stored := 0; stored < n; {
		batch = batch[:0]
		for range min(store.MaxBatchEvents, n-stored) {
			var e *eventstore.Event
			if last == nil {
				e = chainEvent(f, cid, "room", base, nil, canonical)
			} else {
				e = chainEvent(f, cid, "msg", last.TS+1, []string{last.ID}, canonical)
			}
			batch = append(batch, e)
			last = e
		}
		res, err := s.IngestFrom(ctx, "", batch)
		if err != nil {
			return nil, err
		}
		for _, r := range res {
			if r.Status != store.Stored {
				return nil, fmt.Errorf("%s/%s: event %s %s: %v (missing %v)", f.Ct, cid, r.ID, r.Status, r.Err, r.Missing)
			}
		}
		stored += len(batch)
	}
	return last, nil
}

// chainEvent is an event of server f.Src with one parent (none for a
// genesis), as RemoteEvent builds it, from o's canonical JSON.
func chainEvent(f Fill, cid, typ string, ts int64, pids []string, canonical []byte) *eventstore.Event {
	if pids == nil {
		pids = []string{}
	}
	e := &eventstore.Event{Pids: pids, V: eventstore.SchemaVersion, TS: ts, Src: f.Src, Ct: f.Ct, Cid: cid, T: typ, O: f.O, D: f.O}
	e.DHash, e.ID = hashing.ID(e.Head(), canonical)
	return e
}

// MeanDuration is the mean of ds (0 for none), for benchmarks that report
// their own timings.
func MeanDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}
