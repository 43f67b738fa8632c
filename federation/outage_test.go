package federation_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/federation"
)

// TestPeerDownWhileAppending: B is down while A appends 1,000 events; A's
// sender restarts once in the middle; B comes back; all 1,000 arrive.
func TestPeerDownWhileAppending(t *testing.T) {
	nodes := startNodes(t, "a.test", "b.test")
	a, b := nodes["a.test"], nodes["b.test"]
	a.must("POST", "/api/v1/contexts/room/r1", `{}`, http.StatusCreated)
	share(t, a, "room", "r1", b)
	converge(t, "room", "r1", 30*time.Second, a, b)
	b.stop()

	const total, writers = 1000, 8
	write := func(from, to int) {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := from + w; i < to; i += writers {
					if status, raw := a.do("POST", "/api/v1/contexts/room/r1/events", fmt.Sprintf(`{"t":"msg","o":{"n":%d}}`, i)); status != http.StatusCreated {
						t.Errorf("append %d: %d %s", i, status, raw)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	write(0, total/2)
	a.restart() // the sender forgets everything it had in memory
	write(total/2, total)
	if t.Failed() {
		return
	}

	// An operator looking at A now sees B failing, with a backlog.
	down := waitStatus(t, a, "b.test", func(p federation.PeerStatus) bool {
		return p.Failing && p.Retries > 0 && p.OutboxVersions > 0 && !p.OldestUndelivered.IsZero()
	})
	if down.LastError == "" {
		t.Errorf("failing peer without an error: %+v", down)
	}
	m := peerMetrics(t, a, "b.test")
	if m["eventstore_federation_retries_total"] < 1 || m["eventstore_federation_outbox_versions"] < 1 ||
		m["eventstore_federation_oldest_undelivered_seconds"] <= 0 {
		t.Errorf("metrics while B is down: %v", m)
	}

	start := time.Now()
	b.start()
	s := converge(t, "room", "r1", 60*time.Second, a, b)
	if got, want := len(s.events), 2+total; got != want { // genesis, server.join, messages
		t.Fatalf("%d events, want %d", got, want)
	}
	t.Logf("B caught up with %d events %v after it came back", total, time.Since(start).Round(time.Millisecond))

	// And once B has everything, the backlog is gone.
	up := waitStatus(t, a, "b.test", func(p federation.PeerStatus) bool {
		return !p.Failing && p.OutboxVersions == 0 && p.OldestUndelivered.IsZero()
	})
	if !up.LastSuccess.After(start) {
		t.Errorf("last success %v, before B came back at %v", up.LastSuccess, start)
	}
	m = peerMetrics(t, a, "b.test")
	if m["eventstore_federation_outbox_versions"] != 0 || m["eventstore_federation_last_delivery_timestamp_seconds"] < float64(start.Unix()) {
		t.Errorf("metrics after catch-up: %v", m)
	}
}

// waitStatus polls n's GET /api/v1/federation/status until peer's entry
// satisfies ok, and returns it.
func waitStatus(t *testing.T, n *node, peer string, ok func(federation.PeerStatus) bool) federation.PeerStatus {
	t.Helper()
	var last federation.PeerStatus
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var body struct{ Peers []federation.PeerStatus }
		if err := json.Unmarshal(n.must("GET", "/api/v1/federation/status", "", http.StatusOK), &body); err != nil {
			t.Fatal(err)
		}
		for _, p := range body.Peers {
			if p.Peer == peer {
				if last = p; ok(p) {
					return p
				}
			}
		}
	}
	t.Fatalf("%s's status of %s never got there; last %+v", n.name, peer, last)
	return last
}

// peerMetrics gathers n's federation metrics labelled with peer, by name.
func peerMetrics(t *testing.T, n *node, peer string) map[string]float64 {
	t.Helper()
	families, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "peer" && l.GetValue() == peer {
					out[f.GetName()] += m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}
