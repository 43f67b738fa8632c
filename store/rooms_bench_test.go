package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
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
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.StartTimer()
	start, cpu0 := time.Now(), storetest.ProcessCPU(os.Getpid())
	for range roomWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= roomAppends {
					return
				}
				t0 := time.Now()
				if err := write(i); err != nil {
					failed.Store(err)
					return
				}
				r.took[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	r.elapsed, r.cpu = time.Since(start), storetest.ProcessCPU(os.Getpid())-cpu0
	b.StopTimer()
	if err := failed.Load(); err != nil {
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

// restEvents is how many messages BenchmarkStorageAtRest appends.
const restEvents = 2_000

// BenchmarkStorageAtRest: 8 writers append restEvents 120-byte messages
// over 20 rooms of a fresh store, which is then brought to rest and closed
// cleanly: isLeaf flags written, the store's clock moved past the
// compaction age and Compact run (what a server's periodic compaction
// does to anything older than ten minutes), FerretDB stopped, its SQLite
// files closed. Targets: ≤ 2,048 bytes on disk and ≤ 1.1 documents per
// event (issue 17). It reports
// documents per event stored (the messages and the rooms' genesis events)
// in the whole database, counted through the driver,
// and the number and mean BSON size of each kind of document in
// room_events per event (events, head versions, commit log entries). On
// the embedded store, which this benchmark starts on a directory of its
// own so that it can stop it, it also reports the bytes on disk per event
// of that data directory and, read from the SQLite file, what FerretDB
// stores per document (its JSON) and the bytes of each table and index.
func BenchmarkStorageAtRest(b *testing.B) {
	for _, backend := range storetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			for range b.N {
				storageAtRest(b, backend)
			}
		})
	}
}

// docKind is what a document of room_events is.
func docKind(d bson.Raw) string {
	id, _ := d.Lookup("_id").StringValueOK()
	switch {
	case strings.HasPrefix(id, migrations.LogEntryPrefix):
		return "entry" // or a span of them
	case d.Lookup("folded").Type != 0:
		return "span"
	case d.Lookup("head").Type != 0:
		return "version"
	case d.Lookup("v").Type != 0:
		return "event"
	}
	return "other"
}

func storageAtRest(b *testing.B, backend storetest.Backend) {
	b.Helper()
	ctx := context.Background()
	dir := ""
	var conn *store.Conn
	if backend.Name == "embedded" {
		dir = b.TempDir()
		var err error
		if conn, err = store.Connect(ctx, store.ConnConfig{DataDir: dir, Database: "rest"}); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = conn.Close(context.Background()) }) // if it failed before stopping it
		if _, err := migrations.Up(ctx, conn, nil); err != nil {
			b.Fatal(err)
		}
	} else {
		conn = backend.Connect(b, storetest.Options{})
	}
	var clk clock
	s, err := store.New(conn, store.Options{Server: server, Now: clk.now, CompactAfter: store.MinCompactAfter})
	if err != nil {
		b.Fatal(err)
	}
	for i := range manyRooms {
		if _, err := s.CreateContext(ctx, "room", fmt.Sprintf("r%d", i), "", nil); err != nil {
			b.Fatal(err)
		}
	}
	o := data(b, roomMessage)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range roomWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= restEvents {
					return
				}
				if _, _, err := s.Append(ctx, "room", fmt.Sprintf("r%d", i%manyRooms), store.NewEvent{T: "msg", O: o}); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d appends over %d rooms in %v", restEvents, manyRooms, time.Since(start).Round(time.Millisecond))
	if err := s.Flush(ctx); err != nil { // the pending isLeaf flags
		b.Fatal(err)
	}
	// At rest: once the store's clock is past the compaction age, what a
	// server's periodic compaction does.
	clk.advance(store.MinCompactAfter + time.Minute)
	compactStart := time.Now()
	st, err := s.Compact(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("compaction: %+v in %v", st, time.Since(compactStart).Round(time.Millisecond))
	s.Close()

	// Every document of the database, through the driver.
	names, err := conn.DB.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		b.Fatal(err)
	}
	sort.Strings(names)
	type tally struct{ n, bytes int64 }
	kinds := map[string]*tally{}
	var total int64
	var perCollection []string
	for _, name := range names {
		cur, err := conn.DB.Collection(name).Find(ctx, bson.D{})
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for cur.Next(ctx) {
			n++
			if name != migrations.EventsCollection("room") {
				continue
			}
			k := docKind(cur.Current)
			if kinds[k] == nil {
				kinds[k] = &tally{}
			}
			kinds[k].n++
			kinds[k].bytes += int64(len(cur.Current))
		}
		if err := cur.Err(); err != nil {
			b.Fatal(err)
		}
		_ = cur.Close(ctx)
		total += n
		perCollection = append(perCollection, fmt.Sprintf("%s=%d", name, n))
	}
	events := float64(kinds["event"].n)
	b.Logf("%.0f events; documents by collection: %s", events, strings.Join(perCollection, " "))
	b.ReportMetric(float64(total)/events, "docs/event")
	for _, k := range []string{"version", "entry", "span", "other"} {
		if t := kinds[k]; t != nil {
			b.ReportMetric(float64(t.n)/events, k+"-docs/event")
		}
	}
	for _, k := range []string{"event", "version", "entry"} {
		if t := kinds[k]; t != nil {
			b.ReportMetric(float64(t.bytes)/float64(t.n), k+"-bson-B")
		}
	}
	var bsonBytes int64
	for _, t := range kinds {
		bsonBytes += t.bytes
	}
	b.ReportMetric(float64(bsonBytes)/events, "room_events-bson-B/event")

	if dir == "" {
		return
	}
	if err := conn.Close(ctx); err != nil { // stops FerretDB: its SQLite files are closed
		b.Fatal(err)
	}
	var onDisk int64
	var files []string
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		onDisk += fi.Size()
		files = append(files, fmt.Sprintf("%s=%d", d.Name(), fi.Size()))
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("files after a clean stop: %s", strings.Join(files, " "))
	b.ReportMetric(float64(onDisk)/events, "disk-B/event")
	sqliteAtRest(b, filepath.Join(dir, "rest.sqlite"), events)
}

// sqliteAtRest reports, from the closed SQLite file of the embedded store,
// the stored JSON per kind of room_events document and the bytes of each
// table and index (dbstat). It opens the file read-only and immutable.
func sqliteAtRest(b *testing.B, path string, events float64) {
	b.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var table string
	if err := db.QueryRow(`SELECT table_name FROM _ferretdb_collections WHERE name = ?`, migrations.EventsCollection("room")).Scan(&table); err != nil {
		b.Fatal(err)
	}
	rows, err := db.Query(fmt.Sprintf(`SELECT _ferretdb_sjson FROM %q`, table))
	if err != nil {
		b.Fatal(err)
	}
	type tally struct{ n, bytes int64 }
	kinds := map[string]*tally{}
	sample := map[string]string{}
	for rows.Next() {
		var js string
		if err := rows.Scan(&js); err != nil {
			b.Fatal(err)
		}
		var k string
		switch {
		case strings.Contains(js, `"_id":"`+migrations.LogEntryPrefix):
			k = "entry"
		case strings.Contains(js, `"folded":[`):
			k = "span"
		case strings.Contains(js, `"head":{`):
			k = "version"
		case strings.Contains(js, `"v":`):
			k = "event"
		default:
			k = "other"
		}
		if kinds[k] == nil {
			kinds[k] = &tally{}
		}
		sample[k] = js // the last of its kind: a message, not a genesis
		kinds[k].n++
		kinds[k].bytes += int64(len(js))
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	for _, k := range []string{"event", "version", "entry", "span"} {
		if t := kinds[k]; t != nil {
			b.ReportMetric(float64(t.bytes)/float64(t.n), k+"-sqlite-json-B")
			b.Logf("one %s as FerretDB stores it (%d bytes): %s", k, len(sample[k]), sample[k])
		}
	}
	var pageSize, pages, free int64
	_ = db.QueryRow(`PRAGMA page_size`).Scan(&pageSize)
	_ = db.QueryRow(`PRAGMA page_count`).Scan(&pages)
	_ = db.QueryRow(`PRAGMA freelist_count`).Scan(&free)
	b.Logf("SQLite: page size %d, %d pages, %d free", pageSize, pages, free)
	stat, err := db.Query(`SELECT name, SUM(pgsize), SUM(payload), SUM(unused) FROM dbstat GROUP BY name ORDER BY 2 DESC`)
	if err != nil {
		b.Logf("no dbstat: %v", err)
		return
	}
	defer stat.Close()
	for stat.Next() {
		var name string
		var size, payload, unused int64
		if err := stat.Scan(&name, &size, &payload, &unused); err != nil {
			b.Fatal(err)
		}
		if size < 64<<10 {
			continue
		}
		b.Logf("  %-45s %9d bytes (%6.0f/event; payload %d, unused %d)", name, size, float64(size)/events, payload, unused)
		if strings.HasPrefix(name, table) {
			metric := strings.TrimPrefix(strings.TrimPrefix(name, table), "_")
			if metric == "" {
				metric = "table"
			}
			b.ReportMetric(float64(size)/events, "disk-B/event-"+metric)
		}
	}
}
