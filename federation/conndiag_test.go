package federation_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Diagnostics for a rare failure: a request whose context is cancelled
// while its client still waits for the answer (TestChaos once got a 500
// "context canceled" from GET …/verify). Each connection a node accepts
// keeps a short history — the requests it carried and its read and write
// errors — and a request that fails on a cancelled context prints it.

// connHistory is what happened on one accepted connection.
type connHistory struct {
	mu     sync.Mutex
	remote string
	lines  []string
}

func (h *connHistory) add(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.lines) >= 64 {
		h.lines = h.lines[1:]
	}
	h.lines = append(h.lines, time.Now().Format("15:04:05.000000")+" "+fmt.Sprintf(format, args...))
}

func (h *connHistory) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return "connection from " + h.remote + ":\n\t" + strings.Join(h.lines, "\n\t")
}

type connHistoryKey struct{}

// historyOf is the history of the connection ctx's request came on.
func historyOf(ctx context.Context) *connHistory {
	h, _ := ctx.Value(connHistoryKey{}).(*connHistory)
	return h
}

// recordingListener gives every connection it accepts a history.
type recordingListener struct{ net.Listener }

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	h := &connHistory{remote: c.RemoteAddr().String()}
	h.add("accepted")
	return &recordingConn{Conn: c, h: h}, nil
}

type recordingConn struct {
	net.Conn
	h *connHistory
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.h.add("read: %d bytes, %v", n, err)
	}
	return n, err
}

func (c *recordingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		c.h.add("write: %d of %d bytes, %v", n, len(p), err)
	}
	return n, err
}

func (c *recordingConn) SetReadDeadline(t time.Time) error {
	if !t.IsZero() {
		c.h.add("read deadline in %v", time.Until(t).Round(time.Microsecond))
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *recordingConn) SetWriteDeadline(t time.Time) error {
	if !t.IsZero() {
		c.h.add("write deadline in %v", time.Until(t).Round(time.Microsecond))
	}
	return c.Conn.SetWriteDeadline(t)
}

// connContext puts the history of c into its requests' contexts.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if rc, ok := c.(*recordingConn); ok {
		return context.WithValue(ctx, connHistoryKey{}, rc.h)
	}
	return ctx
}

// recordRequests adds each request to its connection's history.
func recordRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := historyOf(r.Context())
		if h == nil {
			next.ServeHTTP(w, r)
			return
		}
		h.add("%s %s (context: %v)", r.Method, r.URL.Path, r.Context().Err())
		next.ServeHTTP(w, r)
		h.add("%s %s done (context: %v)", r.Method, r.URL.Path, r.Context().Err())
	})
}
