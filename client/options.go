package client

import (
	"net/http"
	"time"
)

// Defaults of the options.
const (
	DefaultAttempts    = 4                      // tries of a request that may be retried
	DefaultRetryBase   = 100 * time.Millisecond // the first backoff's upper bound
	DefaultIdleTimeout = 45 * time.Second       // three of the server's 15 s heartbeats
	DefaultUserAgent   = "eventstore-go-client/1"
)

// maxBackoff bounds one wait between attempts or reconnections, and
// maxRetryAfter the wait a server may ask for with Retry-After.
const (
	maxBackoff    = 5 * time.Second
	maxRetryAfter = 10 * time.Second
)

// Option configures a Client.
type Option func(*options)

type options struct {
	token     string
	http      *http.Client
	userAgent string
	attempts  int
	base      time.Duration
	verify    bool
	idle      time.Duration
}

func defaultOptions() options {
	return options{http: http.DefaultClient, userAgent: DefaultUserAgent,
		attempts: DefaultAttempts, base: DefaultRetryBase, idle: DefaultIdleTimeout}
}

// WithToken sends token as "Authorization: Bearer <token>" on every
// request, streams included.
func WithToken(token string) Option {
	return func(o *options) { o.token = token }
}

// WithHTTPClient sends requests through hc instead of http.DefaultClient.
// Leave hc.Timeout zero if you follow streams: it bounds a whole response,
// so a stream would be cut (and reconnected) every Timeout. Bound calls
// with their context instead.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) {
		if hc != nil {
			o.http = hc
		}
	}
}

// WithUserAgent sets the User-Agent header (DefaultUserAgent otherwise).
func WithUserAgent(ua string) Option {
	return func(o *options) { o.userAgent = ua }
}

// WithRetry sets how many times in all a request that may be retried is
// tried (attempts; 1: never again) and its backoff: a random wait up to
// base before the first retry, up to 2·base before the second, doubling
// up to 5 s ("full jitter", so that many clients do not come back at
// once). A 429 or 503 with Retry-After waits what it asks, at most 10 s.
// Defaults: DefaultAttempts, DefaultRetryBase.
//
// Retried, on network errors, 5xx and 429: GET requests, and Append with a
// Clid. Never retried: Append without a Clid (the server cannot tell a
// retry from a new message, so a retry after a lost answer would store it
// twice), CreateContext (a retry after a lost answer gets 409
// context_exists for the context this call created), Update (a retry
// would apply the edit again, as a second update event) and Delete (a
// retry after a lost answer gets 410 gone though the delete was done).
// Streams reconnect with the same backoff but without a limit (Follow).
func WithRetry(attempts int, base time.Duration) Option {
	return func(o *options) {
		o.attempts = max(attempts, 1)
		if base > 0 {
			o.base = base
		}
	}
}

// WithVerify checks every event received — by any method, and on streams
// — with Event.Verify (its _id and dHash recompute from its fields and o)
// and checks that it is of the context asked for (and, for Get, the event
// asked for). An event that fails is an *IntegrityError, and a stream ends
// with it. d is not covered: it is the current data, which updates change,
// and no hash binds it; nor are signatures, whose keys the client lacks.
func WithVerify() Option {
	return func(o *options) { o.verify = true }
}

// WithIdleTimeout sets how long a stream may stay silent, heartbeats
// included, before the client takes the connection for dead and
// reconnects (DefaultIdleTimeout; 0 or less: never).
func WithIdleTimeout(d time.Duration) Option {
	return func(o *options) { o.idle = d }
}
