package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/client"
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

// listAllIDs lists room/cid's events in timeline order.
func listAllIDs(t *testing.T, c *apiClient, cid string) []string {
	t.Helper()
	var ids []string
	for e, err := range c.Events(t.Context(), "room", cid, client.ListOptions{Limit: 1000}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// appendOver has writers append n messages each to room/cid at once; pad,
// if set, goes in every message.
func appendOver(t *testing.T, c *apiClient, cid string, writers, n int, pad string) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range n {
				o := map[string]any{"w": w, "i": i}
				if pad != "" {
					o["pad"] = pad
				}
				if _, created, err := c.Append(t.Context(), "room", cid, client.NewEvent{T: "msg", O: o}); err != nil || !created {
					t.Errorf("append: created %v, %v", created, err) // created: the answer was 201
					return
				}
			}
		})
	}
	wg.Wait()
}

// createRoom creates room/cid through c.
func createRoom(t *testing.T, c *apiClient, cid string) {
	t.Helper()
	if _, err := c.CreateContext(t.Context(), "room", cid, client.NewContext{O: map[string]any{}}); err != nil {
		t.Fatalf("create: %v", err)
	}
	c.status(t, http.StatusCreated)
}

// flakyProxy forwards every request to the server whose URL base holds
// and cuts each connection after a random 200 to 1,500 ms, as a network
// may; while that server is down it answers 502. Any other answer but 200
// fails the test. It counts the connections, and those that resumed with
// Last-Event-ID.
type flakyProxy struct {
	*httptest.Server
	connections, resumed atomic.Int64
}

func newFlakyProxy(t *testing.T, base *atomic.Value) *flakyProxy {
	t.Helper()
	p := &flakyProxy{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			u, err := url.Parse(base.Load().(string))
			if err != nil {
				panic(err)
			}
			r.SetURL(u)
		},
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0), // the cuts
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode != http.StatusOK {
				body, _ := io.ReadAll(resp.Body)
				t.Errorf("%s: %d %s", resp.Request.URL, resp.StatusCode, body)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway) // the server is restarting
		},
	}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(5, 6))
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		life := time.Duration(200+rng.IntN(1300)) * time.Millisecond
		mu.Unlock()
		p.connections.Add(1)
		if r.Header.Get("Last-Event-ID") != "" {
			p.resumed.Add(1)
		}
		ctx, cancel := context.WithTimeout(r.Context(), life)
		defer cancel()
		rp.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(p.Close)
	return p
}

// TestStreamOverHTTP: package client's Follow, its connection cut at
// random moments by a proxy, reconnects by itself with Last-Event-ID —
// also across a restart of the server on the same data — and ends with
// every event of the room once, in timeline order, while 8 writers append.
func TestStreamOverHTTP(t *testing.T) {
	dir := t.TempDir()
	srv := startServerIn(t, dir, nil)
	c := newClient(t, srv.URL, "")
	createRoom(t, c, "live")
	var base atomic.Value
	base.Store(srv.URL)
	proxy := newFlakyProxy(t, &base)
	var mu sync.Mutex
	var got []string
	caughtUp := 0
	follower := newClient(t, proxy.URL, "")
	ctx, stop := context.WithCancel(t.Context())
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		for m, err := range follower.Follow(ctx, "room", "live", "start") {
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("follow: %v", err)
				}
				return
			}
			mu.Lock()
			switch m.Kind {
			case client.KindEvent:
				got = append(got, m.Event.ID)
			case client.KindCaughtUp:
				caughtUp++
			}
			mu.Unlock()
		}
	}()
	appendOver(t, c, "live", 8, 15, "")
	srv.Stop()
	srv = startServerIn(t, dir, nil)
	base.Store(srv.URL)
	c = newClient(t, srv.URL, "")
	appendOver(t, c, "live", 8, 15, "")
	want := listAllIDs(t, c, "live")
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
	stop()
	<-followed
	if !slices.Equal(got, want) {
		t.Fatalf("the stream delivered %d events, not the room's %d once each in timeline order", len(got), len(want))
	}
	if caughtUp == 0 {
		t.Error("no caught-up message")
	}
	if proxy.resumed.Load() == 0 {
		t.Error("the client never resumed with Last-Event-ID")
	}
	t.Logf("%d events over %d connections, %d resumed with Last-Event-ID", len(got), proxy.connections.Load(), proxy.resumed.Load())
}

// TestSlowStreamClientIsReset: a client that stops reading does not hold
// the writers up; when it reads again it finds the events in order and
// then a reset, whose cursor resumes exactly.
func TestSlowStreamClientIsReset(t *testing.T) {
	srv := startServer(t, nil, "--stream-buffer", "2")
	c := newClient(t, srv.URL, "")
	createRoom(t, c, "slow")
	const room = "/api/v1/contexts/room/slow"
	// Raw: the reset's framing (its id is its data, and the stream ends
	// after it) is the wire's; package client hides it and resumes by
	// itself.
	resp, err := openStream(t.Context(), srv.URL+room+"/stream?from=start", "")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %v %v", resp, err)
	}
	defer resp.Body.Close()
	// 200 events of 60 KiB: more than the sockets between us hold.
	start := time.Now()
	appendOver(t, c, "slow", 8, 25, strings.Repeat("x", 60<<10))
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
	// Raw: as an EventSource does, to the same URL with Last-Event-ID,
	// which must win over from=start (package client sends no from once
	// it has a cursor).
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
	if want := listAllIDs(t, c, "slow"); !slices.Equal(got, want) {
		t.Fatalf("before and after the reset: %d events, want the room's %d once each in order", len(got), len(want))
	}
}

// TestStreamRefusals: bad stream requests get problem answers before any
// stream starts; an idle stream sends heartbeats.
func TestStreamRefusals(t *testing.T) {
	srv := startServer(t, nil, "--stream-heartbeat", "100ms")
	api := newClient(t, srv.URL, "")
	createRoom(t, api, "r")
	const room = "/api/v1/contexts/room/r"
	// Raw: each refusal's status and problem+json body, the
	// event-stream Content-Type and the heartbeats, which the client
	// hides, are the wire's.
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
	createRoom(t, api, "other")
	if r := srv.do("GET", "/api/v1/contexts/room/other/stream", nil, "Last-Event-ID", cursor); r.Status != 400 || r.Problem.Code != "invalid_cursor" {
		t.Errorf("another room's cursor: %d %q", r.Status, r.Problem.Code)
	}
	// Connections that go away leave no stream behind on the server:
	// leaving the client's loop closes its connection.
	for range 10 {
		sctx, stop := context.WithCancel(t.Context())
		for m, err := range api.FollowServer(sctx, client.ServerStream{From: "start"}) {
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind == client.KindCaughtUp {
				break
			}
		}
		stop()
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
