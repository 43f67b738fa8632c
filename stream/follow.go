package stream

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/eventstore-go/eventstore"
)

// Kind is what a Message is.
type Kind int

const (
	KindEvent     Kind = iota // an event, with the cursor just after it
	KindCaughtUp              // the backlog has been sent; Cursor is where the stream is
	KindReset                 // the stream ends because the subscriber fell behind: resume from Cursor
	KindHeartbeat             // nothing happened for a while
)

// Message is one thing a stream sends.
type Message struct {
	Kind   Kind
	Event  *eventstore.Event // KindEvent; it carries no isLeaf (a stream's events do not stay leaves)
	Data   []byte            // Event as JSON, when it was encoded once for every stream (else nil)
	Cursor string

	view  *view // the shared view of a live event's commit, and its index
	index int
}

// Request says what to follow: one context (Ct and Cid), every context of
// a type (Cid "", Server), or everything (Ct "" too, Server).
type Request struct {
	Ct, Cid string
	Server  bool // the server-wide stream (/api/v1/stream), optionally of one type Ct
	// From is a cursor of this stream to continue after, "start" for the
	// beginning, or "" for the present.
	From string
	T    eventstore.TypeFilter
	// Transport labels the metrics ("sse", "gateway").
	Transport string
	// Flush, if set, is called whenever the stream has sent what it has
	// and waits for more, and every 32 messages: a transport that buffers
	// what send gives it writes it out then, several messages at once
	// when traffic is heavy.
	Flush func() error
	// NoHeartbeat leaves out the heartbeat messages: the transport keeps
	// its own (the gateway's clients send theirs).
	NoHeartbeat bool
}

// Start is Request.From for the whole history.
const Start = "start"

// ErrReset ends a stream whose subscriber fell behind (after KindReset).
var ErrReset = errors.New("stream: the subscriber fell behind; resume from the reset cursor")

// ErrClosed ends a stream because the hub stopped (the server shuts down).
var ErrClosed = errors.New("stream: the server is shutting down")

// Follow sends the stream req asks for to send, until ctx ends (nil), send
// fails (its error), the subscriber falls behind (ErrReset, after a reset
// message) or the hub stops (ErrClosed). First it checks req: a context
// that does not exist is ENOTFOUND, a cursor not issued for this stream
// EBADCURSOR, both before anything is sent. It subscribes before it reads
// the backlog, and drops what the subscription repeats, so that no event
// can slip between backlog and live; anything the subscription lacks is
// read from the store.
func (h *Hub) Follow(ctx context.Context, req Request, send func(Message) error) error {
	l, err := h.start(ctx, req, send)
	if err != nil {
		return err
	}
	defer l.close()
	// The loop waits on the subscription alone, not in a select: with a
	// thousand streams on a room, waking each from a three-way select
	// cost more than its send.
	var items []Item
	for {
		var ok bool
		if items, ok = l.sub.take(items); !ok {
			return l.ended()
		}
		if err := l.process(items); err != nil {
			return err
		}
	}
}

// FollowDetached is Follow for a transport that holds many streams (the
// gateway's subscriptions): it sends the backlog and returns (Follow's
// errors, and then done is not called), and the live part is sent by the
// hub's senders when commits arrive (see senders), so that an idle stream
// holds no goroutine and no stack. send may block, but a long block
// costs the others a sender for a while. done is called once, on a
// goroutine of its own, when the stream ends, with what Follow would have
// returned.
func (h *Hub) FollowDetached(ctx context.Context, req Request, send func(Message) error, done func(error)) error {
	l, err := h.start(ctx, req, send)
	if err != nil {
		return err
	}
	l.sub.detach(func() { l.drain(done) })
	return nil
}

// start checks req, sends the backlog and subscribes: all of a stream up
// to its live part.
func (h *Hub) start(ctx context.Context, req Request, send func(Message) error) (_ *liveStream, err error) {
	var f follower
	if req.Server {
		f, err = h.serverFollower(ctx, req)
	} else {
		f, err = h.contextFollower(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	l := &liveStream{h: h, ctx: ctx, req: req, f: f, send: send, lastSent: time.Now()}
	m := h.cfg.Metrics
	m.open.WithLabelValues(req.Transport).Inc()
	l.sent = m.sent.WithLabelValues(req.Transport)
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	// Far behind, read from the store alone; then subscribe, and read
	// again up to what the subscription will bring.
	if err := f.catchUp(ctx, l.out); err != nil {
		return nil, err
	}
	l.sub = h.Subscribe(f.scope())
	if err := f.catchUp(ctx, l.out); err != nil {
		return nil, err
	}
	if err := l.out(Message{Kind: KindCaughtUp, Cursor: f.cursor()}); err != nil {
		return nil, err
	}
	if err := l.flush(); err != nil {
		return nil, err
	}
	// The context's end closes the subscription, and a timer puts a tick
	// in it; a heartbeat goes out on a tick when nothing else did for two
	// thirds of the interval, so that the gap never exceeds it (a filter
	// may drop every event of a busy context).
	l.stopCtx = context.AfterFunc(ctx, l.sub.Close)
	if !req.NoHeartbeat {
		l.stopBeat = h.beat(l.sub)
	}
	return l, nil
}

// beat starts sub's heartbeat clock: a tick every third of the interval.
// It returns the clock's stop.
func (h *Hub) beat(sub *Subscription) (stop func()) {
	var beat *time.Timer
	var ended atomic.Bool // a tick already running when the stream ends must not re-arm the timer
	armed := make(chan struct{})
	beat = time.AfterFunc(h.cfg.Heartbeat/3, func() {
		<-armed // beat is set
		if ended.Load() {
			return
		}
		sub.tick()
		beat.Reset(h.cfg.Heartbeat / 3)
	})
	close(armed)
	return func() {
		ended.Store(true)
		beat.Stop()
	}
}

// follower is the state of one stream: where it is, and how it reads.
type follower interface {
	scope() Scope
	cursor() string
	// catchUp sends what the store has beyond the stream's place.
	catchUp(ctx context.Context, send func(Message) error) error
	// live sends what a commit from the hub adds, reading from the store
	// whatever lies between the stream's place and it.
	live(ctx context.Context, it Item, send func(Message) error) error
}

// streamEvent is e as a stream sends it.
func streamEvent(e *eventstore.Event) *eventstore.Event {
	c := *e
	c.IsLeaf = false
	return &c
}
