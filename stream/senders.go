package stream

import (
	"runtime"
	"sync"
	"time"
)

// senders run the drains of detached streams (FollowDetached): a few
// goroutines take the subscriptions that have something to send, one
// after the other, and yield between them. With a goroutine per drain, a
// commit to a room with a thousand subscribers made a thousand goroutines
// runnable at once, and the request that wrote the next event waited
// behind all of them at each of its steps: appends went at the pace of
// the fan-out. With a few senders the writers keep their share of the
// cores, and a busy room's subscribers get several events per write.
//
// A drain that stalls (a client that does not read, a slow store read)
// must not hold the others up: one that has run for stallAfter counts as
// stalled, and while every sender is, an extra one starts for what waits,
// and ends when nothing does.
type senders struct {
	n int // regular senders, started as they are needed

	mu      sync.Mutex
	queue   []*Subscription // ready to drain, in the order they became so
	running int             // regular senders running
	extra   int             // extra senders running
	stalled int             // senders in a drain that has run for stallAfter
	stopped bool            // the hub has stopped: regular senders end when nothing waits
	wake    chan struct{}   // a token when something waits
	quit    chan struct{}   // closed by stop
}

// sender is one sender's state, under senders.mu.
type sender struct {
	extra    bool // it ends when nothing waits
	draining bool
	stalled  bool // its drain has run for stallAfter
}

// stallAfter is how long a drain runs before another sender may start.
const stallAfter = 20 * time.Millisecond

// DefaultSenders is Config.Senders's default: half the cores, at least one.
func DefaultSenders() int { return max(1, runtime.GOMAXPROCS(0)/2) }

func newSenders(n int) *senders {
	return &senders{n: n, wake: make(chan struct{}, 1), quit: make(chan struct{})}
}

// ready queues s, whose drain is due.
func (ss *senders) ready(s *Subscription) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.queue = append(ss.queue, s)
	switch {
	case !ss.stopped && ss.running < ss.n:
		ss.running++
		go ss.work(&sender{})
	case ss.running+ss.extra-ss.stalled <= 0: // none free to take it: every one is stalled, or the hub has stopped
		ss.startExtra()
	default:
		ss.signal()
	}
}

// startExtra (ss.mu held) starts an extra sender.
func (ss *senders) startExtra() {
	ss.extra++
	go ss.work(&sender{extra: true})
}

// signal (ss.mu held) leaves a wake token for a waiting sender.
func (ss *senders) signal() {
	select {
	case ss.wake <- struct{}{}:
	default:
	}
}

// stop has the regular senders end once nothing waits.
func (ss *senders) stop() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if !ss.stopped {
		ss.stopped = true
		close(ss.quit)
	}
}

// next ends w's last drain and takes its next subscription, or nil when w
// is to end: an extra sender when nothing waits, a regular one when
// nothing waits after stop.
func (ss *senders) next(w *sender) *Subscription {
	ss.mu.Lock()
	w.draining = false
	if w.stalled {
		w.stalled = false
		ss.stalled--
	}
	for {
		if len(ss.queue) > 0 {
			s := ss.queue[0]
			ss.queue[0] = nil
			if ss.queue = ss.queue[1:]; len(ss.queue) == 0 {
				ss.queue = nil // an idle hub holds no array
			} else {
				ss.signal() // more than this sender can take at once
			}
			w.draining = true
			ss.mu.Unlock()
			return s
		}
		if w.extra || ss.stopped {
			if w.extra {
				ss.extra--
			} else {
				ss.running--
			}
			ss.mu.Unlock()
			return nil
		}
		ss.mu.Unlock()
		select {
		case <-ss.wake:
		case <-ss.quit:
		}
		ss.mu.Lock()
	}
}

// work is one sender's loop.
func (ss *senders) work(w *sender) {
	stall := time.AfterFunc(time.Hour, func() { ss.stall(w) })
	stall.Stop()
	defer stall.Stop()
	for {
		s := ss.next(w)
		if s == nil {
			return
		}
		stall.Reset(stallAfter)
		s.notify()
		stall.Stop()
		runtime.Gosched() // the writers' turn
	}
}

// stall marks w stalled, if its drain still runs; if that leaves no
// sender free for what waits, an extra one starts.
func (ss *senders) stall(w *sender) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if !w.draining || w.stalled {
		return
	}
	w.stalled = true
	ss.stalled++
	if len(ss.queue) > 0 && ss.running+ss.extra-ss.stalled <= 0 {
		ss.startExtra()
	}
}
