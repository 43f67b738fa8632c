package federation

import (
	"sync"

	"golang.org/x/time/rate"
)

// rateLimits gives every peer a token bucket for its requests, so that one
// peer (broken, or hostile) cannot take the server from the others.
type rateLimits struct {
	mu      sync.Mutex
	perPeer float64
	buckets map[string]*rate.Limiter
}

func newRateLimits(perSecond float64) *rateLimits {
	if perSecond <= 0 {
		perSecond = 200
	}
	return &rateLimits{perPeer: perSecond, buckets: map[string]*rate.Limiter{}}
}

func (l *rateLimits) allow(peer string) bool {
	l.mu.Lock()
	b := l.buckets[peer]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(l.perPeer), int(2*l.perPeer))
		l.buckets[peer] = b
	}
	l.mu.Unlock()
	return b.Allow()
}
