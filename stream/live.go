package stream

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// liveStream is a stream past its backlog: what it needs to send what its
// subscription brings.
type liveStream struct {
	h    *Hub
	ctx  context.Context
	req  Request
	f    follower
	sub  *Subscription // nil until subscribed
	send func(Message) error

	lastSent  time.Time
	sent      prometheus.Counter
	unsent    int // sent messages not yet counted: a shared counter is contended, so it is added to in bunches
	unflushed int // messages sent since the last flush

	stopCtx  func() bool
	stopBeat func()
}

// out sends one message.
func (l *liveStream) out(msg Message) error {
	if msg.Kind == KindEvent {
		if l.unsent++; l.unsent == 64 {
			l.sent.Add(64)
			l.unsent = 0
		}
	}
	l.lastSent = time.Now()
	if err := l.send(msg); err != nil {
		return err
	}
	if l.unflushed++; l.unflushed >= flushEvery { // a long backlog, or a long queue, goes out as it is sent
		return l.flush()
	}
	return nil
}

// flushEvery is how many messages a stream sends at most between flushes.
const flushEvery = 32

// flush tells the transport that the stream has sent what it has.
func (l *liveStream) flush() error {
	l.unflushed = 0
	if l.req.Flush == nil {
		return nil
	}
	return l.req.Flush()
}

// process sends what items bring, then flushes.
func (l *liveStream) process(items []Item) error {
	for _, it := range items {
		if it.Commit == nil { // a tick
			if time.Since(l.lastSent) < l.h.cfg.Heartbeat*2/3 {
				continue
			}
			if err := l.out(Message{Kind: KindHeartbeat}); err != nil {
				return err
			}
			continue
		}
		if err := l.f.live(l.ctx, it, l.out); err != nil {
			return err
		}
	}
	return l.flush()
}

// ended is what a stream returns when its subscription has ended: nil
// when its context ended, ErrClosed when the hub stopped, ErrReset after a
// reset message when it fell behind.
func (l *liveStream) ended() error {
	switch {
	case l.ctx.Err() != nil:
		return nil
	case !l.sub.Overflowed():
		return ErrClosed
	}
	l.h.cfg.Metrics.resets.WithLabelValues(l.req.Transport).Inc()
	if err := l.out(Message{Kind: KindReset, Cursor: l.f.cursor()}); err != nil {
		return err
	}
	if err := l.flush(); err != nil {
		return err
	}
	return ErrReset
}

// drain sends what a detached stream's subscription holds, on one of the
// hub's senders, and returns when it holds nothing more; done gets the
// stream's end, on a goroutine of its own (a transport may take its time
// to close a connection, and the sender has others to serve).
func (l *liveStream) drain(done func(error)) {
	var items []Item // this goroutine's: the next drain may start as soon as poll has said there is nothing
	for {
		var open bool
		if items, open = l.sub.poll(items); len(items) == 0 {
			if !open {
				err := l.ended()
				l.close()
				go done(err)
			}
			return
		}
		if err := l.process(items); err != nil {
			l.close()
			go done(err)
			return
		}
	}
}

// close lets go of what the stream holds.
func (l *liveStream) close() {
	if l.stopBeat != nil {
		l.stopBeat()
	}
	if l.stopCtx != nil {
		l.stopCtx()
	}
	if l.sub != nil {
		l.sub.Close()
	}
	l.sent.Add(float64(l.unsent))
	l.unsent = 0
	l.h.cfg.Metrics.open.WithLabelValues(l.req.Transport).Dec()
}
