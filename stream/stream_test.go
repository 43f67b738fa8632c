package stream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
	"github.com/eventstore-go/eventstore/stream"

	"github.com/eventstore-go/eventstore/internal/database"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const server = "a.test"

// node is a store with a running hub that hears of its commits, as
// cmd/eventstore wires them.
type node struct {
	st   *store.Store
	hub  *stream.Hub
	stop func()
}

func newNode(t testing.TB, conn *database.Conn, cfg stream.Config) *node {
	t.Helper()
	st := storetest.NewStore(t, conn, server, store.Options{})
	cfg.Store, cfg.Cursors = st, stream.NewCursors(server)
	h := stream.New(cfg)
	st.Follow(func(ct, _ string, _ []*eventstore.Event) { h.Committed(ct) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	n := &node{st: st, hub: h}
	n.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(n.stop)
	return n
}

// collector follows a stream, reconnecting from its last cursor whenever
// asked to, and keeps every event it got.
type collector struct {
	mu      sync.Mutex
	events  []*eventstore.Event
	cursor  string
	caught  int
	resets  int
	lastErr error
}

func (c *collector) add(m stream.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.Kind {
	case stream.KindEvent:
		c.events = append(c.events, m.Event)
		c.cursor = m.Cursor
	case stream.KindCaughtUp:
		c.caught++
		c.cursor = m.Cursor
	case stream.KindReset:
		c.resets++
		c.cursor = m.Cursor
	}
	return nil
}

func (c *collector) snapshot() ([]*eventstore.Event, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events), c.cursor
}

// follow runs one connection of the collector until ctx ends.
func (c *collector) follow(ctx context.Context, hub *stream.Hub, req stream.Request) error {
	_, cursor := c.snapshot()
	if cursor != "" {
		req.From = cursor
	}
	return hub.Follow(ctx, req, c.add)
}

// reconnecting follows req in connections that end after a random
// 100–800 ms (seeded), each resuming from the last cursor, on whatever hub
// returns then, until stop is called. Errors other than the ends of
// connections and hubs are kept in lastErr.
func (c *collector) reconnecting(hub func() *stream.Hub, req stream.Request, seed uint64) (stop func()) {
	done, followed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(followed)
		rng := rand.New(rand.NewPCG(seed, seed+1))
		for {
			select {
			case <-done:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(100+rng.IntN(700))*time.Millisecond)
			err := c.follow(ctx, hub(), req)
			cancel()
			if err != nil && !errors.Is(err, stream.ErrClosed) && eventstore.ErrorCode(err) != eventstore.EUNAVAILABLE {
				c.mu.Lock()
				c.lastErr = err
				c.mu.Unlock()
			}
		}
	}()
	return func() {
		close(done)
		<-followed
	}
}

// waitFor waits until the collector has n events.
func (c *collector) waitFor(t *testing.T, n int) []*eventstore.Event {
	t.Helper()
	return c.waitForOr(t, n, func() {})
}

func (c *collector) waitForOr(t *testing.T, n int, onFail func()) []*eventstore.Event {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		events, _ := c.snapshot()
		if len(events) >= n {
			return events
		}
		if time.Now().After(deadline) {
			c.mu.Lock()
			onFail()
			c.mu.Unlock()
			t.Fatalf("the stream delivered %d events of %d", len(events), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// appendAll runs writers goroutines appending n events each to ct/cid.
func appendAll(t *testing.T, st *store.Store, ct, cid string, writers, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range n {
				if _, _, err := st.Append(storetest.Context(t), ct, cid, store.NewEvent{T: "msg", O: storetest.Data(t, fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// timeline is a context's events in timeline order, from the store.
func timeline(t *testing.T, st *store.Store, ct, cid string) []string {
	t.Helper()
	var ids []string
	var from *store.Cursor
	for {
		p, err := st.List(storetest.Context(t), ct, cid, store.ListQuery{From: from, Limit: store.MaxListLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			ids = append(ids, e.ID)
		}
		if p.Next == nil {
			return ids
		}
		from = p.Next
	}
}

func ids(events []*eventstore.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// TestFollowReconnecting: a subscriber that drops its connection at random
// moments and resumes with its last cursor — once across a restart, with a
// new store and hub on the same database — gets every event of the room
// exactly once, in timeline order, while 8 writers append.
func TestFollowReconnecting(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		conn := b.Connect(t, storetest.Options{})
		first := newNode(t, conn, stream.Config{})
		if _, err := first.st.CreateContext(storetest.Context(t), "room", "s1", "", nil); err != nil {
			t.Fatal(err)
		}
		var c collector
		var current atomic.Pointer[node]
		current.Store(first)
		stop := c.reconnecting(func() *stream.Hub { return current.Load().hub }, stream.Request{Ct: "room", Cid: "s1", From: stream.Start}, 1)
		appendAll(t, first.st, "room", "s1", 8, 40)
		// A restart: the process goes, another comes on the same database.
		first.stop()
		second := newNode(t, conn, stream.Config{})
		current.Store(second)
		appendAll(t, second.st, "room", "s1", 8, 40)
		want := timeline(t, second.st, "room", "s1")
		got := c.waitForOr(t, len(want), func() { t.Logf("last connection error: %v", c.lastErr) })
		stop()
		if c.lastErr != nil {
			t.Fatalf("a connection failed: %v", c.lastErr)
		}
		if !slices.Equal(ids(got), want) {
			t.Fatalf("the stream delivered %d events, not the room's %d in timeline order", len(got), len(want))
		}
		if c.caught == 0 {
			t.Error("no caught-up marker was sent")
		}
	})
}

// TestSlowSubscriberIsReset: a subscriber that stops reading does not hold
// writers up; it is cut off with a reset whose cursor resumes exactly.
func TestSlowSubscriberIsReset(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		n := newNode(t, b.Connect(t, storetest.Options{}), stream.Config{Buffer: 4})
		if _, err := n.st.CreateContext(storetest.Context(t), "room", "slow", "", nil); err != nil {
			t.Fatal(err)
		}
		var c collector
		release := make(chan struct{})
		stuck := make(chan struct{})
		var once sync.Once
		errc := make(chan error, 1)
		go func() {
			errc <- n.hub.Follow(context.Background(), stream.Request{Ct: "room", Cid: "slow", From: stream.Start}, func(m stream.Message) error {
				if m.Kind == stream.KindCaughtUp {
					once.Do(func() { close(stuck) })
					<-release // a client that does not read
				}
				return c.add(m)
			})
		}()
		<-stuck
		appendAll(t, n.st, "room", "slow", 8, 25) // returns although the subscriber is stuck
		close(release)
		if err := <-errc; !errors.Is(err, stream.ErrReset) {
			t.Fatalf("the stuck stream ended with %v, want a reset", err)
		}
		if c.resets != 1 {
			t.Fatalf("%d reset messages, want 1", c.resets)
		}
		// Resuming from the reset's cursor gets the rest, once each.
		want := timeline(t, n.st, "room", "slow")
		ctx, cancel := context.WithCancel(context.Background())
		go func() { _ = c.follow(ctx, n.hub, stream.Request{Ct: "room", Cid: "slow"}) }()
		got := c.waitFor(t, len(want))
		cancel()
		if !slices.Equal(ids(got), want) {
			t.Fatalf("after the reset the stream holds %d events, not the room's %d in order", len(got), len(want))
		}
	})
}

// TestStreamSeesOtherProcess: a stream on one process gets what another
// process sharing the database appends, by the hub's poll of the log.
func TestStreamSeesOtherProcess(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		connA := b.Connect(t, storetest.Options{})
		a := newNode(t, connA, stream.Config{})
		other := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: connA.DB.Name()}), server, store.Options{})
		if _, err := other.CreateContext(storetest.Context(t), "room", "p1", "", nil); err != nil {
			t.Fatal(err)
		}
		var c collector
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _ = c.follow(ctx, a.hub, stream.Request{Ct: "room", Cid: "p1"}) }()
		for range 5 {
			for { // caught up: the stream is live
				c.mu.Lock()
				caught := c.caught
				c.mu.Unlock()
				if caught > 0 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			before := len(c.waitFor(t, 0))
			start := time.Now()
			e, _, err := other.Append(storetest.Context(t), "room", "p1", store.NewEvent{T: "msg"})
			if err != nil {
				t.Fatal(err)
			}
			got := c.waitFor(t, before+1)
			took := time.Since(start)
			if got[len(got)-1].ID != e.ID {
				t.Fatal("the stream delivered another event")
			}
			if took > 3*time.Second {
				t.Errorf("an event of another process took %v to arrive", took)
			}
			t.Logf("delivered from the other process in %v", took.Round(time.Millisecond))
		}
	})
}

// TestServerStream: the server-wide stream over two context types,
// reconnecting at random moments, gets every event once, each context's
// in timeline order; a cursor of a one-type stream is refused elsewhere.
func TestServerStream(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		n := newNode(t, b.Connect(t, storetest.Options{}), stream.Config{})
		ctx := storetest.Context(t)
		for _, key := range [][2]string{{"room", "a"}, {"room", "b"}, {"dm", "x"}} {
			if _, err := n.st.CreateContext(ctx, key[0], key[1], "", nil); err != nil {
				t.Fatal(err)
			}
		}
		var c collector
		stop := c.reconnecting(func() *stream.Hub { return n.hub }, stream.Request{Server: true, From: stream.Start}, 3)
		var wg sync.WaitGroup
		for _, key := range [][2]string{{"room", "a"}, {"room", "b"}, {"dm", "x"}} {
			wg.Go(func() { appendAll(t, n.st, key[0], key[1], 2, 30) })
		}
		wg.Wait()
		want := map[string][]string{}
		total := 0
		for _, key := range [][2]string{{"room", "a"}, {"room", "b"}, {"dm", "x"}} {
			want[key[0]+"/"+key[1]] = timeline(t, n.st, key[0], key[1])
			total += len(want[key[0]+"/"+key[1]])
		}
		got := c.waitFor(t, total)
		stop()
		per := map[string][]string{}
		for _, e := range got {
			per[e.Ct+"/"+e.Cid] = append(per[e.Ct+"/"+e.Cid], e.ID)
		}
		for key, w := range want {
			if !slices.Equal(per[key], w) {
				t.Errorf("%s: the stream delivered %d events, not the %d of its timeline in order", key, len(per[key]), len(w))
			}
		}
		if len(got) != total {
			t.Errorf("%d events delivered, want %d", len(got), total)
		}
		// A room-only stream's cursor is refused by the whole-server stream.
		var rc collector
		rctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_ = rc.follow(rctx, n.hub, stream.Request{Server: true, Ct: "room"})
		cancel()
		_, cursor := rc.snapshot()
		err := n.hub.Follow(context.Background(), stream.Request{Server: true, From: cursor}, func(stream.Message) error { return nil })
		if eventstore.ErrorCode(err) != eventstore.EBADCURSOR {
			t.Errorf("a room stream's cursor on the server stream: %v, want invalid_cursor", err)
		}
	})
}

// TestHeartbeatOnFilteredStream: a stream whose filter drops every event
// of a busy room still sends a heartbeat within each interval.
func TestHeartbeatOnFilteredStream(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		const every = 300 * time.Millisecond
		n := newNode(t, b.Connect(t, storetest.Options{}), stream.Config{Heartbeat: every})
		if _, err := n.st.CreateContext(storetest.Context(t), "room", "busy", "", nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var mu sync.Mutex
		var beats []time.Time
		go func() {
			_ = n.hub.Follow(ctx, stream.Request{Ct: "room", Cid: "busy", T: "nothing"}, func(m stream.Message) error {
				mu.Lock()
				defer mu.Unlock()
				if m.Kind == stream.KindHeartbeat || m.Kind == stream.KindCaughtUp {
					beats = append(beats, time.Now())
				}
				return nil
			})
		}()
		for ctx.Err() == nil {
			if _, _, err := n.st.Append(storetest.Context(t), "room", "busy", store.NewEvent{T: "msg"}); err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(beats) < 4 {
			t.Fatalf("%d heartbeats in 2 s at %v, want at least 4", len(beats), every)
		}
		for i := 1; i < len(beats); i++ {
			if gap := beats[i].Sub(beats[i-1]); gap > 2*every { // the spec: at least one per interval; twice that is slack for a loaded machine
				t.Errorf("%v between heartbeats, interval %v", gap.Round(time.Millisecond), every)
			}
		}
	})
}

// TestNoGoroutinesLeftBehind: streams that end — by their context, by a
// reset, by the hub's end — leave no goroutine behind.
func TestNoGoroutinesLeftBehind(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		n := newNode(t, b.Connect(t, storetest.Options{}), stream.Config{Buffer: 2, Heartbeat: 30 * time.Millisecond})
		if _, err := n.st.CreateContext(storetest.Context(t), "room", "g", "", nil); err != nil {
			t.Fatal(err)
		}
		settle := func() int {
			time.Sleep(100 * time.Millisecond)
			return runtime.NumGoroutine()
		}
		before := settle()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i := range 60 {
			wg.Go(func() {
				req := stream.Request{Ct: "room", Cid: "g", From: stream.Start}
				if i%3 == 0 {
					req = stream.Request{Server: true}
				}
				_ = n.hub.Follow(ctx, req, func(m stream.Message) error {
					if i%2 == 0 && m.Kind == stream.KindEvent {
						time.Sleep(20 * time.Millisecond) // slow: reset
					}
					return nil
				})
			})
		}
		appendAll(t, n.st, "room", "g", 4, 10)
		time.Sleep(100 * time.Millisecond) // heartbeats go out
		cancel()
		wg.Wait()
		if n.hub.Subscribers() != 0 {
			t.Errorf("%d subscriptions open after every stream ended", n.hub.Subscribers())
		}
		// The database driver's pool may have grown (and the embedded
		// store serves each connection with goroutines of its own), so the
		// goroutines of package stream are looked for by their stacks; the
		// hub's own (Run, a reader per context type) stay until it stops.
		time.Sleep(100 * time.Millisecond)
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "eventstore/stream.") && !strings.Contains(g, "stream.(*Hub).Run") && !strings.Contains(g, "stream.(*Hub).read") {
				t.Errorf("a goroutine of package stream is left after every stream ended:\n%s", g)
			}
		}
		t.Logf("%d goroutines before the streams, %d after (database connections included)", before, settle())
		n.stop() // and the hub's own end with it
		time.Sleep(50 * time.Millisecond)
		stacks = string(buf[:runtime.Stack(buf, true)])
		if strings.Contains(stacks, "eventstore/stream.") {
			t.Errorf("goroutines of package stream are left after the hub stopped:\n%s", stacks)
		}
	})
}
