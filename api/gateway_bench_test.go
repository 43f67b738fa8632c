package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/api"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
	"github.com/eventstore-go/eventstore/stream"
)

// gatewayBench is a server with the gateway on a real store and hub, and
// its rooms room/fan and room/quiet.
type gatewayBench struct {
	st  *store.Store
	url string
}

func newGatewayBench(b *testing.B, backend storetest.Backend) *gatewayBench {
	b.Helper()
	return newGatewayBenchOf(b, backend, 0)
}

// newGatewayBenchOf is newGatewayBench on a store that holds stored events
// already, in rooms of 1,000 (storetest.Populate).
func newGatewayBenchOf(b *testing.B, backend storetest.Backend, stored int) *gatewayBench {
	b.Helper()
	conn := backend.Connect(b, storetest.Options{})
	st := storetest.NewStore(b, conn, "a.example", store.Options{})
	if stored > 0 {
		f := storetest.Populate(b, st, storetest.Fill{Rooms: max(1, stored/1000), Events: stored})
		b.Logf("filled %d events in %v", stored, f.Took.Round(time.Millisecond))
	}
	cursors := stream.NewCursors("a.example")
	h := stream.New(stream.Config{Store: st, Cursors: cursors})
	st.Follow(func(ct, _ string, _ []*eventstore.Event) { h.Committed(ct) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	srv := httptest.NewServer(api.New(api.Config{Store: st, Cursors: cursors, Hub: h,
		Gateway: api.GatewayConfig{MaxConnections: 1 << 20, DispatchRate: 1 << 20}}))
	b.Cleanup(func() { srv.Close(); cancel(); <-done })
	for _, cid := range []string{"fan", "quiet"} {
		if _, err := st.CreateContext(ctx, "room", cid, "", nil); err != nil {
			b.Fatal(err)
		}
	}
	return &gatewayBench{st: st, url: strings.Replace(srv.URL, "http", "ws", 1) + "/api/v1/gateway"}
}

// BenchmarkGatewayFanOut: one append, fanned out to 100, 1,000 and 4,000
// connected clients: the time until the last has it (target < 100 ms at
// 1,000).
func BenchmarkGatewayFanOut(b *testing.B) {
	for _, backend := range storetest.Backends() {
		for _, n := range []int{100, 1000, 4000} {
			b.Run(fmt.Sprintf("%s/clients=%d", backend.Name, n), func(b *testing.B) {
				fanOut(b, backend, n)
			})
		}
	}
}

func fanOut(b *testing.B, backend storetest.Backend, n int) {
	g := newGatewayBench(b, backend)
	clients := startBenchClients(b, g.url, n, "fan")
	var total, worst time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		e, _, err := g.st.Append(context.Background(), "room", "fan", store.NewEvent{T: "msg"})
		if err != nil {
			b.Fatal(err)
		}
		if line := clients.next(b, time.Minute); line != "all "+e.ID {
			b.Fatalf("client process: %q, want all %s", line, e.ID)
		}
		d := time.Since(start)
		total, worst = total+d, max(worst, d)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-last")
	b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
}

// BenchmarkGatewayAppendWithSubscribers: append throughput to room/fan
// with 1,000 connected gateway clients, against none, in one run (target:
// at least 0.8): ratio-same-room when the clients are subscribed to the
// room appended to (every append is a thousand deliveries, which take
// their share of the cores), ratio-other-room when they follow another
// room (what open connections cost appends). The clients are another
// process, on the same two cores.
func BenchmarkGatewayAppendWithSubscribers(b *testing.B) {
	for _, backend := range storetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			const subscribers = 1000
			rate := func(clientsOf string) float64 { // "" for no clients
				g := newGatewayBench(b, backend)
				var clients *benchClients
				if clientsOf != "" {
					clients = startBenchClients(b, g.url, subscribers, clientsOf)
				}
				const appends = 300
				start, serverCPU := time.Now(), storetest.ProcessCPU(os.Getpid())
				var clientCPU time.Duration
				if clients != nil {
					clientCPU = clients.cpu()
				}
				var last *eventstore.Event
				for range appends {
					e, _, err := g.st.Append(context.Background(), "room", "fan", store.NewEvent{T: "msg"})
					if err != nil {
						b.Fatal(err)
					}
					last = e
				}
				appended := time.Since(start)
				if clientsOf == "fan" { // and every client had every event
					for {
						if line := clients.next(b, time.Minute); line == "all "+last.ID {
							break
						}
					}
					wall := time.Since(start)
					b.ReportMetric(float64(wall.Milliseconds())/appends, "ms/event-delivered-to-all")
					deliveries := float64(appends * subscribers)
					server, client := storetest.ProcessCPU(os.Getpid())-serverCPU, clients.cpu()-clientCPU
					b.ReportMetric(float64(server.Microseconds())/deliveries, "server-cpu-µs/delivery")
					b.ReportMetric(float64(client.Microseconds())/deliveries, "client-cpu-µs/delivery")
					// How much of the machine the run kept busy: near 1, the
					// cores are what bounds the appends, not waiting.
					b.ReportMetric((server+client).Seconds()/(wall.Seconds()*float64(runtime.NumCPU())), "cores-busy-same-room")
				}
				return appends / appended.Seconds()
			}
			var alone, same, other float64
			for range b.N {
				alone += rate("")
				same += rate("fan")
				other += rate("quiet")
			}
			b.ReportMetric(alone/float64(b.N), "appends/s-alone")
			b.ReportMetric(same/float64(b.N), "appends/s-1000-subscribers")
			b.ReportMetric(same/alone, "ratio-same-room")
			b.ReportMetric(other/alone, "ratio-other-room")
		})
	}
}

// BenchmarkGatewayIdleMemory: the server's memory per idle, identified,
// subscribed connection (target < 20 KiB): KiB/conn is the heap in use
// (spans, holes included) and goroutine stacks, KiB-live/conn the live
// objects and stacks. The clients are another process.
func BenchmarkGatewayIdleMemory(b *testing.B) {
	for _, backend := range storetest.Backends() {
		for _, n := range []int{1000, 4000} {
			b.Run(fmt.Sprintf("%s/clients=%d", backend.Name, n), func(b *testing.B) {
				idleMemory(b, backend, n)
			})
		}
	}
}

func idleMemory(b *testing.B, backend storetest.Backend, n int) {
	var per, live, stacks, goroutines float64
	for range b.N {
		g := newGatewayBench(b, backend)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		clients := startBenchClients(b, g.url, n, "fan")
		time.Sleep(200 * time.Millisecond)
		for range 3 { // idle: stacks that grew while subscribing shrink at each collection
			runtime.GC()
		}
		runtime.ReadMemStats(&after)
		kib := func(after, before uint64) float64 { return float64(after-before) / float64(n) / 1024 }
		per += kib(after.HeapInuse+after.StackInuse, before.HeapInuse+before.StackInuse)
		live += kib(after.HeapAlloc+after.StackInuse, before.HeapAlloc+before.StackInuse)
		stacks += kib(after.StackInuse, before.StackInuse)
		goroutines += float64(runtime.NumGoroutine()-g0) / float64(n)
		clients.stop()
	}
	b.ReportMetric(per/float64(b.N), "KiB/conn")
	b.ReportMetric(live/float64(b.N), "KiB-live/conn")
	b.ReportMetric(stacks/float64(b.N), "KiB-stacks/conn")
	b.ReportMetric(goroutines/float64(b.N), "goroutines/conn")
}
