package stream_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
	"github.com/eventstore-go/eventstore/stream"
)

// benchFollowers are n streams of one context, each counting what it is
// sent, until the benchmark ends.
type benchFollowers struct {
	delivered, caught atomic.Int64
	mu                sync.Mutex
	err               error // the first stream that ended early
}

func followBench(tb testing.TB, hub *stream.Hub, req stream.Request, n int, onEvent func(*eventstore.Event)) *benchFollowers {
	tb.Helper()
	f := &benchFollowers{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() { cancel(); wg.Wait() })
	for range n {
		wg.Go(func() {
			err := hub.Follow(ctx, req, func(m stream.Message) error {
				switch m.Kind {
				case stream.KindEvent:
					if onEvent != nil {
						onEvent(m.Event)
					}
					f.delivered.Add(1)
				case stream.KindCaughtUp:
					f.caught.Add(1)
				}
				return nil
			})
			if ctx.Err() == nil {
				f.mu.Lock()
				if f.err == nil {
					f.err = fmt.Errorf("a stream ended: %v", err)
				}
				f.mu.Unlock()
			}
		})
	}
	if err := f.waitUntil(func() bool { return f.caught.Load() == int64(n) }, 5*time.Minute); err != nil {
		tb.Fatalf("%d of %d streams caught up: %v", f.caught.Load(), n, err)
	}
	return f
}

// waitUntil polls done until it holds, a stream ends or timeout passes.
func (f *benchFollowers) waitUntil(done func() bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !done() {
		f.mu.Lock()
		err := f.err
		f.mu.Unlock()
		if err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(200 * time.Microsecond)
	}
	return nil
}

// BenchmarkAppendWithSubscribers: appends to a room that 1,000 streams
// follow (hub.Follow, each counting what it is sent) beside appends to a
// room of the same store that nobody follows, at concurrency 1 and 8, in
// alternating blocks of the same run (storetest.Compare; ratio is the rate
// with subscribers over the rate without, target ≥ 0.8). A block of the
// followed room lasts until every stream has been sent every event of it,
// so the fan-out counts in its time. commands/append is the database
// commands of both rooms' appends and of the hub's reads for them.
func BenchmarkAppendWithSubscribers(b *testing.B) {
	const subscribers = 1000
	for _, backend := range storetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			// Built once: this level runs once, the measurements below as
			// often as the benchmark framework asks.
			ctx := context.Background()
			var cmds storetest.CommandCounter
			n := newNode(b, backend.Connect(b, storetest.Options{Monitor: cmds.Monitor()}), stream.Config{})
			for _, cid := range []string{"watched", "quiet"} {
				if _, err := n.st.CreateContext(ctx, "room", cid, "", nil); err != nil {
					b.Fatal(err)
				}
			}
			start := time.Now()
			f := followBench(b, n.hub, stream.Request{Ct: "room", Cid: "watched", Transport: "bench"}, subscribers, nil)
			b.Logf("%d streams caught up in %v", subscribers, time.Since(start).Round(time.Millisecond))
			o := storetest.Data(b, storetest.ChatMessage)
			var watched atomic.Int64 // events appended to the followed room
			for _, conc := range []int{1, 8} {
				b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
					b.ReportAllocs()
					before, appended := cmds.Count(), watched.Load()
					storetest.Compare(b, conc, func(int) error {
						_, _, err := n.st.Append(ctx, "room", "watched", store.NewEvent{T: "msg", O: o})
						if err == nil {
							watched.Add(1)
						}
						return err
					}, func(int) error {
						_, _, err := n.st.Append(ctx, "room", "quiet", store.NewEvent{T: "msg", O: o})
						return err
					}, func() error {
						if err := n.st.Flush(ctx); err != nil {
							return err
						}
						return f.waitUntil(func() bool { return f.delivered.Load() >= subscribers*watched.Load() }, time.Minute)
					})
					b.ReportMetric(subscribers, "subscribers")
					// Both rooms' appends, and what the hub reads for them.
					b.ReportMetric(float64(cmds.Count()-before)/float64(2*(watched.Load()-appended)), "commands/append")
				})
			}
		})
	}
}

// BenchmarkDeliveryLatency: appends to a room at a steady 200 a second,
// 2,000 of them per op, with one stream following it; the time from an
// append's return to the stream being sent its event, p50 and p99 (targets
// < 5 ms and < 50 ms). An event sent before its append returned counts 0
// (delivered-early says how many). It also reports the appends' own p50
// and the rate reached, and the database commands per append (the append's
// and the hub's reads of the commit log).
func BenchmarkDeliveryLatency(b *testing.B) {
	const rate, appends = 200, 2000
	for _, backend := range storetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			ctx := context.Background()
			var cmds storetest.CommandCounter
			n := newNode(b, backend.Connect(b, storetest.Options{Monitor: cmds.Monitor()}), stream.Config{})
			if _, err := n.st.CreateContext(ctx, "room", "live", "", nil); err != nil {
				b.Fatal(err)
			}
			var mu sync.Mutex
			sent := map[string]time.Time{}
			f := followBench(b, n.hub, stream.Request{Ct: "room", Cid: "live", Transport: "bench"}, 1, func(e *eventstore.Event) {
				at := time.Now()
				mu.Lock()
				sent[e.ID] = at
				mu.Unlock()
			})
			o := storetest.Data(b, storetest.ChatMessage)
			b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
				b.ReportAllocs()
				var latency, took []time.Duration
				early := 0
				var elapsed time.Duration
				commands := cmds.Count()
				for range b.N {
					returned := make(map[string]time.Time, appends)
					before := f.delivered.Load()
					start := time.Now()
					for i := range appends {
						if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
							time.Sleep(d)
						}
						t0 := time.Now()
						e, _, err := n.st.Append(ctx, "room", "live", store.NewEvent{T: "msg", O: o})
						if err != nil {
							b.Fatal(err)
						}
						t1 := time.Now()
						returned[e.ID] = t1
						took = append(took, t1.Sub(t0))
					}
					elapsed += time.Since(start)
					if err := f.waitUntil(func() bool { return f.delivered.Load() >= before+appends }, time.Minute); err != nil {
						b.Fatalf("%d of %d events delivered: %v", f.delivered.Load()-before, appends, err)
					}
					mu.Lock()
					for id, t := range returned {
						at, ok := sent[id]
						if !ok {
							b.Fatalf("event %s was not delivered", id)
						}
						d := at.Sub(t)
						if d < 0 {
							early++
							d = 0
						}
						latency = append(latency, d)
					}
					mu.Unlock()
				}
				b.ReportMetric(percentile(latency, 0.50), "p50-ms")
				b.ReportMetric(percentile(latency, 0.99), "p99-ms")
				b.ReportMetric(percentile(latency, 1), "max-ms")
				b.ReportMetric(float64(early)/float64(len(latency)), "delivered-early")
				b.ReportMetric(percentile(took, 0.50), "append-p50-ms")
				b.ReportMetric(float64(len(took))/elapsed.Seconds(), "appends/s")
				// The appends' commands and the hub's reads of the commit log.
				b.ReportMetric(float64(cmds.Count()-commands)/float64(len(took)), "commands/append")
			})
		})
	}
}

// percentile is the p-quantile of ds in milliseconds (nearest rank).
func percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := max(int(math.Ceil(p*float64(len(s))))-1, 0)
	return s[i].Seconds() * 1000
}
