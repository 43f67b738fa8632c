package database

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
)

// load is what a connection did under 64 concurrent readers and writers:
// the most connections its pool opened and the most inserts in flight.
type load struct {
	connections, inserts int64
}

// runLoad connects by cfg and sends 64 goroutines' finds and inserts.
func runLoad(t *testing.T, cfg Config) (Backend, load) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var open, inFlight atomic.Int64
	var got load
	var mu sync.Mutex
	most := func(p *int64, v int64) {
		mu.Lock()
		*p = max(*p, v)
		mu.Unlock()
	}
	cfg.Pool = &event.PoolMonitor{Event: func(e *event.PoolEvent) {
		switch e.Type {
		case event.ConnectionCreated:
			most(&got.connections, open.Add(1))
		case event.ConnectionClosed:
			open.Add(-1)
		}
	}}
	cfg.Monitor = &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if e.CommandName == "insert" {
				most(&got.inserts, inFlight.Add(1))
			}
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			if e.CommandName == "insert" {
				inFlight.Add(-1)
			}
		},
		Failed: func(_ context.Context, e *event.CommandFailedEvent) {
			if e.CommandName == "insert" {
				inFlight.Add(-1)
			}
		},
	}
	conn, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	coll := conn.Collection("settings")
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := range 5 {
				id := fmt.Sprintf("%d-%d", g, i)
				if err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "g", Value: g}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Then reads FerretDB scans for, all at once: they take a while and
	// overlap, so the pool is what bounds the connections.
	start := make(chan struct{})
	for range 64 {
		wg.Go(func() {
			<-start
			for range 4 {
				if n, err := coll.Count(ctx, bson.D{{Key: "g", Value: bson.D{{Key: "$gte", Value: 0}}}}, 0); err != nil || n != 320 {
					t.Errorf("counting: %d, %v", n, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	return conn.Backend(), got
}

// TestFerretDBByURI: a FerretDB reached by URI, started apart from the
// connection, gets what the embedded store gets: it is known as FerretDB,
// its pool is capped (FerretDB v1 deadlocks its own pool otherwise) and
// this process's writes go through the write gate one at a time.
func TestFerretDBByURI(t *testing.T) {
	e, err := StartEmbedded(EmbeddedConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"embedded", Config{Embedded: e, Database: "settings_embedded"}},
		{"uri", Config{URI: e.URI() + "/settings_uri"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, got := runLoad(t, c.cfg)
			if !b.FerretDB || b.transactions || !b.EscapesNestedArrays() || b.UpdateChunk() != ferretUpdateChunk {
				t.Errorf("backend %+v: want FerretDB, no transactions, escaping, update chunk %d", b, ferretUpdateChunk)
			}
			if got.connections > ferretPoolSize {
				t.Errorf("%d connections open at once, want at most %d", got.connections, ferretPoolSize)
			}
			if got.inserts != 1 {
				t.Errorf("%d inserts in flight at once, want 1 (the write gate)", got.inserts)
			}
		})
	}
}
