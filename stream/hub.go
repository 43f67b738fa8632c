package stream

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/eventstore-go/eventstore/store"

	"github.com/eventstore-go/eventstore/internal/database"
)

// Config configures a Hub.
type Config struct {
	Store Store // *store.Store in a server
	// Cursors writes and reads the streams' cursors (NewCursors of the
	// server's name); required.
	Cursors *Cursors
	Logger  *slog.Logger // errors reading the logs; silent when nil
	// Poll is how often the hub reads the commit logs for versions other
	// processes wrote (DefaultPoll when zero); this process's own writes
	// reach it at once through Committed.
	Poll time.Duration
	// Buffer is how many commits a subscriber may fall behind the hub
	// before it is cut off (DefaultBuffer when zero): the hub never waits
	// for a subscriber.
	Buffer int
	// Heartbeat is how often an idle stream sends a heartbeat
	// (DefaultHeartbeat when zero).
	Heartbeat time.Duration
	// Senders is how many goroutines send what detached streams
	// (FollowDetached) have to send (DefaultSenders when zero); more
	// start for a while when one stalls.
	Senders int
	Metrics *Metrics // optional
}

// Defaults of Config.
const (
	DefaultPoll      = 200 * time.Millisecond
	DefaultBuffer    = 1024
	DefaultHeartbeat = 15 * time.Second
)

// Hub follows the commit logs of every context type and hands each new
// commit to the subscriptions whose scope it falls in, in log order.
type Hub struct {
	cfg Config
	st  Store
	cur *Cursors
	log *slog.Logger

	mu      sync.Mutex
	tails   map[string]*tail                    // by context type
	subs    map[scopeKey]map[*Subscription]bool // by scope
	run     context.Context                     // set by Run; nil before
	senders *senders
	wg      sync.WaitGroup
	closed  bool
}

// tail is the hub's reader of one context type's commit log.
type tail struct {
	ct      string
	kick    chan struct{}
	through int64 // the last entry read
}

// Item is one commit handed to a subscription. After is the entry the hub
// had read through before it: there is no commit of the type between
// After and Commit.Log, so a subscriber that has everything up to After
// misses nothing.
type Item struct {
	Commit *store.Commit
	After  int64
	view   *view // shared by every subscriber of the commit
}

// Scope is what a subscription receives: one context (Ct and Cid), every
// context of a type (Cid ""), or everything (both "").
type Scope struct{ Ct, Cid string }

type scopeKey Scope

// New returns a hub; it starts following with Run.
func New(cfg Config) *Hub {
	if cfg.Cursors == nil {
		panic("stream: Config.Cursors is nil (stream.NewCursors of the server's name)")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Senders <= 0 {
		cfg.Senders = DefaultSenders()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{cfg: cfg, st: cfg.Store, cur: cfg.Cursors, log: log, tails: map[string]*tail{}, subs: map[scopeKey]map[*Subscription]bool{},
		senders: newSenders(cfg.Senders)}
}

// tailMargin is how many entries before the end of a log a hub starts
// reading at: a claim of another process that took a number just before
// the hub started is then not missed (subscribers drop what they have).
const tailMargin = 64

// Run follows the commit logs until ctx ends, then closes every
// subscription. Context types that appear later are followed from their
// first commit.
func (h *Hub) Run(ctx context.Context) error {
	types, err := h.st.LogTypes(ctx)
	if err != nil {
		return err
	}
	// Where each tail starts is found before the hub runs: a commit in
	// the meantime would otherwise start its type's tail at the log's
	// beginning (follow from 0 is for types that appear later).
	starts := make(map[string]int64, len(types))
	for _, ct := range types {
		end, err := h.st.LogEnd(ctx, ct)
		if err != nil {
			return err
		}
		starts[ct] = max(end.Entry-1-tailMargin, 0)
	}
	h.mu.Lock()
	h.run = ctx
	h.mu.Unlock()
	for ct, from := range starts {
		h.follow(ct, from)
	}
	h.wg.Go(func() { h.watch(ctx) })
	discover := time.NewTicker(discoverEvery)
	defer discover.Stop()
	for {
		select {
		case <-ctx.Done():
			h.wg.Wait()
			h.close()
			h.senders.stop()
			return nil
		case <-discover.C:
			types, err := h.st.LogTypes(ctx)
			if err != nil {
				h.log.Warn("stream: listing context types", "err", err)
				continue
			}
			for _, ct := range types {
				h.follow(ct, 0)
			}
		}
	}
}

// watch wakes the tails on every commit log entry of any process, where
// the backend has change streams (MongoDB); the poll covers the rest, and
// covers for a change stream that breaks until it is opened again.
func (h *Hub) watch(ctx context.Context) {
	for ctx.Err() == nil {
		err := h.st.WatchLogs(ctx, h.Committed)
		if errors.Is(err, database.ErrNoChangeStreams) {
			return
		}
		if err != nil {
			h.log.Warn("stream: change stream ended; polling until it is open again", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

// discoverEvery is how often the hub looks for new context types (a
// listing of collection names).
const discoverEvery = time.Second

// Committed tells the hub that this process wrote to context type ct.
func (h *Hub) Committed(ct string) {
	h.mu.Lock()
	t := h.tails[ct]
	h.mu.Unlock()
	if t == nil {
		t = h.follow(ct, 0)
	}
	if t != nil {
		select {
		case t.kick <- struct{}{}:
		default: // a read is due anyway
		}
	}
}

// follow starts reading ct's log after entry through, unless it is read
// already or the hub is not running.
func (h *Hub) follow(ct string, through int64) *tail {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.tails[ct]; t != nil || h.run == nil || h.closed {
		return t
	}
	t := &tail{ct: ct, kick: make(chan struct{}, 1), through: through}
	h.tails[ct] = t
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.read(h.run, t)
	}()
	return t
}

// read is a tail's loop: read what is new, hand it out, wait for a kick
// or the next poll.
func (h *Hub) read(ctx context.Context, t *tail) {
	poll := time.NewTicker(h.cfg.Poll)
	defer poll.Stop()
	for {
		for {
			commits, through, err := h.st.ReadLog(ctx, t.ct, t.through, readBatch)
			if err != nil {
				if ctx.Err() == nil {
					h.log.Warn("stream: reading the commit log", "ct", t.ct, "err", err)
				}
				break
			}
			after, events := t.through, 0
			for _, c := range commits {
				h.dispatch(Item{Commit: c, After: after, view: newView(c)})
				after, events = c.Log, events+len(c.Events)
			}
			t.through = through
			h.cfg.Metrics.position.WithLabelValues(t.ct).Set(float64(through))
			if events < readBatch { // it stopped at the log's end, not at the batch's
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
		case <-poll.C:
		}
	}
}

// readBatch is about how many events a tail reads at once.
const readBatch = 1000

// dispatch hands it to every subscription whose scope holds its commit. A
// subscription whose buffer is full is cut off, never waited for.
func (h *Hub) dispatch(it Item) {
	c := it.Commit
	h.cfg.Metrics.lag.Observe(time.Since(c.At).Seconds())
	h.mu.Lock()
	var subs []*Subscription
	for _, key := range []scopeKey{{Ct: c.Ct, Cid: c.Cid}, {Ct: c.Ct}, {}} {
		for s := range h.subs[key] {
			subs = append(subs, s)
		}
	}
	h.mu.Unlock()
	// In bunches, yielding between them: every send readies a stream's
	// goroutine, and a writer whose database answer arrives meanwhile
	// would otherwise wait behind all of them.
	for len(subs) > 0 {
		bunch := subs[:min(len(subs), dispatchBunch)]
		subs = subs[len(bunch):]
		h.mu.Lock()
		for _, s := range bunch {
			if !s.push(it, h.cfg.Buffer) {
				h.cfg.Metrics.overflows.Inc()
				h.drop(s)
			}
		}
		h.mu.Unlock()
		if len(subs) > 0 {
			runtime.Gosched()
		}
	}
}

// dispatchBunch is how many subscriptions get a commit between yields.
const dispatchBunch = 64

// Subscribe starts receiving the commits of scope from now on.
func (h *Hub) Subscribe(scope Scope) *Subscription {
	if scope.Ct != "" {
		h.follow(scope.Ct, 0) // unless followed already: a type that appeared since the last look, from its start
	}
	s := &Subscription{scope: scope, hub: h, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.done = true
		return s
	}
	key := scopeKey(scope)
	if h.subs[key] == nil {
		h.subs[key] = map[*Subscription]bool{}
	}
	h.subs[key][s] = true
	return s
}

// drop (h.mu held) removes s and ends it, once; take returns what it
// holds first.
func (h *Hub) drop(s *Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.done = true
	key := scopeKey(s.scope)
	delete(h.subs[key], s)
	if len(h.subs[key]) == 0 {
		delete(h.subs, key)
	}
	s.signal()
}

// close ends every subscription when the hub stops.
func (h *Hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, subs := range h.subs {
		for s := range subs {
			h.drop(s)
		}
	}
}

// Subscribers is how many subscriptions are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, subs := range h.subs {
		n += len(subs)
	}
	return n
}
