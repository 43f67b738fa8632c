package client_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/api"
	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/client"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
	"github.com/eventstore-go/eventstore/stream"

	"github.com/eventstore-go/eventstore/internal/database"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// serverConfig tunes a test server.
type serverConfig struct {
	tokens []api.Token
	buffer int                             // commits a stream may fall behind (stream.Config.Buffer); 0: the default
	small  bool                            // a small send buffer on the first connection, so that a stream's writes block soon
	wrap   func(http.Handler) http.Handler // in front of the API, to break it on purpose
}

// server is an eventstore server over HTTP as eventstore serve wires it:
// the API on a real store, with a live-stream hub and an auditor.
type server struct {
	URL  string
	st   *store.Store
	conn *database.Conn
	http *httptest.Server
	stop func() // the server goes: connections, listener, hub, store
}

// newServer starts a server on a fresh database of backend b.
func newServer(t testing.TB, b storetest.Backend, cfg serverConfig) *server {
	t.Helper()
	return startServer(t, b.Connect(t, storetest.Options{}), cfg)
}

// startServer starts a server on conn's database, as a restarted process
// would: a new store, hub and listener.
func startServer(t testing.TB, conn *database.Conn, cfg serverConfig) *server {
	t.Helper()
	st := storetest.NewStore(t, conn, "a.example", store.Options{})
	cursors := stream.NewCursors("a.example") // the store's server name, as serve wires it
	h := stream.New(stream.Config{Store: st, Cursors: cursors, Buffer: cfg.buffer})
	st.Follow(func(ct, _ string, _ []*eventstore.Event) { h.Committed(ct) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	auditor := audit.New(st, conn, audit.Config{})
	var handler http.Handler = api.New(api.Config{Store: st, Cursors: cursors, Hub: h, Tokens: cfg.tokens,
		Verify: func(ctx context.Context, ct, cid string) (any, error) {
			return auditor.Verify(ctx, audit.Options{Ct: ct, Cid: cid})
		}})
	if cfg.wrap != nil {
		handler = cfg.wrap(handler)
	}
	srv := httptest.NewUnstartedServer(handler)
	if cfg.small {
		srv.Listener = &smallBuffers{Listener: srv.Listener}
	}
	srv.Start()
	var once sync.Once
	s := &server{URL: srv.URL, st: st, conn: conn, http: srv}
	s.stop = func() {
		once.Do(func() {
			_ = srv.Listener.Close() // no new connections while the streams are cut
			srv.CloseClientConnections()
			srv.Close()
			cancel()
			<-done
			st.Close()
		})
	}
	t.Cleanup(s.stop)
	return s
}

// addr is the server's host:port.
func (s *server) addr() string { return strings.TrimPrefix(s.URL, "http://") }

// newClient returns a client of url with its own connections (so that
// tests do not share keep-alive connections) and short backoffs.
func newClient(t testing.TB, url string, opts ...client.Option) *client.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	opts = append([]client.Option{client.WithHTTPClient(&http.Client{Transport: tr}), client.WithRetry(4, 5*time.Millisecond)}, opts...)
	c, err := client.New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newRoom creates room/cid through the store and returns its genesis.
func newRoom(t testing.TB, s *server, cid string) *eventstore.Event {
	t.Helper()
	g, err := s.st.CreateContext(storetest.Context(t), "room", cid, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// appendMessages appends n messages to room/cid through the store.
func appendMessages(t testing.TB, st *store.Store, cid string, n int) {
	t.Helper()
	for i := range n {
		o := storetest.Data(t, `{"msg":"m`+strconv.Itoa(i)+`"}`)
		if _, _, err := st.Append(storetest.Context(t), "room", cid, store.NewEvent{T: "msg", O: o}); err != nil {
			t.Error(err)
			return
		}
	}
}

// timeline is the ids of room/cid in timeline order, as the store lists
// them.
func timeline(t testing.TB, st *store.Store, cid string) []string {
	t.Helper()
	var ids []string
	q := store.ListQuery{Limit: store.MaxListLimit}
	for {
		page, err := st.List(storetest.Context(t), "room", cid, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			ids = append(ids, e.ID)
		}
		if page.Next == nil {
			return ids
		}
		q.From = page.Next
	}
}

// Small socket buffers fill soon, but a connection with them is slow
// (TCP waits on its window), so only the first connection gets them.

// smallBuffers gives the first connection it accepts a small send buffer.
type smallBuffers struct {
	net.Listener
	done atomic.Bool
}

func (l *smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok && !l.done.Swap(true) {
		_ = tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

// smallReceiveBuffer is an HTTP client whose first connection has a small
// receive buffer; it keeps no connection for another request, so a
// stream that resumes after the first has a connection of its own.
func smallReceiveBuffer(t testing.TB) *http.Client {
	var done atomic.Bool
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok && !done.Swap(true) {
			_ = tc.SetReadBuffer(4 << 10)
		}
		return c, err
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
