package federation_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventstore-go/eventstore/federation"
)

// countingTransport counts the transactions a process pushes.
type countingTransport struct{ sends atomic.Int64 }

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/send/") {
		c.sends.Add(1)
	}
	return http.DefaultTransport.RoundTrip(req)
}

func peerStatus(f *federation.Federation, peer string) federation.PeerStatus {
	for _, p := range f.Status() {
		if p.Peer == peer {
			return p
		}
	}
	return federation.PeerStatus{}
}

// TestOneSenderPerPeer: two eventstore processes share A's database; only
// the one holding the lease pushes to B, and when it stops, the other
// takes over and delivers what came after.
func TestOneSenderPerPeer(t *testing.T) {
	nodes := startNodes(t, "a.test", "b.test")
	a, b := nodes["a.test"], nodes["b.test"]
	a.must("POST", "/api/v1/contexts/room/lease", `{}`, http.StatusCreated)
	share(t, a, "room", "lease", b)

	// The first process's sends, and a second process on the same database.
	first := &countingTransport{}
	a.out.through(first)
	second := &countingTransport{}
	f2, err := federation.New(federation.Config{Server: "a.test", Store: a.st, DB: a.conn, Keys: a.keys, Peers: a.peers,
		Client: &http.Client{Transport: second, Timeout: 10 * time.Second}, Poll: 100 * time.Millisecond,
		Sweep: 300 * time.Millisecond, AntiEntropy: time.Hour, MaxBackoff: time.Second,
		Metrics: federation.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	f2.Start(context.Background())
	closed2 := false
	defer func() {
		if !closed2 {
			f2.Close()
		}
	}()

	// While both run, at most one holds the lease at any moment.
	stop := make(chan struct{})
	both := make(chan bool, 1)
	go func() {
		overlap := false
		for {
			select {
			case <-stop:
				both <- overlap
				return
			case <-time.After(20 * time.Millisecond):
			}
			if peerStatus(a.fed, "b.test").Sending && peerStatus(f2, "b.test").Sending {
				overlap = true
			}
		}
	}()
	appendAll(t, "room", "lease", 30, a)
	converge(t, "room", "lease", 30*time.Second, a, b)
	close(stop)
	if <-both {
		t.Error("both processes held the lease to b.test at once")
	}
	n1, n2 := first.sends.Load(), second.sends.Load()
	if (n1 == 0) == (n2 == 0) {
		t.Fatalf("transactions sent by the first process %d, by the second %d; want exactly one of them sending", n1, n2)
	}

	// The holder stops (releasing the lease); the other takes over.
	holder, other := a.fed, f2
	otherSends := second
	if n2 > 0 {
		holder, other, otherSends = f2, a.fed, first
	}
	if holder == f2 {
		f2.Close()
		closed2 = true
	} else {
		a.fed.Close()
	}
	before := otherSends.sends.Load()
	appendAll(t, "room", "lease", 20, a)
	converge(t, "room", "lease", 30*time.Second, a, b)
	if otherSends.sends.Load() == before {
		t.Error("the remaining process sent nothing after the holder stopped")
	}
	if !peerStatus(other, "b.test").Sending {
		t.Error("the remaining process does not report that it sends to b.test")
	}
}
