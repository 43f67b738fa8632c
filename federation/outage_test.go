package federation_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
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
	start := time.Now()
	b.start()
	s := converge(t, "room", "r1", 60*time.Second, a, b)
	if got, want := len(s.events), 2+total; got != want { // genesis, server.join, messages
		t.Fatalf("%d events, want %d", got, want)
	}
	t.Logf("B caught up with %d events %v after it came back", total, time.Since(start).Round(time.Millisecond))
}
