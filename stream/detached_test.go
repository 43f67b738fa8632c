package stream_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/store/storetest"
	"github.com/eventstore-go/eventstore/stream"
)

// detached follows req detached, into c; the returned channel gets the
// stream's end.
func detached(t *testing.T, ctx context.Context, hub *stream.Hub, req stream.Request, c *collector, send func(stream.Message) error) <-chan error {
	t.Helper()
	if send == nil {
		send = c.add
	}
	ended := make(chan error, 2) // a second end would be a bug, and is looked for
	if err := hub.FollowDetached(ctx, req, send, func(err error) { ended <- err }); err != nil {
		t.Fatal(err)
	}
	return ended
}

// TestFollowDetached: detached streams hold no goroutine while idle, get
// every event of the room exactly once and in timeline order while 8
// writers append (one of them stuck in a send meanwhile, which holds up
// no other), and end once each, with nil, when their context ends.
func TestFollowDetached(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		n := newNode(t, b.Connect(t, storetest.Options{}), stream.Config{})
		ctx := storetest.Context(t)
		if _, err := n.st.CreateContext(ctx, "room", "d", "", nil); err != nil {
			t.Fatal(err)
		}
		// Goroutines of package stream, told apart by their stacks (the
		// database driver's pool and the embedded store grow their own).
		streamGoroutines := func() int {
			time.Sleep(50 * time.Millisecond)
			buf := make([]byte, 4<<20)
			n := 0
			for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
				if strings.Contains(g, "eventstore/stream.") {
					n++
				}
			}
			return n
		}
		before := streamGoroutines()
		sctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		const streams = 200
		cs := make([]collector, streams)
		ends := make([]<-chan error, streams)
		for i := range cs {
			ends[i] = detached(t, sctx, n.hub, stream.Request{Ct: "room", Cid: "d", From: stream.Start}, &cs[i], nil)
		}
		if grown := streamGoroutines() - before; grown > stream.DefaultSenders() {
			t.Errorf("%d idle detached streams hold %d goroutines of package stream more than none (the senders: %d)", streams, grown, stream.DefaultSenders())
		}
		// A stuck one: it blocks on its first live event until released.
		var stuck collector
		release := make(chan struct{})
		var once sync.Once
		live := false
		stuckEnd := detached(t, sctx, n.hub, stream.Request{Ct: "room", Cid: "d", From: stream.Start}, &stuck, func(m stream.Message) error {
			switch {
			case m.Kind == stream.KindCaughtUp:
				live = true
			case m.Kind == stream.KindEvent && live:
				once.Do(func() { <-release })
			}
			return stuck.add(m)
		})
		appendAll(t, n.st, "room", "d", 8, 25)
		want := timeline(t, n.st, "room", "d")
		for i := range cs {
			if got := cs[i].waitFor(t, len(want)); !slices.Equal(ids(got), want) {
				t.Fatalf("detached stream %d holds %d events, not the room's %d in order", i, len(got), len(want))
			}
		}
		close(release)
		if got := stuck.waitFor(t, len(want)); !slices.Equal(ids(got), want) {
			t.Fatalf("the stream that was stuck holds %d events, not the room's %d in order", len(got), len(want))
		}
		cancel()
		for i, end := range append(ends, stuckEnd) {
			select {
			case err := <-end:
				if err != nil {
					t.Fatalf("detached stream %d ended with %v at its context's end, want nil", i, err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("detached stream %d did not end with its context", i)
			}
		}
		time.Sleep(50 * time.Millisecond)
		for i, end := range ends {
			if len(end) > 0 {
				t.Fatalf("detached stream %d ended twice", i)
			}
		}
		if n.hub.Subscribers() != 0 {
			t.Errorf("%d subscriptions open after every stream ended", n.hub.Subscribers())
		}
	})
}

// TestDetachedSlowSubscriberIsReset: a detached stream that falls behind
// by the hub's buffer gets a reset message with the cursor to resume from,
// and ends with ErrReset; resumed from it, it gets the rest once each.
func TestDetachedSlowSubscriberIsReset(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		n := newNode(t, b.Connect(t, storetest.Options{}), stream.Config{Buffer: 4})
		if _, err := n.st.CreateContext(storetest.Context(t), "room", "slow", "", nil); err != nil {
			t.Fatal(err)
		}
		var c collector
		release, stuck := make(chan struct{}), make(chan struct{})
		var once sync.Once
		end := detached(t, context.Background(), n.hub, stream.Request{Ct: "room", Cid: "slow"}, &c, func(m stream.Message) error {
			if m.Kind == stream.KindEvent {
				once.Do(func() { close(stuck); <-release }) // a client that does not read
			}
			return c.add(m)
		})
		appendAll(t, n.st, "room", "slow", 1, 1)
		<-stuck
		appendAll(t, n.st, "room", "slow", 8, 25) // returns although the subscriber is stuck
		close(release)
		select {
		case err := <-end:
			if !errors.Is(err, stream.ErrReset) || c.resets != 1 {
				t.Fatalf("the stuck stream ended with %v and %d reset messages, want a reset and one", err, c.resets)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the stuck stream did not end")
		}
		want := timeline(t, n.st, "room", "slow")[1:] // after the genesis
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		detached(t, ctx, n.hub, stream.Request{Ct: "room", Cid: "slow", From: c.cursor}, &c, nil)
		if got := c.waitFor(t, len(want)); !slices.Equal(ids(got), want) {
			t.Fatalf("after the reset the stream holds %d events, not the room's %d in order", len(got), len(want))
		}
	})
}

// TestStalledSenderDoesNotHoldOthers: with one sender, a stream whose send
// blocks does not keep the others from their events: another sender
// starts for the time it is stalled, and ends after.
func TestStalledSenderDoesNotHoldOthers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		n := newNode(t, b.Connect(t, storetest.Options{}), stream.Config{Senders: 1})
		ctx := storetest.Context(t)
		if _, err := n.st.CreateContext(ctx, "room", "s", "", nil); err != nil {
			t.Fatal(err)
		}
		sendersNow := func() int {
			buf := make([]byte, 1<<20)
			return strings.Count(string(buf[:runtime.Stack(buf, true)]), "stream.(*senders).work(")
		}
		before := sendersNow()
		sctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var blocked collector
		others := make([]collector, 10) // the hub hands a commit out in no set order: most come after the blocked one
		release, inSend := make(chan struct{}), make(chan struct{})
		var once sync.Once
		detached(t, sctx, n.hub, stream.Request{Ct: "room", Cid: "s"}, &blocked, func(m stream.Message) error {
			if m.Kind == stream.KindEvent {
				once.Do(func() { close(inSend); <-release })
			}
			return blocked.add(m)
		})
		for i := range others {
			detached(t, sctx, n.hub, stream.Request{Ct: "room", Cid: "s"}, &others[i], nil)
		}
		appendAll(t, n.st, "room", "s", 1, 1)
		<-inSend
		for i := range others {
			others[i].waitForOr(t, 1, func() { close(release) }) // fails if the stalled sender held them up
		}
		close(release)
		blocked.waitFor(t, 1)
		cancel()
		time.Sleep(100 * time.Millisecond)
		if now := sendersNow(); now > before+1 { // the hub's one sender, and no extra
			t.Errorf("%d senders after the stall, want at most %d", now, before+1)
		}
	})
}
