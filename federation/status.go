package federation

import (
	"slices"
	"strings"
	"time"
)

// PeerStatus is what an operator wants to know about delivery to a peer.
type PeerStatus struct {
	Peer              string    `json:"peer"`
	Sending           bool      `json:"sending"` // this process holds the peer's lease
	Failing           bool      `json:"failing"` // the last delivery failed
	LastError         string    `json:"lastError,omitempty"`
	LastSuccess       time.Time `json:"lastSuccess,omitzero"`
	Retries           int64     `json:"retries"`        // failed deliveries so far
	EventsSent        int64     `json:"eventsSent"`     // by this process
	OutboxVersions    int64     `json:"outboxVersions"` // head versions not yet delivered, over all contexts
	OldestUndelivered time.Time `json:"oldestUndelivered,omitzero"`
}

// Status reports every peer, sorted by name.
func (f *Federation) Status() []PeerStatus {
	f.mu.Lock()
	senders := make([]*sender, 0, len(f.senders))
	for _, s := range f.senders {
		senders = append(senders, s)
	}
	f.mu.Unlock()
	out := make([]PeerStatus, 0, len(senders))
	for _, s := range senders {
		s.mu.Lock()
		st := s.stats
		s.mu.Unlock()
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return strings.Compare(a.Peer, b.Peer) })
	return out
}

func (s *sender) failed(err error) {
	s.mu.Lock()
	s.stats.Failing, s.stats.LastError, s.stats.Sending = true, err.Error(), true
	s.stats.Retries++
	s.mu.Unlock()
	s.f.metrics.retry(s.peer)
	s.f.log.Debug("federation: delivery failed", "peer", s.peer, "err", err)
}

func (s *sender) succeeded() {
	now := s.f.now()
	s.mu.Lock()
	s.stats.Failing, s.stats.LastError, s.stats.Sending = false, "", true
	s.stats.LastSuccess = now
	s.mu.Unlock()
	s.f.metrics.delivered(s.peer, now)
}

func (s *sender) observeOutbox(versions int64, oldest time.Time) {
	s.mu.Lock()
	s.stats.OutboxVersions, s.stats.OldestUndelivered = versions, oldest
	s.mu.Unlock()
	age := time.Duration(0)
	if !oldest.IsZero() {
		age = s.f.now().Sub(oldest)
	}
	s.f.metrics.outbox(s.peer, versions, age)
}
