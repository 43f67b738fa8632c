package federation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/api"
	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/federation"
	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
	"github.com/eventstore-go/eventstore/stream"

	"github.com/eventstore-go/eventstore/internal/database"
)

// TestMain checks, when the tests take MongoDB's read paths, that every
// command on a collection meant to be sharded carries its shard key
// (storetest.CommandMonitor).
func TestMain(m *testing.M) { storetest.Main(m) }

// node is one real server: its own embedded store, the store, the
// federation and the HTTP API on a loopback port.
type node struct {
	t    testing.TB
	name string
	url  string
	dir  string
	keys *federation.Keyring
	// keyFile, when set, is the signing key given as --key-file would.
	keyFile *federation.Key
	conn    *database.Conn
	st      *store.Store
	fed     *federation.Federation
	srv     *http.Server
	ln      net.Listener
	out     *faultTransport // this server's outbound requests
	peers   []federation.Peer
	reg     *prometheus.Registry // this run's metrics
	// committed, when set, is told about every event stored here.
	committed atomic.Pointer[func(events []*eventstore.Event)]
	// configure, when set, changes the federation's configuration at start.
	configure func(*federation.Config)
}

// faultTransport lets a test drop, fail or delay outbound requests.
type faultTransport struct {
	next atomic.Pointer[http.RoundTripper]
	// intercept, when set, decides what happens to a request: nil lets it
	// through; an error fails it as a network error would.
	intercept atomic.Pointer[func(*http.Request) error]
}

func (ft *faultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if f := ft.intercept.Load(); f != nil {
		if err := (*f)(req); err != nil {
			return nil, err
		}
	}
	if next := ft.next.Load(); next != nil {
		return (*next).RoundTrip(req)
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (ft *faultTransport) through(rt http.RoundTripper) { ft.next.Store(&rt) }

func (ft *faultTransport) set(f func(*http.Request) error) {
	if f == nil {
		ft.intercept.Store(nil)
		return
	}
	ft.intercept.Store(&f)
}

// startNodes starts servers named names, every one a peer of every other.
func startNodes(t testing.TB, names ...string) map[string]*node {
	t.Helper()
	return startNodesPinned(t, false, names...)
}

// startNodesPinned is startNodes; with pin, every server has the others'
// keys pinned (given as key files, made here) rather than fetched.
func startNodesPinned(t testing.TB, pin bool, names ...string) map[string]*node {
	t.Helper()
	nodes := map[string]*node{}
	for _, name := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		nodes[name] = &node{t: t, name: name, ln: ln, url: "http://" + ln.Addr().String(), dir: t.TempDir()}
	}
	if pin {
		for _, n := range nodes {
			k, err := federation.GenerateKey()
			if err != nil {
				t.Fatal(err)
			}
			n.keyFile = k
		}
	}
	for _, n := range nodes {
		for _, other := range nodes {
			if other != n {
				p := federation.Peer{Name: other.name, URL: other.url}
				if pin {
					p.Pinned = []*federation.Key{{ID: other.keyFile.ID, Public: other.keyFile.Public}}
				}
				n.peers = append(n.peers, p)
			}
		}
		n.start()
	}
	return nodes
}

// start opens the node's store and serves it on its listener.
func (n *node) start() {
	t := n.t
	ctx := context.Background()
	conn, err := database.Connect(ctx, database.Config{DataDir: n.dir, MongoDBReads: os.Getenv(storetest.MongoDBReadsVariable) != "",
		Monitor: storetest.CommandMonitor(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Up(ctx, conn, nil); err != nil {
		t.Fatal(err)
	}
	if n.keys, err = federation.LoadKeyring(ctx, conn, n.keyFile, time.Now()); err != nil {
		t.Fatal(err)
	}
	keys := n.keys
	st, err := store.New(conn, store.Options{Server: n.name, Participants: true,
		Sign: func(id string) map[string]string { return federation.SignEvent(keys.Current, id) }})
	if err != nil {
		t.Fatal(err)
	}
	st.Follow(func(_, _ string, events []*eventstore.Event) {
		if c := n.committed.Load(); c != nil {
			(*c)(events)
		}
	})
	if n.out == nil {
		n.out = &faultTransport{}
	}
	n.reg = prometheus.NewRegistry()
	var logger *slog.Logger
	if os.Getenv("EVENTSTORE_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", n.name)
	}
	cfg := federation.Config{Server: n.name, Logger: logger, Store: st, DB: conn, Keys: n.keys, Peers: n.peers,
		Client: &http.Client{Transport: n.out, Timeout: 10 * time.Second}, Poll: 100 * time.Millisecond,
		Sweep: 500 * time.Millisecond, AntiEntropy: time.Second, MaxBackoff: time.Second, BodyTimeout: 2 * time.Second,
		Metrics: federation.NewMetrics(n.reg)}
	if n.configure != nil {
		n.configure(&cfg)
	}
	f, err := federation.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st.Follow(f.Committed)
	f.Start(context.Background())
	n.conn, n.st, n.fed = conn, st, f
	// Internal errors of the API are printed (only those: they are bugs),
	// so that a test that gets a 500 shows its cause.
	apiLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})).With("node", n.name)
	handler := api.New(api.Config{Store: st, Cursors: stream.NewCursors(n.name), Share: f.Share, Federation: f.Handler(), Logger: apiLog,
		FederationStatus: func() any { return f.Status() },
		Verify: func(ctx context.Context, ct, cid string) (any, error) {
			cfg, err := n.auditConfig(ctx)
			if err != nil {
				return nil, err
			}
			return audit.New(st, conn, cfg).Verify(ctx, audit.Options{Ct: ct, Cid: cid})
		}})
	if n.ln == nil {
		if n.ln, err = net.Listen("tcp", strings.TrimPrefix(n.url, "http://")); err != nil {
			t.Fatal(err)
		}
	}
	n.srv = &http.Server{Handler: handler}
	go n.srv.Serve(n.ln)
	t.Cleanup(n.stop)
}

// stop shuts the node down (as a process exit would, but cleanly).
func (n *node) stop() {
	if n.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.srv.Shutdown(ctx)
	n.fed.Close()
	n.st.Close()
	_ = n.conn.Close(ctx)
	n.srv, n.ln = nil, nil
}

// restart stops the node and starts it again on the same address and data.
func (n *node) restart() {
	n.stop()
	n.start()
}

// do calls the node's client API.
func (n *node) do(method, path string, body string) (int, []byte) {
	n.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, n.url+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw
}

func (n *node) must(method, path, body string, status int) []byte {
	n.t.Helper()
	got, raw := n.do(method, path, body)
	if got != status {
		n.t.Fatalf("%s: %s %s: status %d, want %d: %s", n.name, method, path, got, status, raw)
	}
	return raw
}

// state is what must converge: every event with its d, and the leaves.
type state struct {
	events map[string]string // id → the event as JSON without isLeaf
	leaves []string
}

func (n *node) state(ct, cid string) *state {
	n.t.Helper()
	s := &state{events: map[string]string{}}
	after := ""
	for {
		q := "?limit=1000"
		if after != "" {
			q += "&after=" + after
		}
		status, raw := n.do("GET", "/api/v1/contexts/"+ct+"/"+cid+"/events"+q, "")
		if status != http.StatusOK {
			return nil
		}
		var page struct {
			Events []json.RawMessage `json:"events"`
			Next   string            `json:"next"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			n.t.Fatal(err)
		}
		for _, e := range page.Events {
			var id struct {
				ID string `json:"_id"`
			}
			_ = json.Unmarshal(e, &id)
			s.events[id.ID] = string(bytes.ReplaceAll(e, []byte(`,"isLeaf":true`), nil))
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	var l struct {
		Leaves []string `json:"leaves"`
	}
	_ = json.Unmarshal(n.must("GET", "/api/v1/contexts/"+ct+"/"+cid+"/leaves", "", http.StatusOK), &l)
	s.leaves = l.Leaves
	return s
}

func (s *state) equal(o *state) bool {
	if s == nil || o == nil || !slices.Equal(s.leaves, o.leaves) || len(s.events) != len(o.events) {
		return false
	}
	for id, e := range s.events {
		if o.events[id] != e {
			return false
		}
	}
	return true
}

// converge waits until every node has the same events, d and leaves.
func converge(t testing.TB, ct, cid string, within time.Duration, nodes ...*node) *state {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var first *state
		same := true
		for _, n := range nodes {
			s := n.state(ct, cid)
			if first == nil {
				first = s
			} else if !first.equal(s) {
				same = false
			}
			if s == nil {
				same = false
			}
		}
		if same {
			return first
		}
		if time.Now().After(deadline) {
			for _, n := range nodes {
				s := n.state(ct, cid)
				if s == nil {
					t.Logf("%s: no context", n.name)
					continue
				}
				t.Logf("%s: %d events, leaves %v, peers %+v", n.name, len(s.events), s.leaves, n.fed.Status())
			}
			t.Fatalf("no convergence within %v", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// appendAll has writers on every node append n messages each.
func appendAll(t testing.TB, ct, cid string, n int, nodes ...*node) {
	t.Helper()
	var wg sync.WaitGroup
	for _, nd := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				status, raw := nd.do("POST", "/api/v1/contexts/"+ct+"/"+cid+"/events",
					fmt.Sprintf(`{"t":"msg","o":{"msg":"%s %d"}}`, nd.name, i))
				if status != http.StatusCreated {
					t.Errorf("%s: append: %d %s", nd.name, status, raw)
					return
				}
			}
		}()
	}
	wg.Wait()
}
