package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/eventstore-go/eventstore/api"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
	"github.com/eventstore-go/eventstore/stream"
)

// The chat-shaped load of the issue on client ids: a chat service sends a
// clid with every message (as Matrix clients send a txnId) over many
// rooms, most of them quiet. BenchmarkChatShapes measures it over HTTP
// beside Dendrite's figures for the same shapes.

// chatShape is one load of BenchmarkChatShapes.
type chatShape struct {
	name           string
	writers, rooms int
	perRoom        int     // appends per room; 0: chatAppends in all
	noClid         bool    // appends without a clid (the limit of the clid ratio)
	floor          bool    // no store: a handler answering a canned append answer (the HTTP floor)
	dendrite       float64 // Dendrite's messages/s in this shape; 0: none
}

// Dendrite 0.15.2 on SQLite, measured in the issue on this kind of 2-core
// machine with the same Go client and a Matrix txnId on every message (it
// cannot run here). It was not measured over 10,000 rooms or more: those
// shapes are held to its 20-room figure, 88/s. The shape without clid is held to the
// same 88/s, since Dendrite was measured with a txnId only.
var chatShapes = []chatShape{
	{name: "writers=1/rooms=1", writers: 1, rooms: 1, dendrite: 119},
	{name: "writers=8/rooms=1", writers: 8, rooms: 1, dendrite: 71},
	{name: "writers=8/rooms=8", writers: 8, rooms: 8, dendrite: 86},
	{name: "writers=8/rooms=20", writers: 8, rooms: 20, dendrite: 88},
	{name: "writers=8/rooms=20/no-clid", writers: 8, rooms: 20, noClid: true, dendrite: 88},
	{name: "writers=8/rooms=10000", writers: 8, rooms: 10_000, perRoom: 2, dendrite: 88},
	{name: "writers=8/rooms=20000", writers: 8, rooms: 20_000, perRoom: 2, dendrite: 88},
	{name: "writers=8/rooms=100000", writers: 8, rooms: 100_000, perRoom: 2, dendrite: 88},
	{name: "http-floor", writers: 8, rooms: 20, perRoom: 2_000, floor: true}, // 40,000: enough CPU ticks to count
}

const (
	chatAppends = 4_000 // per shape, unless perRoom says otherwise
	// chatBlocks: the shapes take turns, a block of appends each, and a
	// shape's rate is the median of its blocks' rates, as in the store's
	// BenchmarkAppendAcrossRooms: this machine's disk stalls for tens of
	// milliseconds at random, which moves a whole run's rate (and a ratio
	// taken from two runs) by a third, but not the median of blocks.
	chatBlocks = 16
	// chatShapesEnv, when set, names the shapes to measure (comma
	// separated, as in chatShapes); the others are skipped. E.g. for a
	// profile of one shape's appends: chatProfileEnv.
	chatShapesEnv = "EVENTSTORE_BENCH_CHAT_SHAPES"
	// chatProfileEnv, when set, is a file to write a CPU profile to, of the
	// blocks alone (from the first block's start to the last block's end,
	// every measured shape's appends and upkeep, no setup); use it with
	// chatShapesEnv naming one shape. -cpuprofile takes in the setup too,
	// which for 20,000 rooms is most of the run.
	chatProfileEnv = "EVENTSTORE_BENCH_CHAT_PROFILE"
)

// BenchmarkChatShapes: a chat service's loads over HTTP, a clid on every
// append, as a new user would try them: each shape on a fresh embedded
// store (a fresh database) with its own server, one keep-alive connection
// per writer, 120-byte messages, message i to room i mod rooms, rooms
// created first (not timed). The shapes: 1 writer in 1 room; 8 writers in
// 1, 8, 20, 10,000, 20,000 and 100,000 rooms (2 messages per room in the
// last three);
// 8 writers in 20 rooms without clid, for the clid ratio; and the HTTP
// floor, the same client and net/http against a handler that answers a
// canned append answer without storing anything (what the HTTP layer and
// the client cost).
//
// The shapes are measured once, together, taking turns in chatBlocks
// blocks (the first shape of each round moving on by one), and each
// sub-benchmark reports its shape:
//   - appends/s: the median of its blocks' rates, each without the block's
//     drain (see chatLoad.block); whole-run-appends/s, drains included;
//   - p50 and p99 latency;
//   - cpu-µs/append: the process's CPU while the shape's blocks ran, over
//     its appends: the server, embedded FerretDB and SQLite, and the load
//     client too, since all run in this process (the http-floor shape says
//     how much of it is net/http and the client); cores-busy, its share of
//     the machine's cores;
//   - commands/append: the database commands the store sent during the
//     blocks (and inserts, finds and updates apart; FerretDB turning them
//     into SQLite is most of the CPU);
//   - upkeep-cpu-µs/append, upkeep-commands/append: the rooms' idle upkeep
//     (their isLeaf flags), done once the shape's blocks are over (see
//     below), and whatever else was left to settle after a block;
//   - x-dendrite: the multiple of Dendrite's figure (the aim is ≥ 10 in
//     every shape).
//
// In the same run, rooms=20 reports ratio-clid-to-no-clid (its rate over
// the no-clid shape's; target ≥ 0.9) and the shapes of 10,000 rooms and
// more ratio-to-rooms=20 (over the clid shape in 20 rooms; target ≥ 0.8).
//
// An append writes no isLeaf flag; a room's flags are written once it has
// been idle for a minute (the store's default LeafFlagDelay). Here that
// upkeep is done after each shape's last block (chatLoad.settle, Flush),
// outside the blocks' time, its CPU reported apart
// (upkeep-cpu-µs/append), so that one shape's upkeep does not fall into
// another shape's block; a room's appends in a shape are all less than a
// minute apart, so a server would coalesce them into one upkeep too.
// whole-run-appends/s does not include it; add upkeep-cpu-µs/append to
// cpu-µs/append for all that an append costs.
//
// The whole set takes 4–5 minutes here, most of it the 20,000-room shape:
// a minute to create its rooms, then its 40,000 appends. To profile one
// shape's appends, see chatProfileEnv.
func BenchmarkChatShapes(b *testing.B) {
	selected := chatShapes
	if names := os.Getenv(chatShapesEnv); names != "" {
		want := strings.Split(names, ",")
		selected = slices.DeleteFunc(slices.Clone(chatShapes), func(s chatShape) bool { return !slices.Contains(want, s.name) })
		if len(selected) == 0 {
			b.Fatalf("%s=%q names no shape", chatShapesEnv, names)
		}
	}
	for _, backend := range storetest.Backends() {
		var results map[string]*chatRun
		for _, shape := range chatShapes {
			b.Run(backend.Name+"/"+shape.name, func(b *testing.B) {
				if !slices.ContainsFunc(selected, func(s chatShape) bool { return s.name == shape.name }) {
					b.Skipf("not in %s", chatShapesEnv)
				}
				if results == nil {
					results = measureChat(b, backend, selected)
				}
				r := results[shape.name]
				n := float64(len(r.took))
				rate := r.medianRate()
				b.ReportMetric(float64(r.elapsed.Nanoseconds())/n, "ns/op")
				b.ReportMetric(rate, "appends/s")
				b.ReportMetric(n/r.elapsed.Seconds(), "whole-run-appends/s")
				b.ReportMetric(quantileMs(r.took, 0.50), "p50-ms")
				b.ReportMetric(quantileMs(r.took, 0.99), "p99-ms")
				b.ReportMetric(float64(r.cpu.Microseconds())/n, "cpu-µs/append")
				b.ReportMetric(float64(r.upkeep.Microseconds())/n, "upkeep-cpu-µs/append")
				b.ReportMetric(r.cpu.Seconds()/(r.elapsed.Seconds()*float64(runtime.NumCPU())), "cores-busy")
				if !shape.floor {
					var all int64
					for name, c := range r.commands {
						all += c
						if name == "insert" || name == "find" || name == "update" {
							b.ReportMetric(float64(c)/n, name+"s/append")
						}
					}
					b.ReportMetric(float64(all)/n, "commands/append")
					b.ReportMetric(float64(r.upkeepCommands)/n, "upkeep-commands/append")
				}
				if shape.dendrite > 0 {
					b.ReportMetric(rate/shape.dendrite, "x-dendrite")
				}
				b.Logf("%s, %s: %d appends in %v (%.0f/s, blocks %.0f … %.0f/s), setup %v, upkeep after the blocks %v, commands %v",
					backend.Name, shape.name, len(r.took), r.elapsed.Round(time.Millisecond), rate,
					slices.Min(r.blocks), slices.Max(r.blocks), r.setup.Round(time.Millisecond), r.upkeepTime.Round(time.Millisecond), r.commands)
				ratio := func(limit, unit string) {
					if l := results[limit]; l != nil {
						b.ReportMetric(rate/l.medianRate(), unit)
						b.ReportMetric(n/r.elapsed.Seconds()/(float64(len(l.took))/l.elapsed.Seconds()), "whole-run-"+unit)
					}
				}
				switch shape.name {
				case "writers=8/rooms=20":
					ratio("writers=8/rooms=20/no-clid", "ratio-clid-to-no-clid")
				case "writers=8/rooms=10000", "writers=8/rooms=20000", "writers=8/rooms=100000":
					ratio("writers=8/rooms=20", "ratio-to-rooms=20")
				}
			})
		}
	}
}

// chatRun is one shape of BenchmarkChatShapes, measured.
type chatRun struct {
	took       []time.Duration // each append's latency
	elapsed    time.Duration   // the blocks' time
	blocks     []float64       // each block's appends/s, without its drain (see block)
	cpu        time.Duration   // the process's, during the blocks
	upkeep     time.Duration   // the process's, while settling after the blocks
	upkeepTime time.Duration   // the settling's time
	setup      time.Duration   // the store, server and rooms
	// commands the store sent during the blocks, by name, and while
	// settling after them
	commands       map[string]int64
	upkeepCommands int64
}

// medianRate is the median of r's block rates.
func (r *chatRun) medianRate() float64 {
	s := slices.Clone(r.blocks)
	slices.Sort(s)
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}

// measureChat measures shapes, taking turns.
func measureChat(b *testing.B, backend storetest.Backend, shapes []chatShape) map[string]*chatRun {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	loads := make([]*chatLoad, len(shapes))
	runs := make([]*chatRun, len(shapes))
	for k, shape := range shapes {
		start := time.Now()
		loads[k] = newChatLoad(b, backend, shape)
		runs[k] = &chatRun{took: make([]time.Duration, loads[k].total), setup: time.Since(start), commands: map[string]int64{}}
		b.Logf("%s: set up in %v", shape.name, runs[k].setup.Round(time.Millisecond))
	}
	if path := os.Getenv(chatProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	pid := os.Getpid()
	for blk := range chatBlocks {
		for j := range loads {
			k := (blk + j) % len(loads)
			l, r := loads[k], runs[k]
			size := l.total / chatBlocks
			first := blk * size
			if blk == chatBlocks-1 {
				size = l.total - first
			}
			commands0 := l.countCommands()
			start, cpu0 := time.Now(), storetest.ProcessCPU(pid)
			rate, err := l.block(first, size, r.took)
			took := time.Since(start)
			cpu1 := storetest.ProcessCPU(pid)
			commands1 := l.countCommands()
			if err != nil {
				b.Fatalf("%s: %v", l.shape.name, err)
			}
			r.elapsed += took
			r.blocks = append(r.blocks, rate)
			r.cpu += cpu1 - cpu0
			start = time.Now()
			l.settle(b, blk == chatBlocks-1)
			r.upkeepTime += time.Since(start)
			r.upkeep += storetest.ProcessCPU(pid) - cpu1
			for name, n := range commands1 {
				if d := n - commands0[name]; d > 0 {
					r.commands[name] += d
				}
			}
			for name, n := range l.countCommands() {
				r.upkeepCommands += n - commands1[name]
			}
		}
	}
	out := map[string]*chatRun{}
	for k, shape := range shapes {
		out[shape.name] = runs[k]
	}
	return out
}

// chatLoad is one shape ready to run: its store and server, its rooms
// created, a client per writer.
type chatLoad struct {
	shape   chatShape
	total   int          // appends in all
	st      *store.Store // nil for the floor
	urls    []string     // of each room's events
	clients []*http.Client
	txn     string // the clids' prefix, as a Matrix client's txnId
	// commands counts the database commands the store sends, by name
	// (FerretDB's CPU is most of an append's).
	commands struct {
		sync.Mutex
		n map[string]int64
	}
}

// countCommands returns a snapshot of l's command counts.
func (l *chatLoad) countCommands() map[string]int64 {
	l.commands.Lock()
	defer l.commands.Unlock()
	return maps.Clone(l.commands.n)
}

// newChatLoad sets shape up on a fresh store in a fresh database. The rooms
// are created straight through the store, 8 at a time, not through HTTP:
// creating 20,000 rooms takes minutes as it is (about 4 ms of CPU a room
// on this machine), and is not what is measured. Then the store is
// settled, so that the rooms' idle upkeep is done before the blocks.
func newChatLoad(b *testing.B, backend storetest.Backend, shape chatShape) *chatLoad {
	b.Helper()
	ctx := context.Background()
	l := &chatLoad{shape: shape, total: chatAppends, txn: "m" + strconv.FormatInt(time.Now().UnixMilli(), 10) + "."}
	if shape.perRoom > 0 {
		l.total = shape.rooms * shape.perRoom
	}
	var handler http.Handler
	if shape.floor {
		handler = chatFloorHandler(b, backend)
	} else {
		l.commands.n = map[string]int64{}
		monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
			l.commands.Lock()
			l.commands.n[e.CommandName]++
			l.commands.Unlock()
		}}
		l.st = storetest.NewStore(b, backend.Connect(b, storetest.Options{Monitor: monitor}), "a.example", store.Options{LeafFlagDelay: chatUpkeepDelay})
		handler = api.New(api.Config{Store: l.st, Cursors: stream.NewCursors("a.example")})
		err := storetest.Concurrently(8, shape.rooms, func(r int) error {
			_, err := l.st.CreateContext(ctx, "room", "r"+strconv.Itoa(r), "", nil)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		l.settle(b, true)
	}
	srv := httptest.NewServer(handler)
	b.Cleanup(srv.Close)
	for r := range shape.rooms {
		l.urls = append(l.urls, srv.URL+"/api/v1/contexts/room/r"+strconv.Itoa(r)+"/events")
	}
	for range shape.writers {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}}
		b.Cleanup(c.CloseIdleConnections)
		l.clients = append(l.clients, c)
	}
	return l
}

// chatUpkeepDelay is the store's idle delay (Options.LeafFlagDelay) in the
// benchmark: longer than a run, so that no room's idle upkeep (its isLeaf
// flags) fires while another shape's block is measured. The upkeep is
// done by settle at the end of a shape's blocks instead, as a server does
// it once the rooms have been idle a minute (its default delay): for the
// same rooms, with the same coalescing, since every room's appends in a
// shape are less than a minute apart here.
const chatUpkeepDelay = time.Hour

// settle returns once the store has nothing left to do: after a shape's
// last block (and after its setup) it does the rooms' idle upkeep
// (store.Flush); after the other blocks it waits until the process has
// been quiet (under 10 ms of CPU in 100 ms), for at most 10 s.
func (l *chatLoad) settle(b *testing.B, last bool) {
	b.Helper()
	switch {
	case l.st == nil:
	case last:
		if err := l.st.Flush(context.Background()); err != nil {
			b.Fatalf("%s: flush: %v", l.shape.name, err)
		}
	default:
		pid := os.Getpid()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			cpu := storetest.ProcessCPU(pid)
			time.Sleep(100 * time.Millisecond)
			if storetest.ProcessCPU(pid)-cpu < 10*time.Millisecond {
				return
			}
		}
		b.Logf("%s: still busy 10 s after a block", l.shape.name)
	}
}

// block appends messages first … first+n-1 with the shape's writers, each
// on its own connection, recording each append's latency in took. It
// returns the block's rate without its drain: once fewer messages are left
// than writers, writers go idle one by one while the last appends finish
// (a stall of tens of ms, in a block of a tenth of a second, halved the
// rate of the fast shapes). So the rate is k appends over the time until
// the k-th finished, k = n - writers + 1 (all of them for one writer).
func (l *chatLoad) block(first, n int, took []time.Duration) (rate float64, err error) {
	var next, finished atomic.Int64
	at := make([]time.Duration, n) // when the k-th append finished, from the start
	errs := make(chan error, len(l.clients))
	start := time.Now()
	for _, c := range l.clients {
		go func() {
			for {
				i := first + int(next.Add(1)-1)
				if i >= first+n {
					errs <- nil
					return
				}
				t0 := time.Now()
				if err := l.post(c, i); err != nil {
					errs <- fmt.Errorf("message %d: %w", i, err)
					return
				}
				now := time.Now()
				took[i] = now.Sub(t0)
				at[finished.Add(1)-1] = now.Sub(start)
			}
		}()
	}
	for range l.clients {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	k := max(n-len(l.clients)+1, 1)
	return float64(k) / at[k-1].Seconds(), err
}

// post sends message i, to room i mod rooms, with clid <txn><i> unless the
// shape has none.
func (l *chatLoad) post(c *http.Client, i int) error {
	body := make([]byte, 0, 200)
	body = append(body, `{"t":"msg","o":`...)
	body = append(body, chatMessage...)
	if !l.shape.noClid {
		body = append(body, `,"clid":"`...)
		body = append(body, l.txn...)
		body = strconv.AppendInt(body, int64(i), 10)
		body = append(body, '"')
	}
	body = append(body, '}')
	return postAppend(c, l.urls[i%len(l.urls)], body)
}

// postAppend posts an append and reads its answer, which must be 201.
func postAppend(c *http.Client, url string, body []byte) error {
	res, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	return nil
}

// chatFloorHandler answers every request as an append does (201, the
// Location and body of a real append's answer, taken from a throwaway
// store), after reading the body, and stores nothing.
func chatFloorHandler(b *testing.B, backend storetest.Backend) http.Handler {
	b.Helper()
	st := storetest.NewStore(b, backend.Connect(b, storetest.Options{}), "a.example", store.Options{})
	if _, err := st.CreateContext(context.Background(), "room", "r0", "", nil); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Store: st, Cursors: stream.NewCursors("a.example")}))
	defer srv.Close()
	res, err := http.Post(srv.URL+"/api/v1/contexts/room/r0/events", "application/json",
		strings.NewReader(`{"t":"msg","o":`+chatMessage+`,"clid":"m1.1"}`))
	if err != nil {
		b.Fatal(err)
	}
	answer, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusCreated {
		b.Fatalf("floor answer: %d %s %v", res.StatusCode, answer, err)
	}
	location, contentType := res.Header.Get("Location"), res.Header.Get("Content-Type")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Location", location)
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(answer)
	})
}

// quantileMs is the p-quantile of ds in milliseconds (nearest rank).
func quantileMs(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	k := max(int(math.Ceil(p*float64(len(s))))-1, 0)
	return float64(s[k].Microseconds()) / 1000
}
