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

// failureLimits counts failed requests by source address: an address whose
// bucket is empty is refused before its request is looked at, until the
// bucket refills. Only failures take tokens.
type failureLimits struct {
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// Failed requests an address may make: failuresPerSecond, bursts of
// failuresBurst; at most failureAddresses are tracked (then all are
// forgotten, which only ever lets more through).
const (
	failuresPerSecond = 5
	failuresBurst     = 50
	failureAddresses  = 10_000
)

func newFailureLimits() *failureLimits { return &failureLimits{buckets: map[string]*rate.Limiter{}} }

func (l *failureLimits) bucket(addr string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= failureAddresses {
			clear(l.buckets)
		}
		b = rate.NewLimiter(failuresPerSecond, failuresBurst)
		l.buckets[addr] = b
	}
	return b
}

// ok reports whether addr may make a request now.
func (l *failureLimits) ok(addr string) bool { return l.bucket(addr).Tokens() >= 1 }

// failed charges a failed request to addr.
func (l *failureLimits) failed(addr string) { l.bucket(addr).Allow() }
