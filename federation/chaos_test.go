package federation_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faults injects network faults into a server's outbound requests, drawn
// from a seeded generator: dropped requests, lost answers, duplicated
// requests, 503 answers and delays (which reorder concurrent requests).
type faults struct {
	mu  sync.Mutex
	rng *rand.Rand
	on  atomic.Bool

	dropped, lost, duplicated, unavailable, delayed atomic.Int64
}

func newFaults(seed uint64) *faults {
	f := &faults{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	f.on.Store(true)
	return f
}

func (f *faults) draw() (float64, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.Float64(), time.Duration(f.rng.IntN(150)) * time.Millisecond
}

func (f *faults) total() int64 {
	return f.dropped.Load() + f.lost.Load() + f.duplicated.Load() + f.unavailable.Load() + f.delayed.Load()
}

func (f *faults) String() string {
	return fmt.Sprintf("dropped %d, answers lost %d, duplicated %d, 503 %d, delayed %d",
		f.dropped.Load(), f.lost.Load(), f.duplicated.Load(), f.unavailable.Load(), f.delayed.Load())
}

// transport wraps next with the faults.
func (f *faults) transport(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if !f.on.Load() || !strings.Contains(req.URL.Path, "/_federation/") || strings.HasSuffix(req.URL.Path, "/keys") {
			return next.RoundTrip(req)
		}
		p, delay := f.draw()
		switch {
		case p < 0.10:
			f.dropped.Add(1)
			return nil, errors.New("chaos: request dropped")
		case p < 0.15:
			f.unavailable.Add(1)
			return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
				Header: http.Header{"Content-Type": {"application/problem+json"}}, Request: req,
				Body: io.NopCloser(strings.NewReader(`{"code":"unavailable","status":503}`))}, nil
		case p < 0.20: // delivered, but the answer never comes back
			f.lost.Add(1)
			if res, err := next.RoundTrip(req); err == nil {
				res.Body.Close()
			}
			return nil, errors.New("chaos: answer lost")
		case p < 0.25: // the network delivers it twice
			f.duplicated.Add(1)
			body, _ := io.ReadAll(req.Body)
			for range 2 {
				dup := req.Clone(req.Context())
				dup.Body = io.NopCloser(bytes.NewReader(body))
				res, err := next.RoundTrip(dup)
				if err != nil {
					return nil, err
				}
				if res.StatusCode == http.StatusOK || res.StatusCode == http.StatusAccepted {
					return res, nil // the first answer; the copy is refused as a replay
				}
				res.Body.Close()
			}
			return nil, errors.New("chaos: duplicate answered first")
		case p < 0.45:
			f.delayed.Add(1)
			time.Sleep(delay)
		}
		return next.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (r roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return r(req) }

// chaosRun is one seeded run; it returns how long convergence took.
func chaosRun(t *testing.T, seed uint64, perWriter int) time.Duration {
	nodes := startNodes(t, "a.test", "b.test", "c.test")
	a, b, c := nodes["a.test"], nodes["b.test"], nodes["c.test"]
	all := []*node{a, b, c}
	a.must("POST", "/api/v1/contexts/room/chaos", `{}`, http.StatusCreated)
	share(t, a, "room", "chaos", b, c)
	var fs []*faults
	for i, n := range all {
		f := newFaults(seed*10 + uint64(i))
		fs = append(fs, f)
		n.out.through(f.transport(http.DefaultTransport))
	}
	// Writers on every server; only what a server acknowledged must survive.
	var mu sync.Mutex
	acked := map[string]string{}
	var wg sync.WaitGroup
	for _, n := range all {
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWriter {
					time.Sleep(10 * time.Millisecond) // spread the writes over the faulty period
					status, raw := n.tryDo("POST", "/api/v1/contexts/room/chaos/events",
						fmt.Sprintf(`{"t":"msg","o":{"from":"%s","w":%d,"i":%d}}`, n.name, w, i))
					if status != http.StatusCreated {
						continue // the server was restarting: not acknowledged
					}
					var e struct {
						ID string `json:"_id"`
					}
					_ = json.Unmarshal(raw, &e)
					mu.Lock()
					acked[e.ID] = n.name
					mu.Unlock()
				}
			}()
		}
	}
	time.Sleep(300 * time.Millisecond)
	b.restart() // mid-run: its process goes away and comes back on the same store
	wg.Wait()
	for _, f := range fs {
		f.on.Store(false)
	}
	start := time.Now()
	s := converge(t, "room", "chaos", 90*time.Second, all...)
	took := time.Since(start)
	for id, from := range acked {
		if _, ok := s.events[id]; !ok {
			t.Errorf("event %s acknowledged by %s is missing", id, from)
		}
	}
	for _, n := range all {
		var rep struct {
			Clean    bool  `json:"clean"`
			Problems []any `json:"problems"`
		}
		if err := json.Unmarshal(n.must("GET", "/api/v1/contexts/room/chaos/verify", "", http.StatusOK), &rep); err != nil {
			t.Fatal(err)
		}
		if !rep.Clean {
			t.Errorf("%s: audit found %v", n.name, rep.Problems)
		}
	}
	var injected []string
	var total int64
	for i, f := range fs {
		injected = append(injected, fmt.Sprintf("%s: %v", all[i].name, f))
		total += f.total()
	}
	t.Logf("seed %d: %d events (%d acknowledged), %d faults injected (%s), converged %v after the faults stopped",
		seed, len(s.events), len(acked), total, strings.Join(injected, "; "), took.Round(time.Millisecond))
	return took
}

// tryDo is do without failing the test on a network error.
func (n *node) tryDo(method, path, body string) (int, []byte) {
	req, _ := http.NewRequest(method, n.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw
}

// TestChaos runs a short set of seeds. make soak runs many more, longer:
// EVENTSTORE_SOAK_SEEDS (count) and EVENTSTORE_SOAK_EVENTS (per writer).
func TestChaos(t *testing.T) {
	seeds, perWriter := 2, 25
	if n, err := strconv.Atoi(os.Getenv("EVENTSTORE_SOAK_SEEDS")); err == nil && n > 0 {
		seeds = n
	}
	if n, err := strconv.Atoi(os.Getenv("EVENTSTORE_SOAK_EVENTS")); err == nil && n > 0 {
		perWriter = n
	}
	var worst time.Duration
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			worst = max(worst, chaosRun(t, seed, perWriter))
		})
	}
	t.Logf("%d seeds, %d appends per writer (6 writers): slowest convergence %v", seeds, perWriter, worst.Round(time.Millisecond))
}
