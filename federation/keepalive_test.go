package federation_test

import (
	"io"
	"net/http"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/federation"
)

// TestSlowRequestLeavesItsConnectionUsable: the body timeout of federation
// requests must not outlive the request. A request without a body has
// net/http already reading the connection behind the handler; a read
// deadline set then fires in that read once the handler runs past it, and
// net/http cancels the connection's context: every later request on the
// keep-alive connection failed at once with "context canceled" (TestChaos
// got a 500 from GET …/verify that way, on a connection a peer's history
// request had used). Here the body timeout is 1 ns, which any handler runs
// past.
func TestSlowRequestLeavesItsConnectionUsable(t *testing.T) {
	a, b, _ := sharedRoom(t)
	b.stop()
	b.configure = func(c *federation.Config) { c.BodyTimeout = time.Nanosecond }
	b.start()

	tr := &http.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	reused := false
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	call := func(req *http.Request) (int, []byte) {
		t.Helper()
		res, err := client.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res.StatusCode, raw
	}
	for i := range 3 {
		history, _ := http.NewRequest("GET", b.url+federation.Prefix+"/contexts/room/r1/events", nil)
		federation.SignRequest(history, a.keys.Current, "a.test", "b.test", nil, time.Now())
		if status, raw := call(history); status != http.StatusOK {
			t.Fatalf("history %d: %d %s", i, status, raw)
		}
		read, _ := http.NewRequest("GET", b.url+"/api/v1/contexts/room/r1/events", nil)
		if status, raw := call(read); status != http.StatusOK || !reused {
			t.Fatalf("read %d after a federation request on the same connection (reused %v): %d %s", i, reused, status, raw)
		}
	}
}
