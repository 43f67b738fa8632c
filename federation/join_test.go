package federation_test

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestCloseWhileJoining: B is invited to a room but cannot reach A for the
// history, so its join retries with growing waits; closing B's federation
// stops the join at once instead of waiting the retries out.
func TestCloseWhileJoining(t *testing.T) {
	nodes := startNodes(t, "a.test", "b.test")
	a, b := nodes["a.test"], nodes["b.test"]
	var fetches atomic.Int32
	b.out.set(func(req *http.Request) error {
		if req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/contexts/room/r1/events") {
			fetches.Add(1)
			return errors.New("a.test is unreachable")
		}
		return nil
	})
	a.must("POST", "/api/v1/contexts/room/r1", `{}`, http.StatusCreated)
	a.must("POST", "/api/v1/contexts/room/r1/servers", `{"server":"b.test"}`, http.StatusCreated)
	for deadline := time.Now().Add(30 * time.Second); fetches.Load() < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("B tried to fetch the history %d times, want 3", fetches.Load())
		}
	}

	start := time.Now()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		b.fed.Close()
	}()
	select {
	case <-closed:
		t.Logf("Close returned after %v, %d fetches", time.Since(start).Round(time.Millisecond), fetches.Load())
	case <-time.After(3 * time.Second):
		t.Fatalf("Close still waits %v after it was called: the join does not stop", time.Since(start).Round(time.Millisecond))
	}
}
