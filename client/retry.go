package client

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// retryHint says whether an attempt that failed may succeed if made again,
// and how long the server asked to wait first (0: not asked).
type retryHint struct {
	ok    bool
	after time.Duration
}

// retryHintOf is the hint of an error answer: 5xx (but 501, which will not
// change) and 429 may pass later; 4xx will not.
func retryHintOf(resp *http.Response) retryHint {
	s := resp.StatusCode
	if s != http.StatusTooManyRequests && (s < 500 || s == http.StatusNotImplemented) {
		return retryHint{}
	}
	return retryHint{ok: true, after: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
}

// retryAfter reads a Retry-After header, seconds or an HTTP date, bounded
// by maxRetryAfter; 0 when absent or unreadable.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(h); err == nil {
		d = time.Duration(secs) * time.Second
	} else if at, err := http.ParseTime(h); err == nil {
		d = at.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// backoff is the wait before retry number attempt+1: what the server
// asked for, or else a random time up to base·2^attempt ("full jitter"),
// at most maxBackoff.
func (c *Client) backoff(attempt int, asked time.Duration) time.Duration {
	if asked > 0 {
		return asked
	}
	ceiling := maxBackoff
	if attempt < 30 && c.opts.base <= maxBackoff>>attempt {
		ceiling = c.opts.base << attempt
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

// sleep waits d, or until ctx ends (its error then).
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
