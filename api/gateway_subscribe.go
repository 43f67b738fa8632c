package api

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/coder/websocket"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/stream"
)

// subscribe starts following one context. Its error (a refused cursor,
// say) comes before anything of it is sent; its events are held until gate
// is closed (once ready, or the subscribe's ack, has been queued).
func (g *gatewayConn) subscribe(ctx context.Context, sub subscription, gate <-chan struct{}) error {
	if err := eventstore.ValidateContext(sub.Ct, sub.Cid); err != nil {
		return err
	}
	if !g.p.mayRead(sub.Ct, sub.Cid) {
		return invalid("forbidden", "the token does not let you read "+sub.Ct+"/"+sub.Cid)
	}
	key := sub.Ct + "/" + sub.Cid
	g.mu.Lock()
	_, dup := g.subs[key]
	n := len(g.subs)
	g.mu.Unlock()
	switch {
	case dup:
		return eventstore.Errorf(eventstore.ECONFLICT, "already subscribed to %s", key)
	case n >= g.cfg.MaxSubscriptions:
		return eventstore.Errorf(eventstore.EINVALID, "at most %d subscriptions on one connection", g.cfg.MaxSubscriptions)
	}
	sctx, cancel := context.WithCancel(ctx)
	d := &dispatcher{g: g, key: key, ctx: sctx, cancel: cancel}
	g.mu.Lock()
	g.subs[key] = d
	g.mu.Unlock()
	req := stream.Request{Ct: sub.Ct, Cid: sub.Cid, From: sub.From, T: g.filter, Transport: "gateway",
		Flush: d.flush, NoHeartbeat: true}
	started := make(chan error, 1) // its first message, or its refusal
	first := true
	send := func(m stream.Message) error {
		if first {
			first = false
			started <- nil
			select {
			case <-gate:
			case <-sctx.Done():
			}
		}
		return d.deliver(m)
	}
	ended := func(err error) {
		if errors.Is(err, errConnLost) {
			g.cancel() // before the flush: it would only wait for the socket again
		}
		_ = d.flush()
		switch {
		case errors.Is(err, errConnLost):
		case errors.Is(err, stream.ErrClosed):
			g.goAway()
		case err != nil && sctx.Err() == nil:
			var f *gatewayFailure
			if !errors.As(err, &f) {
				err = invalid(string(eventstore.ErrorCode(err)), eventstore.ErrorMessage(err))
			}
			g.fail(err)
		}
		cancel()
		g.wg.Done()
	}
	// The backlog is sent from a goroutine that ends with it; the live
	// part from goroutines that run while there is something to send.
	g.wg.Add(1)
	go func() {
		if err := g.s.hub.FollowDetached(sctx, req, send, ended); err != nil {
			if first {
				started <- err
				err = nil // answered by subscribe
			}
			ended(err)
		}
	}()
	if err := <-started; err != nil {
		g.unsubscribe(key)
		return err
	}
	return nil
}

// errConnLost ends a subscription whose connection could not be written.
var errConnLost = errors.New("the gateway connection could not be written")

// dispatcher writes one subscription's stream to its connection. It holds
// the socket from its first write until its stream has nothing more for
// now, so that what a busy room brings goes out in few system calls.
type dispatcher struct {
	g      *gatewayConn
	key    string          // the subscription: ct/cid
	ctx    context.Context // ends with the subscription (unsubscribe) or the connection
	cancel context.CancelFunc
	held   bool
	sent   int // dispatches written since the last flush
}

// deliver writes what the stream says.
func (d *dispatcher) deliver(m stream.Message) error {
	g := d.g
	switch m.Kind {
	case stream.KindEvent:
		frame, err := m.Shared("gateway", dispatchFrame)
		if err != nil {
			return err
		}
		// The write and its cursor go together, against the close: the
		// cursors an invalid packet tells are those of what was written
		// before it, and nothing is written after it.
		g.writing.RLock()
		defer g.writing.RUnlock()
		switch {
		case d.ctx.Err() != nil: // unsubscribed, or the connection ends
			return d.ctx.Err()
		case g.closing.Load():
			return errConnLost
		}
		if !d.held {
			g.conn.hold()
			d.held = true
		}
		if err := g.c.Write(context.Background(), websocket.MessageText, frame); err != nil { // bounded by the socket's write deadline
			return errConnLost
		}
		d.sent++
		g.setCursor(d, m.Cursor) // what the client has been sent
	case stream.KindCaughtUp:
		g.setCursor(d, m.Cursor)
	case stream.KindReset:
		g.setCursor(d, m.Cursor)
		return invalid("slow_consumer", "the subscription to "+d.key+" fell behind")
	}
	return nil
}

// flush writes out what the subscription holds: the stream waits.
func (d *dispatcher) flush() error {
	if !d.held {
		return nil
	}
	d.held = false
	d.g.s.metrics.gatewayPackets("out", opDispatch, d.sent)
	d.sent = 0
	if err := d.g.conn.release(); err != nil {
		return errConnLost
	}
	return nil
}

// dispatchFrame is the dispatch packet of a stream's event.
func dispatchFrame(m stream.Message) ([]byte, error) {
	data, err := eventData(m)
	if err != nil {
		return nil, err
	}
	return json.Marshal(packet{Op: opDispatch, T: m.Event.T, D: data, S: m.Cursor, TS: time.Now().UnixMilli()})
}

// setCursor records where subscription d is, unless it has ended: what a
// slow_consumer close tells the client to resume from.
func (g *gatewayConn) setCursor(d *dispatcher, cursor string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.subs[d.key] == d {
		g.cursors[d.key] = cursor
	}
}

// unsubscribe ends a subscription; it reports whether there was one.
func (g *gatewayConn) unsubscribe(key string) bool {
	g.mu.Lock()
	d, ok := g.subs[key]
	delete(g.subs, key)
	delete(g.cursors, key)
	g.mu.Unlock()
	if ok {
		d.cancel()
	}
	return ok
}

// unsubscribeAll ends every subscription (identify was refused).
func (g *gatewayConn) unsubscribeAll() {
	g.mu.Lock()
	subs := g.subs
	g.subs, g.cursors = map[string]*dispatcher{}, map[string]string{}
	g.mu.Unlock()
	for _, d := range subs {
		d.cancel()
	}
}
