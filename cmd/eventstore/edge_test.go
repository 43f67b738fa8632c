package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRefusedRequestIsNotHeldByItsBody sends requests that are refused
// before their body matters, with a body announced as 100 bytes of which
// one arrives: each must be answered without the rest, and the connection
// closed after the answer (else net/http would wait for up to 256 KiB of
// it, for as long as the client liked).
func TestRefusedRequestIsNotHeldByItsBody(t *testing.T) {
	srv := startServer(t, nil, "--token", "admin:"+strings.Repeat("s", 32))
	for _, tc := range []struct {
		name, method, path string
		want               int
	}{
		{"client API without a token", "POST", "/api/v1/contexts/room/r/events", http.StatusUnauthorized},
		{"client API, unknown path", "POST", "/api/v1/nothing/here", http.StatusNotFound},
		{"client API, method not allowed", "PUT", "/api/v1/contexts/room/r", http.StatusMethodNotAllowed},
		{"federation, unsigned", "PUT", "/_federation/v1/send/x", http.StatusUnauthorized},
		{"federation, unknown path", "POST", "/_federation/v1/nothing", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// The deadline only bounds the test: a server that waits for
			// the other 99 bytes never answers.
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			head := tc.method + " " + tc.path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
			if _, err := io.WriteString(conn, head); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer while the body is incomplete: %v", err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.want, body)
			}
			if !res.Close {
				t.Errorf("the answer does not close the connection (Connection: %q)", res.Header.Get("Connection"))
			}
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				t.Errorf("the connection stays open after the answer: %v", err)
			}
		})
	}
	// Every refused connection's goroutine is gone, not waiting for the
	// bodies that never come (bounded: a few seconds at most).
	left := httpConnGoroutines()
	for i := 0; i < 50 && left > 0; i++ {
		time.Sleep(100 * time.Millisecond)
		left = httpConnGoroutines()
	}
	if left > 0 {
		t.Errorf("%d goroutines still serve HTTP connections after the refused requests", left)
	}
}

// httpConnGoroutines counts the goroutines serving an HTTP connection
// (net/http's conn.serve) in this process.
func httpConnGoroutines() int {
	buf := make([]byte, 8<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "net/http.(*conn).serve(")
}

// TestOutOfSpaceOverHTTP fills a small filesystem under a real server:
// appends are then answered 503 out_of_space with Retry-After, /readyz is
// not ready, the metric says so and one error-level line names the cause;
// once space is back, appends go on, every acknowledged event is there
// and the room verifies. Mounting needs root (CI has it); the store's
// TestOutOfSpace covers the store's side everywhere.
func TestOutOfSpaceOverHTTP(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("skipped: mounting a small filesystem needs root here (%v: %s); store's TestOutOfSpace still runs", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() }) // after the server stops
	srv := startServerIn(t, filepath.Join(dir, "data"), nil)
	srv.do("POST", "/api/v1/contexts/room/full", map[string]any{"t": "room", "o": map[string]any{}}).must(t, http.StatusCreated)

	// Ballast takes all but ~1.5 MiB, so that the disk fills quickly.
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	ballast := filepath.Join(dir, "ballast")
	if free := int64(fs.Bavail) * fs.Bsize; free > 3<<20 {
		if err := os.WriteFile(ballast, make([]byte, free-(3<<20)/2), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	acked := map[string]bool{}
	msg := strings.Repeat("x", 2000)
	var full *response
	for i := 0; i < 5000 && full == nil; i++ {
		r := srv.do("POST", "/api/v1/contexts/room/full/events", map[string]any{"t": "msg", "o": map[string]any{"msg": msg, "i": i}})
		switch r.Status {
		case http.StatusCreated:
			var e struct {
				ID string `json:"_id"`
			}
			r.decode(t, &e)
			acked[e.ID] = true
		default:
			full = r
		}
	}
	if full == nil {
		t.Fatal("5,000 appends and the disk is not full")
	}
	if full.Status != http.StatusServiceUnavailable || full.Problem.Code != "out_of_space" || full.Header.Get("Retry-After") == "" ||
		!strings.Contains(full.Problem.Detail, "out of space") {
		t.Fatalf("append on a full disk: %d %s (Retry-After %q)", full.Status, full.Body, full.Header.Get("Retry-After"))
	}
	for range 3 { // more refused appends: still one log line
		srv.do("POST", "/api/v1/contexts/room/full/events", map[string]any{"t": "msg", "o": map[string]any{"msg": msg}}).must(t, http.StatusServiceUnavailable)
	}
	if r := srv.do("GET", "/readyz", nil); r.Status != http.StatusServiceUnavailable || r.Problem.Code != "out_of_space" {
		t.Errorf("/readyz on a full disk: %d %s", r.Status, r.Body)
	}
	if m := srv.do("GET", "/metrics", nil); !strings.Contains(string(m.Body), "\neventstore_store_out_of_space 1\n") {
		t.Error("eventstore_store_out_of_space is not 1 on a full disk")
	}
	var errorLines []string
	for _, line := range strings.Split(srv.Log.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			errorLines = append(errorLines, line)
		}
	}
	if len(errorLines) != 1 || !strings.Contains(errorLines[0], "out of space") || !strings.Contains(errorLines[0], "database or disk is full") {
		t.Errorf("want one error-level line naming the cause, got %d:\n%s", len(errorLines), strings.Join(errorLines, "\n"))
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	ready := false
	for range 100 { // /readyz probes at most once a second
		if srv.do("GET", "/readyz", nil).Status == http.StatusOK {
			ready = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !ready {
		t.Fatal("/readyz not ready 10 s after space came back")
	}
	r := srv.do("POST", "/api/v1/contexts/room/full/events", map[string]any{"t": "msg", "o": map[string]any{"msg": "after"}}).must(t, http.StatusCreated)
	var after struct {
		ID string `json:"_id"`
	}
	r.decode(t, &after)
	acked[after.ID] = true
	if m := srv.do("GET", "/metrics", nil); !strings.Contains(string(m.Body), "\neventstore_store_out_of_space 0\n") {
		t.Error("eventstore_store_out_of_space is not 0 once space is back")
	}
	stored := map[string]bool{}
	for from := ""; ; {
		var page struct {
			Events []struct {
				ID string `json:"_id"`
			} `json:"events"`
			Next string `json:"next"`
		}
		srv.do("GET", "/api/v1/contexts/room/full/events?limit=1000&from="+url.QueryEscape(from), nil).must(t, http.StatusOK).decode(t, &page)
		for _, e := range page.Events {
			stored[e.ID] = true
		}
		if from = page.Next; from == "" {
			break
		}
	}
	for id := range acked {
		if !stored[id] {
			t.Errorf("acknowledged event %s is not stored", id)
		}
	}
	var rep struct {
		Clean bool `json:"clean"`
	}
	srv.do("GET", "/api/v1/contexts/room/full/verify", nil).must(t, http.StatusOK).decode(t, &rep)
	if !rep.Clean {
		t.Error("the room does not verify after the disk was full")
	}
}

// TestClidReusedForAnotherMessage: a retry (same clid, t and o) gets the
// first event back with 200, carrying isLeaf as the first answer did;
// the same clid with other data or another type is refused with 409
// clid_conflict, and nothing is stored. A deleted first event still
// tells a retry from another message (by its dHash).
func TestClidReusedForAnotherMessage(t *testing.T) {
	srv := startServer(t, nil)
	const room = "/api/v1/contexts/room/clids"
	srv.do("POST", room, `{}`).must(t, http.StatusCreated)
	first := srv.do("POST", room+"/events", `{"t":"msg","o":{"msg":"hi"},"clid":"c-1"}`).must(t, http.StatusCreated)
	again := srv.do("POST", room+"/events", `{"clid":"c-1","o":{"msg":"hi"},"t":"msg"}`).must(t, http.StatusOK)
	if !bytes.Equal(first.Body, again.Body) {
		t.Errorf("a retry's answer differs from the first:\n first %s\n again %s", first.Body, again.Body)
	}
	count := func() int {
		var sum struct {
			Count int `json:"count"`
		}
		srv.do("GET", room, nil).must(t, http.StatusOK).decode(t, &sum)
		return sum.Count
	}
	before := count()
	for _, body := range []string{
		`{"t":"msg","o":{"msg":"another message"},"clid":"c-1"}`,
		`{"t":"note","o":{"msg":"hi"},"clid":"c-1"}`,
		`{"t":"msg","clid":"c-1"}`,
	} {
		r := srv.do("POST", room+"/events", body)
		if r.Status != http.StatusConflict || r.Problem.Code != "clid_conflict" || !strings.Contains(r.Problem.Detail, "c-1") {
			t.Errorf("%s: %d %s, want 409 clid_conflict", body, r.Status, r.Body)
		}
	}
	if n := count(); n != before {
		t.Errorf("refused reuses stored events: count %d, was %d", n, before)
	}
	// Once the event has a child, a retry gets it without isLeaf.
	srv.do("POST", room+"/events", `{"t":"msg","o":{"msg":"next"}}`).must(t, http.StatusCreated)
	later := srv.do("POST", room+"/events", `{"t":"msg","o":{"msg":"hi"},"clid":"c-1"}`).must(t, http.StatusOK)
	if bytes.Contains(later.Body, []byte(`"isLeaf"`)) {
		t.Errorf("a retry of an event that is no longer a leaf says isLeaf: %s", later.Body)
	}
	var e struct {
		ID string `json:"_id"`
	}
	first.decode(t, &e)
	srv.do("DELETE", room+"/events/"+e.ID, nil).must(t, http.StatusCreated)
	srv.do("POST", room+"/events", `{"t":"msg","o":{"msg":"hi"},"clid":"c-1"}`).must(t, http.StatusOK)
	if r := srv.do("POST", room+"/events", `{"t":"msg","o":{"msg":"other"},"clid":"c-1"}`); r.Problem.Code != "clid_conflict" {
		t.Errorf("another message with the clid of a deleted event: %d %s", r.Status, r.Body)
	}
}

// TestListFromStart: listings take from=start as streams do: oldest first
// it is the same as no from, newest first an empty page at the start.
func TestListFromStart(t *testing.T) {
	srv := startServer(t, nil)
	const room = "/api/v1/contexts/room/fromstart"
	srv.do("POST", room, `{}`).must(t, http.StatusCreated)
	srv.do("POST", room+"/events", `{"t":"msg","o":{"msg":"one"}}`).must(t, http.StatusCreated)
	plain := srv.do("GET", room+"/events?limit=1", nil).must(t, http.StatusOK)
	fromStart := srv.do("GET", room+"/events?limit=1&from=start", nil).must(t, http.StatusOK)
	if !bytes.Equal(plain.Body, fromStart.Body) {
		t.Errorf("from=start oldest first differs from no from:\n%s\n%s", fromStart.Body, plain.Body)
	}
	var page struct {
		Events []json.RawMessage `json:"events"`
		Start  string            `json:"start"`
		Next   string            `json:"next"`
	}
	srv.do("GET", room+"/events?dir=b&from=start", nil).must(t, http.StatusOK).decode(t, &page)
	var first struct {
		Start string `json:"start"`
	}
	plain.decode(t, &first)
	if len(page.Events) != 0 || page.Next != "" || page.Start != first.Start {
		t.Errorf("newest first from the start: %d events, next %q, start %q (want the timeline's start %q)", len(page.Events), page.Next, page.Start, first.Start)
	}
}
