package api

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// heldConn is the TCP connection under a gateway connection. Writes made
// while it is held are gathered and go to the socket together at release:
// a subscription with several dispatches to send writes them in one
// system call rather than one each (coder/websocket flushes every message
// and has no way to write several at once, hence this by hand). Every
// write to the socket has a deadline: a client that stops reading is let
// go, and nothing waits on it for longer.
type heldConn struct {
	net.Conn
	mu     sync.Mutex
	holds  int
	direct bool // unhold was called: no more gathering
	buf    []byte
	err    error // the first failed write: the connection is closed, and every later write fails at once
}

// Bounds of what a heldConn gathers.
const (
	heldMax = 64 << 10 // written out at once beyond this

	gatewayReadBuffer = 512
)

// hold starts gathering writes, until the matching release.
func (c *heldConn) hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holds++
}

// release ends a hold and writes out what was gathered (the bytes of the
// connection in their order: another holder's frame may be cut in two,
// its rest follows).
func (c *heldConn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holds--
	if len(c.buf) == 0 {
		return c.err
	}
	return c.flush()
}

// unhold writes out what was gathered and stops gathering for good: the
// connection is closing, and its last packets are not to wait for a
// stream's release.
func (c *heldConn) unhold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.direct = true
	if len(c.buf) > 0 {
		_ = c.flush()
	}
}

func (c *heldConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holds == 0 || c.direct {
		return c.write(p)
	}
	c.buf = append(c.buf, p...)
	if len(c.buf) >= heldMax {
		if err := c.flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flush (c.mu held) writes out what was gathered.
func (c *heldConn) flush() error {
	_, err := c.write(c.buf)
	c.buf = nil // an idle connection holds no buffer
	return err
}

// write (c.mu held) writes p to the socket within gatewayWriteTimeout.
// A write that fails closes the connection: one that timed out may have
// written part of a frame, and nothing after it could be read.
func (c *heldConn) write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	err := c.Conn.SetWriteDeadline(time.Now().Add(gatewayWriteTimeout))
	n := 0
	if err == nil {
		n, err = c.Conn.Write(p)
	}
	if err != nil {
		c.err = err
		_ = c.Conn.Close()
	}
	return n, err
}

// holdingWriter is what websocket.Accept is given: its Hijack hands the
// connection over as a heldConn, with buffers of its own, small ones (a
// hold gathers the writes, the library's own frames are small, and so are
// a client's packets), rather than net/http's 4 KiB each.
type holdingWriter struct {
	http.ResponseWriter
	conn *heldConn // set by Hijack
}

func (w *holdingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil { // empty after the upgrade's answer, but should it not be
		conn.Close()
		return nil, nil, err
	}
	w.conn = &heldConn{Conn: conn}
	// What the client sent already after its upgrade request (its
	// identify, say) stays buffered in the new reader, where Accept looks
	// for it.
	n := brw.Reader.Buffered()
	early, _ := brw.Reader.Peek(n)
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), w.conn), max(gatewayReadBuffer, n))
	if _, err := br.Peek(n); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return w.conn, bufio.NewReadWriter(br, bufio.NewWriterSize(w.conn, 512)), nil
}
