package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"

	"github.com/eventstore-go/eventstore/internal/database"
)

// restShape is one shape of BenchmarkStorageAtRest: messages appended by
// roomWriters writers, message i to room i mod rooms.
type restShape struct {
	name     string
	rooms    int
	messages int
	clid     bool // a clid on every append, as chat services send
}

var restShapes = []restShape{
	{name: "rooms=20", rooms: manyRooms, messages: 2_000},
	{name: "rooms=20/clid", rooms: manyRooms, messages: 2_000, clid: true},
	// Many quiet rooms, 2 or 3 messages each (issue 27: ≤ 2,000 bytes on
	// disk per event).
	{name: "rooms=20000/clid", rooms: 20_000, messages: 50_000, clid: true},
}

// BenchmarkStorageAtRest: 8 writers append 120-byte messages over the
// rooms of a fresh store, which is then brought to rest and closed
// cleanly: isLeaf flags written, the store's clock moved past the
// compaction age and Compact run (what a server's periodic compaction
// does to anything older than ten minutes), FerretDB stopped, its SQLite
// files closed. Targets: ≤ 2,048 bytes on disk and ≤ 1.1 documents per
// event (issue 17); with a clid on every append (each clid is a record of
// its own) ≤ 1,700 bytes on disk per event over 20 rooms and ≤ 2,000 over
// 20,000 rooms (issue 27). It reports
// documents per event stored (the messages and the rooms' genesis events)
// in the whole database, counted through the driver,
// and the number and mean BSON size of each kind of document in
// room_events per event (events, head versions, commit log entries). On
// the embedded store, which this benchmark starts on a directory of its
// own so that it can stop it, it also reports the bytes on disk per event
// and per message of that data directory and, read from the SQLite file,
// what FerretDB stores per document (its JSON) and the bytes of each table
// and index; and the same bytes once its storage is compacted (eventstore
// compact: SQLite's VACUUM gives back the space that the folded documents
// left inside pages).
func BenchmarkStorageAtRest(b *testing.B) {
	for _, backend := range storetest.Backends() {
		for _, shape := range restShapes {
			b.Run(backend.Name+"/"+shape.name, func(b *testing.B) {
				for range b.N {
					storageAtRest(b, backend, shape)
				}
			})
		}
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
	case d.Lookup("event").Type != 0:
		return "clid"
	}
	return "other"
}

func storageAtRest(b *testing.B, backend storetest.Backend, shape restShape) {
	b.Helper()
	ctx := context.Background()
	dir := ""
	var conn *database.Conn
	if backend.Name == "embedded" {
		dir = b.TempDir()
		var err error
		if conn, err = database.Connect(ctx, database.Config{DataDir: dir, Database: "rest"}); err != nil {
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
	err = storetest.Concurrently(roomWriters, shape.rooms, func(i int) error {
		_, err := s.CreateContext(ctx, "room", fmt.Sprintf("r%d", i), "", nil)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	o := data(b, roomMessage)
	start := time.Now()
	err = storetest.Concurrently(roomWriters, shape.messages, func(i int) error {
		in := store.NewEvent{T: "msg", O: o}
		if shape.clid {
			in.Clid = fmt.Sprintf("web-%08d", i)
		}
		_, _, err := s.Append(ctx, "room", fmt.Sprintf("r%d", i%shape.rooms), in)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d appends over %d rooms in %v", shape.messages, shape.rooms, time.Since(start).Round(time.Millisecond))
	if err := s.Flush(ctx); err != nil { // the pending isLeaf flags
		b.Fatal(err)
	}
	// At rest: once the store's clock is past the compaction age, what a
	// server's periodic compaction does.
	clk.advance(store.MinCompactAfter + time.Minute)
	compactStart := time.Now()
	st, err := store.Compact(ctx, s)
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
	onDisk, files := dirSize(b, dir)
	b.Logf("files after a clean stop: %s", strings.Join(files, " "))
	b.ReportMetric(float64(onDisk)/events, "disk-B/event")
	b.ReportMetric(float64(onDisk)/float64(shape.messages), "disk-B/message")
	sqliteAtRest(b, filepath.Join(dir, "rest.sqlite"), events)
	compactedStorage(b, dir, events, float64(shape.messages))
}

// compactedStorage opens the stopped store in dir again, compacts its
// storage as eventstore compact does (database.Conn.CompactStorage: SQLite's
// VACUUM), stops it and reports its bytes on disk per event and per message
// then, and how long the compaction took per MiB of store.
func compactedStorage(b *testing.B, dir string, events, messages float64) {
	b.Helper()
	ctx := context.Background()
	conn, err := database.Connect(ctx, database.Config{DataDir: dir, Database: "rest"})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	before, _, err := conn.CompactStorage(ctx)
	took := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	if err := conn.Close(ctx); err != nil {
		b.Fatal(err)
	}
	onDisk, _ := dirSize(b, dir)
	b.ReportMetric(float64(onDisk)/events, "compacted-disk-B/event")
	b.ReportMetric(float64(onDisk)/messages, "compacted-disk-B/message")
	b.ReportMetric(took.Seconds()*1000/(float64(before)/(1<<20)), "compact-storage-ms/MiB")
}

// dirSize is the bytes of the files under dir, and each file as name=size.
func dirSize(b *testing.B, dir string) (int64, []string) {
	b.Helper()
	var n int64
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Size()
		files = append(files, fmt.Sprintf("%s=%d", d.Name(), fi.Size()))
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n, files
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
		case strings.Contains(js, `"event":"`):
			k = "clid"
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
	for _, k := range []string{"event", "clid", "version", "entry", "span"} {
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
