package stream

import "sync"

// Subscription receives the commits of its scope (take) until it is
// closed by Close, by the hub's end, or because it fell Buffer commits
// behind (then Overflowed is true). An Item without a Commit is a tick of
// Follow's heartbeat clock. What waits in it is a slice that grows with
// what is queued: an idle subscription holds next to nothing.
type Subscription struct {
	scope Scope
	hub   *Hub
	wake  chan struct{} // a token when items arrive or the subscription ends

	mu       sync.Mutex
	items    []Item
	over     bool   // it fell behind
	done     bool   // closed: nothing more is put in
	notify   func() // a detached subscription's drain, started when items arrive and none runs
	draining bool
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.drop(s)
}

// push queues it, unless s is closed; it reports false when s already
// holds limit items (it fell behind, and is marked so).
func (s *Subscription) push(it Item, limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.done:
		return true
	case len(s.items) >= limit:
		s.over = true
		return false
	}
	s.items = append(s.items, it)
	if len(s.items) == 1 {
		s.signal()
	}
	return true
}

// signal (s.mu held) leaves a wake token, unless one is waiting already;
// a detached subscription starts its drain, unless one runs.
func (s *Subscription) signal() {
	if s.notify != nil {
		if !s.draining {
			s.draining = true
			s.hub.senders.ready(s)
		}
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take waits until s holds items and returns them all, oldest first;
// false once s is closed and empty. spare is what an earlier take
// returned, done with: its array is reused unless it grew large.
func (s *Subscription) take(spare []Item) ([]Item, bool) {
	clear(spare) // no commits kept alive by it
	if cap(spare) > keepItems {
		spare = nil
	}
	for {
		s.mu.Lock()
		if items := s.items; len(items) > 0 {
			s.items = spare[:0]
			s.mu.Unlock()
			return items, true
		}
		done := s.done
		s.mu.Unlock()
		if done {
			return nil, false
		}
		<-s.wake
	}
}

// detach has drain called on a goroutine of its own whenever items arrive
// (or s ends) and no drain runs, in place of take: drain calls poll until
// it reports nothing.
func (s *Subscription) detach(drain func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notify = drain
	if len(s.items) > 0 || s.done {
		s.draining = true
		s.hub.senders.ready(s)
	}
}

// poll is take for a detached subscription, without waiting: what s
// holds, or nothing, which ends the drain that called it. open reports
// whether s may bring more (then a drain is started for it); once it is
// false, no drain is started again.
func (s *Subscription) poll(spare []Item) (items []Item, open bool) {
	clear(spare)
	if cap(spare) > keepItems {
		spare = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if items := s.items; len(items) > 0 {
		s.items = spare[:0]
		return items, true
	}
	if s.done {
		return nil, false
	}
	s.draining = false
	return nil, true
}

// keepItems is the largest queue array a subscription keeps for reuse.
const keepItems = 16

// tick queues an empty Item (no Commit), unless s is closed or holds
// items already (then there is traffic): Follow's heartbeat clock.
func (s *Subscription) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done && len(s.items) == 0 {
		s.items = append(s.items, Item{})
		s.signal()
	}
}

// Overflowed reports whether the hub cut the subscription off because it
// fell behind. Read it once take reports the end.
func (s *Subscription) Overflowed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.over
}
