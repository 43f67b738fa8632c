package client_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// proxy forwards TCP connections to a server, whose address may change (a
// restart), and breaks them on demand: cut closes every open connection,
// and loseAnswer resets the next connection as soon as the server starts
// to answer, so that the request is served but its answer never arrives.
type proxy struct {
	URL        string
	ln         net.Listener
	target     atomic.Value // host:port
	accepted   atomic.Int64 // connections accepted
	refused    atomic.Int64 // connections the server did not take (it was away)
	loseAnswer atomic.Bool
	mu         sync.Mutex
	open       map[net.Conn]struct{} // both sides of every connection
	closed     bool
	wg         sync.WaitGroup
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{URL: "http://" + ln.Addr().String(), ln: ln, open: map[net.Conn]struct{}{}}
	p.target.Store(target)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) setTarget(addr string) { p.target.Store(addr) }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go p.serve(down, p.loseAnswer.Swap(false))
	}
}

// serve forwards one connection; with lose, it resets the client side
// when the server's first byte arrives, and forwards nothing back.
func (p *proxy) serve(down net.Conn, lose bool) {
	defer p.wg.Done()
	up, err := net.Dial("tcp", p.target.Load().(string))
	if err != nil { // the server is away: the client sees its connection closed
		p.refused.Add(1)
		_ = down.Close()
		return
	}
	if !p.track(down, up) {
		return
	}
	defer p.untrack(down, up)
	go func() {
		_, _ = io.Copy(up, down)
		_ = up.Close()
	}()
	if lose {
		var first [1]byte
		if _, err := up.Read(first[:]); err == nil {
			_ = down.(*net.TCPConn).SetLinger(0) // close with RST: "connection reset by peer"
		}
		_ = down.Close()
		return
	}
	_, _ = io.Copy(down, up)
	_ = down.Close()
}

// track records a connection's two sides; false (and both closed) once
// the proxy is closing.
func (p *proxy) track(down, up net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_, _ = down.Close(), up.Close()
		return false
	}
	p.open[down], p.open[up] = struct{}{}, struct{}{}
	return true
}

func (p *proxy) untrack(down, up net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.open, down)
	delete(p.open, up)
	_, _ = down.Close(), up.Close()
}

// cut closes every connection open now.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.open {
		_ = c.Close()
	}
}

// connections is how many connections are open now.
func (p *proxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.open) / 2
}

// newTamperingProxy is an HTTP proxy to target that replaces old by new
// (of the same length, so that lengths and chunk sizes stay right) in
// every line of every answer, streams included: an event altered on its
// way.
func newTamperingProxy(t testing.TB, target, old, new string) string {
	t.Helper()
	if len(old) != len(new) {
		t.Fatal("old and new must have the same length")
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		resp.Body = &replacingBody{r: bufio.NewReader(resp.Body), c: resp.Body, old: []byte(old), new: []byte(new)}
		return nil
	}
	rp.ErrorLog = log.New(io.Discard, "", 0) // clients that hang up are expected
	srv := httptest.NewServer(rp)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.URL
}

// replacingBody replaces old by new in each line it reads.
type replacingBody struct {
	r        *bufio.Reader
	c        io.Closer
	old, new []byte
	pending  []byte
}

func (b *replacingBody) Read(p []byte) (int, error) {
	if len(b.pending) == 0 {
		line, err := b.r.ReadBytes('\n')
		b.pending = bytes.ReplaceAll(line, b.old, b.new)
		if len(b.pending) == 0 {
			if err == nil {
				err = errors.New("empty read")
			}
			return 0, err
		}
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}

func (b *replacingBody) Close() error { return b.c.Close() }
