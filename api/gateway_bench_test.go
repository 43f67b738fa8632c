package api_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/api"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
	"github.com/eventstore-go/eventstore/stream"
)

// gatewayBench is a server with the gateway on a real store and hub, and
// its room room/fan.
type gatewayBench struct {
	st  *store.Store
	url string
}

func newGatewayBench(b *testing.B, backend storetest.Backend) *gatewayBench {
	b.Helper()
	conn := backend.Connect(b, storetest.Options{})
	var hub atomic.Pointer[stream.Hub]
	st := storetest.NewStore(b, conn, "a.example", store.Options{OnCommit: func(ct, _ string, _ []*eventstore.Event) {
		if h := hub.Load(); h != nil {
			h.Committed(ct)
		}
	}})
	h := stream.New(stream.Config{Store: st})
	hub.Store(h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	srv := httptest.NewServer(api.New(api.Config{Store: st, Hub: h,
		Gateway: api.GatewayConfig{MaxConnections: 1 << 20, DispatchRate: 1 << 20}}))
	b.Cleanup(func() { srv.Close(); cancel(); <-done })
	if _, err := st.CreateContext(ctx, "room", "fan", "", nil); err != nil {
		b.Fatal(err)
	}
	return &gatewayBench{st: st, url: strings.Replace(srv.URL, "http", "ws", 1) + "/api/v1/gateway"}
}

// clients connects n identified clients subscribed to room/fan from now;
// each calls got with every event id dispatched to it.
func (g *gatewayBench) clients(b *testing.B, n int, got func(id string)) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); wg.Wait() })
	var ready sync.WaitGroup
	for i := range n {
		c, _, err := websocket.Dial(ctx, g.url, nil)
		if err != nil {
			b.Fatal(err)
		}
		c.SetReadLimit(1 << 20)
		identify, _ := json.Marshal(map[string]any{"op": 1, "d": map[string]any{"client_id": "c" + strconv.Itoa(i),
			"subscribe": []map[string]string{{"ct": "room", "cid": "fan"}}}})
		if err := c.Write(ctx, websocket.MessageText, identify); err != nil {
			b.Fatal(err)
		}
		ready.Add(1)
		wg.Go(func() {
			defer c.CloseNow()
			isReady := false
			for {
				_, raw, err := c.Read(ctx)
				if err != nil {
					if !isReady {
						ready.Done()
					}
					return
				}
				var p struct {
					Op int `json:"op"`
					D  struct {
						ID string `json:"_id"`
					} `json:"d"`
				}
				_ = json.Unmarshal(raw, &p)
				switch {
				case p.Op == 2 && !isReady:
					isReady = true
					ready.Done()
				case p.Op == 4 && got != nil:
					got(p.D.ID)
				}
			}
		})
	}
	ready.Wait()
}

// BenchmarkGatewayFanOut: one append, fanned out to 1,000 connected
// clients: the time until the last has it (target < 100 ms).
func BenchmarkGatewayFanOut(b *testing.B) {
	for _, backend := range storetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			g := newGatewayBench(b, backend)
			const n = 1000
			var mu sync.Mutex
			want, have := "", 0
			all := make(chan struct{}, 1)
			g.clients(b, n, func(id string) {
				mu.Lock()
				defer mu.Unlock()
				if id == want {
					if have++; have == n {
						all <- struct{}{}
					}
				}
			})
			var total, worst time.Duration
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				mu.Lock()
				e, _, err := g.st.Append(context.Background(), "room", "fan", store.NewEvent{T: "msg"})
				if err != nil {
					mu.Unlock()
					b.Fatal(err)
				}
				want, have = e.ID, 0
				mu.Unlock()
				select {
				case <-all:
				case <-time.After(time.Minute):
					b.Fatalf("%d of %d clients got the event", have, n)
				}
				d := time.Since(start)
				total, worst = total+d, max(worst, d)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-last")
			b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
		})
	}
}

// BenchmarkGatewayAppendWithSubscribers: append throughput with 1,000
// connected gateway subscribers of the room, against none, in one run
// (target: at least 0.8).
func BenchmarkGatewayAppendWithSubscribers(b *testing.B) {
	for _, backend := range storetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			rate := func(subscribers int) float64 {
				g := newGatewayBench(b, backend)
				if subscribers > 0 {
					g.clients(b, subscribers, nil)
				}
				const appends = 300
				start := time.Now()
				for range appends {
					if _, _, err := g.st.Append(context.Background(), "room", "fan", store.NewEvent{T: "msg"}); err != nil {
						b.Fatal(err)
					}
				}
				return appends / time.Since(start).Seconds()
			}
			var alone, with float64
			for range b.N {
				alone += rate(0)
				with += rate(1000)
			}
			b.ReportMetric(alone/float64(b.N), "appends/s-alone")
			b.ReportMetric(with/float64(b.N), "appends/s-1000-subscribers")
			b.ReportMetric(with/alone, "ratio")
		})
	}
}

// BenchmarkGatewayIdleMemory: heap per idle, identified, subscribed
// connection (target < 20 KiB). The clients live in the same process, so
// this counts both ends: an upper bound for the server's share.
func BenchmarkGatewayIdleMemory(b *testing.B) {
	for _, backend := range storetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			const n = 1000
			var per float64
			for range b.N {
				g := newGatewayBench(b, backend)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				g.clients(b, n, nil)
				time.Sleep(200 * time.Millisecond)
				runtime.GC()
				runtime.ReadMemStats(&after)
				per += float64(after.HeapInuse-before.HeapInuse) / n / 1024
			}
			b.ReportMetric(per/float64(b.N), "KiB/conn-both-ends")
		})
	}
}
