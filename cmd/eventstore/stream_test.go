package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sseMessage is one Server-Sent Events message.
type sseMessage struct{ event, id, data string }

// readSSE reads messages until the stream ends or fn returns false.
// Comments (heartbeats) come as event ":".
func readSSE(r io.Reader, fn func(sseMessage) bool) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var m sseMessage
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if m != (sseMessage{}) && !fn(m) {
				return nil
			}
			m = sseMessage{}
		case strings.HasPrefix(line, ":"):
			m.event = ":"
		default:
			field, value, _ := strings.Cut(line, ": ")
			switch field {
			case "event":
				m.event = value
			case "id":
				m.id = value
			case "data":
				m.data = value
			}
		}
	}
}

// openStream GETs a stream; lastID, if set, goes as Last-Event-ID.
func openStream(ctx context.Context, url, lastID string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	return http.DefaultClient.Do(req)
}

// listAllIDs lists a room's events in timeline order.
func listAllIDs(t *testing.T, s *testServer, room string) []string {
	t.Helper()
	var ids []string
	from := ""
	for {
		r := s.do("GET", room+"/events?limit=1000"+from, nil)
		var page struct {
			Events []struct {
				ID string `json:"_id"`
			} `json:"events"`
			Next string `json:"next"`
		}
		r.decode(t, &page)
		for _, e := range page.Events {
			ids = append(ids, e.ID)
		}
		if page.Next == "" {
			return ids
		}
		from = "&from=" + page.Next
	}
}

func appendOver(t *testing.T, s *testServer, room string, writers, n int, o string) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range n {
				r := s.do("POST", room+"/events", fmt.Sprintf(`{"t":"msg","o":{"w":%d,"i":%d%s}}`, w, i, o))
				if r.Status != http.StatusCreated {
					t.Errorf("append: %d %s", r.Status, r.Body)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestStreamOverHTTP: an EventSource-like client that drops its connection
// at random moments and reconnects with Last-Event-ID — also across a
// restart of the server on the same data — ends with every event of the
// room once, in timeline order, while 8 writers append.
func TestStreamOverHTTP(t *testing.T) {
	dir := t.TempDir()
	srv := startServerIn(t, dir, nil)
	const room = "/api/v1/contexts/room/live"
	if r := srv.do("POST", room, `{"o":{}}`); r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var base atomic.Value
	base.Store(srv.URL)
	var mu sync.Mutex
	var got []string
	last := ""
	caughtUp, connections := 0, 0
	done, followed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(followed)
		rng := rand.New(rand.NewPCG(5, 6))
		for {
			select {
			case <-done:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(200+rng.IntN(1300))*time.Millisecond)
			mu.Lock()
			from := last
			mu.Unlock()
			resp, err := openStream(ctx, base.Load().(string)+room+"/stream?from=start", from)
			if err != nil {
				cancel()
				time.Sleep(20 * time.Millisecond) // the server is restarting
				continue
			}
			connections++
			if resp.StatusCode != http.StatusOK {
				body, _ := io.ReadAll(resp.Body)
				t.Errorf("stream: %d %s", resp.StatusCode, body)
			}
			_ = readSSE(resp.Body, func(m sseMessage) bool {
				mu.Lock()
				defer mu.Unlock()
				switch m.event {
				case "":
					var e struct {
						ID string `json:"_id"`
					}
					if err := json.Unmarshal([]byte(m.data), &e); err != nil {
						t.Errorf("event data %q: %v", m.data, err)
					}
					got, last = append(got, e.ID), m.id
				case "caught-up":
					caughtUp++
					last = m.id
				}
				return true
			})
			resp.Body.Close()
			cancel()
		}
	}()
	appendOver(t, srv, room, 8, 15, "")
	srv.Stop()
	srv = startServerIn(t, dir, nil)
	base.Store(srv.URL)
	appendOver(t, srv, room, 8, 15, "")
	want := listAllIDs(t, srv, room)
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(done)
	<-followed
	if !slices.Equal(got, want) {
		t.Fatalf("the stream delivered %d events, not the room's %d once each in timeline order", len(got), len(want))
	}
	if caughtUp == 0 {
		t.Error("no caught-up message")
	}
	t.Logf("%d events over %d connections", len(got), connections)
}

// TestSlowStreamClientIsReset: a client that stops reading does not hold
// the writers up; when it reads again it finds the events in order and
// then a reset, whose cursor resumes exactly.
func TestSlowStreamClientIsReset(t *testing.T) {
	srv := startServer(t, nil, "--stream-buffer", "2")
	const room = "/api/v1/contexts/room/slow"
	if r := srv.do("POST", room, `{"o":{}}`); r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	resp, err := openStream(t.Context(), srv.URL+room+"/stream?from=start", "")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %v %v", resp, err)
	}
	defer resp.Body.Close()
	// 200 events of 60 KiB: more than the sockets between us hold.
	start := time.Now()
	appendOver(t, srv, room, 8, 25, `,"pad":"`+strings.Repeat("x", 60<<10)+`"`)
	t.Logf("200 appends with a stuck stream took %v", time.Since(start).Round(time.Millisecond))
	var got []string
	reset := ""
	err = readSSE(resp.Body, func(m sseMessage) bool {
		switch m.event {
		case "":
			var e struct {
				ID string `json:"_id"`
			}
			if err := json.Unmarshal([]byte(m.data), &e); err != nil {
				t.Fatal(err)
			}
			got = append(got, e.ID)
		case "reset":
			if m.id != m.data {
				t.Errorf("reset id %q and data %q differ", m.id, m.data)
			}
			reset = m.id
		}
		return true
	})
	if err != io.EOF || reset == "" {
		t.Fatalf("the stuck stream ended with %v after %d events, reset %q; want a reset and the end", err, len(got), reset)
	}
	resumed, err := openStream(t.Context(), srv.URL+room+"/stream?from=start", reset)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Body.Close()
	_ = readSSE(resumed.Body, func(m sseMessage) bool {
		if m.event == "" {
			var e struct {
				ID string `json:"_id"`
			}
			_ = json.Unmarshal([]byte(m.data), &e)
			got = append(got, e.ID)
		}
		return m.event != "caught-up"
	})
	if want := listAllIDs(t, srv, room); !slices.Equal(got, want) {
		t.Fatalf("before and after the reset: %d events, want the room's %d once each in order", len(got), len(want))
	}
}

// TestStreamRefusals: bad stream requests get problem answers before any
// stream starts; an idle stream sends heartbeats.
func TestStreamRefusals(t *testing.T) {
	srv := startServer(t, nil, "--stream-heartbeat", "100ms")
	const room = "/api/v1/contexts/room/r"
	if r := srv.do("POST", room, `{"o":{}}`); r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	for _, c := range []struct {
		name, path string
		header     []string
		status     int
		code       string
	}{
		{"bad from", room + "/stream?from=bogus", nil, 400, "invalid_cursor"},
		{"bad Last-Event-ID", room + "/stream", []string{"Last-Event-ID", "0.1.0.x"}, 400, "invalid_cursor"},
		{"a room that does not exist", "/api/v1/contexts/room/other/stream?from=start", nil, 404, "not_found"},
		{"bad type filter", room + "/stream?t=A*", nil, 400, "invalid_request"},
		{"unknown parameter", room + "/stream?dir=b", nil, 400, "invalid_request"},
		{"bad context type", "/api/v1/stream?ct=Room", nil, 400, "invalid_request"},
		{"bad server cursor", "/api/v1/stream?from=room:1.0~x", nil, 400, "invalid_cursor"},
	} {
		r := srv.do("GET", c.path, nil, c.header...)
		if r.Status != c.status || r.Problem.Code != c.code || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: %d %q (%s), want %d %q", c.name, r.Status, r.Problem.Code, r.Header.Get("Content-Type"), c.status, c.code)
		}
	}
	// A room cursor is refused by another room.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	resp, err := openStream(ctx, srv.URL+room+"/stream", "")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	var cursor string
	beats := 0
	_ = readSSE(resp.Body, func(m sseMessage) bool {
		switch m.event {
		case "caught-up":
			cursor = m.data
		case ":":
			beats++
		}
		return beats < 2
	})
	if beats < 2 || cursor == "" {
		t.Fatalf("idle stream: caught-up %q, %d heartbeats", cursor, beats)
	}
	if r := srv.do("POST", "/api/v1/contexts/room/other", `{"o":{}}`); r.Status != http.StatusCreated {
		t.Fatal(r.Status)
	}
	if r := srv.do("GET", "/api/v1/contexts/room/other/stream", nil, "Last-Event-ID", cursor); r.Status != 400 || r.Problem.Code != "invalid_cursor" {
		t.Errorf("another room's cursor: %d %q", r.Status, r.Problem.Code)
	}
	// Connections that go away leave no stream behind on the server.
	for range 10 {
		sctx, stop := context.WithCancel(t.Context())
		resp, err := openStream(sctx, srv.URL+"/api/v1/stream?from=start", "")
		if err != nil {
			t.Fatal(err)
		}
		_ = readSSE(resp.Body, func(m sseMessage) bool { return m.event != "caught-up" })
		stop()
		resp.Body.Close()
	}
	resp.Body.Close()
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "stream.(*Hub).Follow") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("streams still running on the server after their clients went away:\n%s", stacks)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
