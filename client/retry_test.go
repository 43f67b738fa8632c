package client_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/client"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestAppendWithClidIsRetried: the answer to an append with a clid is
// lost (the connection is reset once the server has stored the event and
// starts to answer); the client retries and gets the same event back, and
// the room holds it once.
func TestAppendWithClidIsRetried(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		s := newServer(t, b, serverConfig{})
		g := newRoom(t, s, "r")
		p := newProxy(t, s.addr())
		p.loseAnswer.Store(true)
		c := newClient(t, p.URL)
		e, created, err := c.Append(ctx, "room", "r", client.NewEvent{T: "msg", O: map[string]string{"msg": "once"}, Clid: "m-1"})
		if err != nil {
			t.Fatal(err)
		}
		if created {
			t.Error("created: want false, the server's answer to the retry (200, the clid was used)")
		}
		if n := p.accepted.Load(); n != 2 {
			t.Errorf("%d connections, want 2: the lost one and the retry", n)
		}
		if ids := timeline(t, s.st, "r"); len(ids) != 2 || ids[0] != g.ID || ids[1] != e.ID {
			t.Fatalf("the room holds %v, want the genesis and %s once", ids, e.ID)
		}
	})
}

// TestAppendWithoutClidIsNotRetried: the same lost answer without a clid
// is an error, and the one attempt's event is the only one stored.
func TestAppendWithoutClidIsNotRetried(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		s := newServer(t, b, serverConfig{})
		newRoom(t, s, "r")
		p := newProxy(t, s.addr())
		p.loseAnswer.Store(true)
		c := newClient(t, p.URL)
		_, _, err := c.Append(ctx, "room", "r", client.NewEvent{T: "msg"})
		if eventstore.ErrorCode(err) != eventstore.EUNAVAILABLE || !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("append: %v, want unavailable, from a connection reset", err)
		}
		if n := p.accepted.Load(); n != 1 {
			t.Errorf("%d connections, want 1: no retry", n)
		}
		if ids := timeline(t, s.st, "r"); len(ids) != 2 {
			t.Fatalf("the room holds %d events, want the genesis and the one append", len(ids))
		}
	})
}

// failing answers the first n requests that match with status (and
// Retry-After when after is set) and counts the requests that match.
type failing struct {
	match  func(*http.Request) bool
	n      int64
	status int
	after  string
	seen   atomic.Int64
}

func (f *failing) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !f.match(r) {
			next.ServeHTTP(w, r)
			return
		}
		if f.seen.Add(1) > f.n {
			next.ServeHTTP(w, r)
			return
		}
		if f.after != "" {
			w.Header().Set("Retry-After", f.after)
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(`{"type":"about:blank","title":"Unavailable","status":503,"detail":"try later","code":"unavailable"}`))
	})
}

func method(m string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.Method == m }
}

// TestRetries: reads are retried on 5xx until they pass, at most the
// attempts configured; a Retry-After is waited for; Delete is not retried.
func TestRetries(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		t.Run("get passes on the third attempt", func(t *testing.T) {
			f := &failing{match: method(http.MethodGet), n: 2, status: http.StatusServiceUnavailable}
			s := newServer(t, b, serverConfig{wrap: f.wrap})
			newRoom(t, s, "r")
			if _, err := newClient(t, s.URL).Context(ctx, "room", "r"); err != nil {
				t.Fatal(err)
			}
			if n := f.seen.Load(); n != 3 {
				t.Fatalf("%d requests, want 3", n)
			}
		})
		t.Run("attempts are bounded", func(t *testing.T) {
			f := &failing{match: method(http.MethodGet), n: 100, status: http.StatusInternalServerError}
			s := newServer(t, b, serverConfig{wrap: f.wrap})
			_, err := newClient(t, s.URL, client.WithRetry(3, time.Millisecond)).Leaves(ctx, "room", "r")
			if eventstore.ErrorCode(err) != eventstore.EUNAVAILABLE || f.seen.Load() != 3 {
				t.Fatalf("%v after %d requests, want unavailable after 3", err, f.seen.Load())
			}
		})
		t.Run("Retry-After is waited for", func(t *testing.T) {
			f := &failing{match: method(http.MethodGet), n: 1, status: http.StatusTooManyRequests, after: "1"}
			s := newServer(t, b, serverConfig{wrap: f.wrap})
			newRoom(t, s, "r")
			start := time.Now()
			if _, err := newClient(t, s.URL).Leaves(ctx, "room", "r"); err != nil {
				t.Fatal(err)
			}
			if waited := time.Since(start); waited < time.Second {
				t.Fatalf("the retry came after %v, before the second asked for", waited)
			}
		})
		t.Run("a context that ends stops the retries", func(t *testing.T) {
			f := &failing{match: method(http.MethodGet), n: 100, status: http.StatusServiceUnavailable, after: "5"}
			s := newServer(t, b, serverConfig{wrap: f.wrap})
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			_, err := newClient(t, s.URL).Leaves(short, "room", "r")
			if !errors.Is(err, context.DeadlineExceeded) || eventstore.ErrorCode(err) != eventstore.EUNAVAILABLE || f.seen.Load() != 1 {
				t.Fatalf("%v after %d requests, want the deadline and the last answer's code after 1", err, f.seen.Load())
			}
		})
		t.Run("delete is not retried", func(t *testing.T) {
			f := &failing{match: method(http.MethodDelete), n: 1, status: http.StatusServiceUnavailable}
			s := newServer(t, b, serverConfig{wrap: f.wrap})
			newRoom(t, s, "r")
			c := newClient(t, s.URL)
			e, _, err := c.Append(ctx, "room", "r", client.NewEvent{T: "msg"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Delete(ctx, "room", "r", e.ID); eventstore.ErrorCode(err) != eventstore.EUNAVAILABLE || f.seen.Load() != 1 {
				t.Fatalf("delete: %v after %d requests, want unavailable after 1", err, f.seen.Load())
			}
			if _, err := c.Delete(ctx, "room", "r", e.ID); err != nil {
				t.Fatalf("delete again: %v; the first reached nothing", err)
			}
		})
	})
}
