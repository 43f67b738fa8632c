package stream

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/store"
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
	T    store.TypeFilter
	// Transport labels the metrics ("sse", "gateway").
	Transport string
	// Flush, if set, is called whenever the stream has sent what it has
	// and waits for more: a transport that buffers what send gives it
	// writes it out then, several messages at once when traffic is heavy.
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
	var f follower
	var err error
	if req.Server {
		f, err = h.serverFollower(ctx, req)
	} else {
		f, err = h.contextFollower(ctx, req)
	}
	if err != nil {
		return err
	}
	m := h.cfg.Metrics
	m.open.WithLabelValues(req.Transport).Inc()
	defer m.open.WithLabelValues(req.Transport).Dec()
	lastSent := time.Now()
	sent, unsent := m.sent.WithLabelValues(req.Transport), 0 // counted in bunches: a shared counter is contended
	defer func() { sent.Add(float64(unsent)) }()
	out := func(msg Message) error {
		if msg.Kind == KindEvent {
			if unsent++; unsent == 64 {
				sent.Add(64)
				unsent = 0
			}
		}
		lastSent = time.Now()
		return send(msg)
	}
	// Far behind, read from the store alone; then subscribe, and read
	// again up to what the subscription will bring.
	if err := f.catchUp(ctx, out); err != nil {
		return err
	}
	sub := h.Subscribe(f.scope())
	defer sub.Close()
	if err := f.catchUp(ctx, out); err != nil {
		return err
	}
	if err := out(Message{Kind: KindCaughtUp, Cursor: f.cursor()}); err != nil {
		return err
	}
	flush := func() error {
		if req.Flush == nil {
			return nil
		}
		return req.Flush()
	}
	if err := flush(); err != nil {
		return err
	}
	// The loop waits on the subscription alone, not in a select: with a
	// thousand streams on a room, waking each from a three-way select
	// cost more than its send. The context's end closes the subscription,
	// and a timer puts a tick in it; a heartbeat goes out on a tick when
	// nothing else did for two thirds of the interval, so that the gap
	// never exceeds it (a filter may drop every event of a busy context).
	stop := context.AfterFunc(ctx, sub.Close)
	defer stop()
	if !req.NoHeartbeat {
		stopBeat := h.beat(sub)
		defer stopBeat()
	}
	var items []Item
	for {
		var ok bool
		if items, ok = sub.take(items); !ok {
			break
		}
		for _, it := range items {
			if it.Commit == nil { // a tick
				if time.Since(lastSent) < h.cfg.Heartbeat*2/3 {
					continue
				}
				if err := out(Message{Kind: KindHeartbeat}); err != nil {
					return err
				}
				continue
			}
			if err := f.live(ctx, it, out); err != nil {
				return err
			}
		}
		if err := flush(); err != nil {
			return err
		}
	}
	switch {
	case ctx.Err() != nil:
		return nil
	case !sub.Overflowed():
		return ErrClosed
	}
	m.resets.WithLabelValues(req.Transport).Inc()
	if err := out(Message{Kind: KindReset, Cursor: f.cursor()}); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	return ErrReset
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
