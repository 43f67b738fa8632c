package federation

import (
	"sync"

	"golang.org/x/time/rate"
)

// buckets are token buckets by key (a peer, a source address), made on
// first use; at most max are kept (then all are forgotten, which only
// ever lets more through).
type buckets struct {
	mu     sync.Mutex
	perSec float64
	burst  int
	max    int
	byKey  map[string]*rate.Limiter
}

func newBuckets(perSec float64, burst, max int) *buckets {
	return &buckets{perSec: perSec, burst: burst, max: max, byKey: map[string]*rate.Limiter{}}
}

func (b *buckets) get(key string) *rate.Limiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.byKey[key]
	if l == nil {
		if len(b.byKey) >= b.max {
			clear(b.byKey)
		}
		l = rate.NewLimiter(rate.Limit(b.perSec), b.burst)
		b.byKey[key] = l
	}
	return l
}

// rateLimits gives every peer a token bucket for its requests, so that one
// peer (broken, or hostile) cannot take the server from the others.
type rateLimits struct{ *buckets }

func newRateLimits(perSecond float64) *rateLimits {
	if perSecond <= 0 {
		perSecond = 200
	}
	return &rateLimits{newBuckets(perSecond, int(2*perSecond), maxTracked)}
}

func (l *rateLimits) allow(peer string) bool { return l.get(peer).Allow() }

// failureLimits counts failed requests by source address: an address whose
// bucket is empty is refused before its request is looked at, until the
// bucket refills. Only failures take tokens.
type failureLimits struct{ *buckets }

// Failed requests an address may make: failuresPerSecond, bursts of
// failuresBurst; at most maxTracked peers or addresses are tracked.
const (
	failuresPerSecond = 5
	failuresBurst     = 50
	maxTracked        = 10_000
)

func newFailureLimits() *failureLimits {
	return &failureLimits{newBuckets(failuresPerSecond, failuresBurst, maxTracked)}
}

// ok reports whether addr may make a request now.
func (l *failureLimits) ok(addr string) bool { return l.get(addr).Tokens() >= 1 }

// failed charges a failed request to addr.
func (l *failureLimits) failed(addr string) { l.get(addr).Allow() }
