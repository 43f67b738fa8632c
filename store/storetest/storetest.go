package storetest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"

	"github.com/eventstore-go/eventstore/internal/database"
)

// MongoDBURIVariable names the environment variable with a real MongoDB to
// test against as well.
const MongoDBURIVariable = "EVENTSTORE_TEST_MONGODB_URI"

// MongoDBReadsVariable, set to anything, makes every test connection take
// MongoDB's read paths on the embedded FerretDB as well
// (database.Config.MongoDBReads), so that those paths run here.
const MongoDBReadsVariable = "EVENTSTORE_TEST_MONGODB_READS"

var (
	embeddedOnce sync.Once
	embedded     *database.Embedded
	embeddedErr  error
	embeddedDir  string
	counter      atomic.Int64
)

// Main runs the tests of a package and then stops the shared embedded
// store. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if checkingShapes() && shapes.report() && code == 0 {
		code = 1
	}
	if embedded != nil {
		_ = embedded.Close()
		_ = os.RemoveAll(embeddedDir)
	}
	os.Exit(code)
}

// Backend is one kind of database to test against.
type Backend struct {
	Name string
	uri  string // "" for the embedded store
}

// Backends lists the backends to test against.
func Backends() []Backend {
	bs := []Backend{{Name: "embedded"}}
	if uri := os.Getenv(MongoDBURIVariable); uri != "" {
		bs = append(bs, Backend{Name: "mongodb", uri: uri})
	}
	return bs
}

// Run runs f as a subtest once per backend.
func Run(t *testing.T, f func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { f(t, b) })
	}
}

// Embedded returns the shared embedded store, starting it on first use.
func Embedded(tb testing.TB) *database.Embedded {
	tb.Helper()
	embeddedOnce.Do(func() {
		embeddedDir, embeddedErr = os.MkdirTemp("", "eventstore-test-")
		if embeddedErr == nil {
			cfg := database.EmbeddedConfig{Dir: embeddedDir}
			if os.Getenv("EVENTSTORE_TEST_LOG") != "" {
				cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			}
			embedded, embeddedErr = database.StartEmbedded(cfg)
		}
	})
	if embeddedErr != nil {
		tb.Fatalf("starting the embedded store: %v", embeddedErr)
	}
	return embedded
}

// Options tune a test connection.
type Options struct {
	Database       string                // "" for a fresh database
	Monitor        *event.CommandMonitor // e.g. to count round trips
	SkipMigrations bool                  // leave the schema as it is
}

// Connect opens a fresh, migrated database on the backend (or the one named
// in opts, to share it between two connections) and closes it with the test.
func (b Backend) Connect(tb testing.TB, opts Options) *database.Conn {
	tb.Helper()
	cfg := database.Config{URI: b.uri, Database: opts.Database, Monitor: CommandMonitor(opts.Monitor),
		MongoDBReads: os.Getenv(MongoDBReadsVariable) != ""}
	if b.uri == "" {
		cfg.Embedded = Embedded(tb)
	}
	if cfg.Database == "" {
		cfg.Database = NewDatabaseName(tb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := database.Connect(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if !opts.SkipMigrations {
		if _, err := migrations.Up(ctx, conn, nil); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if b.uri != "" && opts.Database == "" {
			_ = conn.DB.Drop(ctx)
		}
		_ = conn.Close(ctx)
	})
	return conn
}

// NewDatabaseName returns a database name unique to this test run.
func NewDatabaseName(tb testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, tb.Name())
	if len(name) > 30 {
		name = name[:30]
	}
	return fmt.Sprintf("t%d_%d_%s", os.Getpid()%100000, counter.Add(1), name)
}

// NewStore returns a store named server on conn, closed with the test.
func NewStore(tb testing.TB, conn *database.Conn, server string, opts store.Options) *store.Store {
	tb.Helper()
	opts.Server = server
	s, err := store.New(conn, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Leaves is the current leaves of context ct/cid, sorted, as its
// summary gives them.
func Leaves(ctx context.Context, s *store.Store, ct, cid string) ([]string, error) {
	sum, err := s.Summary(ctx, ct, cid)
	if err != nil {
		return nil, err
	}
	return sum.Leaves, nil
}

// CheckLeaves recomputes the leaf set of a context from its events, read
// straight from the collection, and fails the test unless the store's
// leaves and every isLeaf flag agree with it. It returns the events' ids.
func CheckLeaves(tb testing.TB, s *store.Store, conn *database.Conn, ct, cid string) []string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := s.Flush(ctx); err != nil { // flags follow the leaves once a context is idle
		tb.Fatal(err)
	}
	cur, err := conn.DB.Collection(migrations.EventsCollection(ct)).Find(ctx, migrations.EventsOf(cid))
	if err != nil {
		tb.Fatal(err)
	}
	var docs []struct {
		ID     string   `bson:"_id"`
		Pids   []string `bson:"pids"`
		IsLeaf *bool    `bson:"isLeaf"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		tb.Fatal(err)
	}
	hasChild := map[string]bool{}
	ids := make([]string, 0, len(docs))
	seen := map[string]bool{}
	for _, d := range docs {
		if seen[d.ID] {
			tb.Errorf("event %s stored twice", d.ID)
		}
		seen[d.ID] = true
		ids = append(ids, d.ID)
		for _, p := range d.Pids {
			hasChild[p] = true
		}
	}
	var want []string
	for _, d := range docs {
		leaf := !hasChild[d.ID]
		if leaf {
			want = append(want, d.ID)
		}
		switch {
		case leaf && (d.IsLeaf == nil || !*d.IsLeaf):
			tb.Errorf("event %s is a leaf but has no isLeaf flag", d.ID)
		case !leaf && d.IsLeaf != nil:
			tb.Errorf("event %s has children but isLeaf %v", d.ID, *d.IsLeaf)
		}
	}
	slices.Sort(want)
	got, err := Leaves(ctx, s, ct, cid)
	if err != nil {
		tb.Fatal(err)
	}
	if !slices.Equal(got, want) {
		tb.Errorf("store leaves %v, want %v (events with no children)", got, want)
	}
	sum, err := s.Summary(ctx, ct, cid)
	if err != nil {
		tb.Fatal(err)
	}
	if sum.Count != int64(len(docs)) {
		tb.Errorf("summary count %d, %d events stored", sum.Count, len(docs))
	}
	return ids
}

// Empty deletes every document of every collection of conn's database,
// keeping the collections and their indexes.
func Empty(tb testing.TB, conn *database.Conn) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	names, err := conn.DB.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range names {
		if n == migrations.MigrationsCollection {
			continue
		}
		if _, err := conn.DB.Collection(n).DeleteMany(ctx, bson.D{}); err != nil {
			tb.Fatal(err)
		}
	}
}

// CommandCounter counts the commands a client sends (round trips).
type CommandCounter struct{ n atomic.Int64 }

// Monitor is the command monitor to give a connection.
func (c *CommandCounter) Monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(context.Context, *event.CommandStartedEvent) { c.n.Add(1) }}
}

// Count is the number of commands sent so far.
func (c *CommandCounter) Count() int64 { return c.n.Load() }

// CommandsNamed counts the commands of one name (find, update …) a client
// sends: give its Monitor to the connection.
type CommandsNamed struct {
	Name string
	n    atomic.Int64
}

// Monitor is the command monitor to give a connection.
func (c *CommandsNamed) Monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == c.Name {
			c.n.Add(1)
		}
	}}
}

// Count is the number of those commands sent so far.
func (c *CommandsNamed) Count() int64 { return c.n.Load() }

// Concurrently runs do(0) … do(n-1) on writers goroutines, each taking the
// next i as it finishes the last, and returns the first error (a goroutine
// stops at its error, the others go on).
func Concurrently(writers, n int, do func(i int) error) error {
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := do(i); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	err, _ := failed.Load().(error)
	return err
}
