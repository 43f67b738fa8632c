package client_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/client"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// followTimeout bounds a test's stream: the events come within a few
// seconds; a test that waits this long has failed.
const followTimeout = 60 * time.Second

// TestFollowAcrossDisconnects: a stream whose connection is cut five
// times, in its backlog and live, while the room grows, yields every
// event of the room once, in timeline order.
func TestFollowAcrossDisconnects(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newServer(t, b, serverConfig{})
		newRoom(t, s, "live")
		appendMessages(t, s.st, "live", 10)
		p := newProxy(t, s.addr())
		ctx, cancel := context.WithTimeout(storetest.Context(t), followTimeout)
		defer cancel()
		const more = 30
		var got []string
		caughtUp := 0
	follow:
		for m, err := range newClient(t, p.URL, client.WithVerify()).Follow(ctx, "room", "live", "start") {
			if err != nil {
				t.Fatalf("after %d events: %v", len(got), err)
			}
			if m.Cursor == "" {
				t.Fatalf("a %s without a cursor", m.Kind)
			}
			switch m.Kind {
			case client.KindCaughtUp:
				caughtUp++
			case client.KindEvent:
				got = append(got, m.Event.ID)
				if len(got)%7 == 0 {
					p.cut()
				}
				if len(got) == 1+10+more {
					break follow
				}
				if len(got) >= 11 { // past the backlog: the room grows as the stream goes
					appendMessages(t, s.st, "live", 1)
				}
			}
		}
		if want := timeline(t, s.st, "live"); !slices.Equal(got, want) {
			t.Fatalf("the stream yielded %d events, not the room's %d once each in timeline order", len(got), len(want))
		}
		if n := p.accepted.Load(); n < 6 || caughtUp < 1 {
			t.Fatalf("%d connections and %d caught-up, want 6 (5 cuts) and at least 1", n, caughtUp)
		}
	})
}

// TestFollowAcrossRestart: the server goes away in the middle of a stream
// (the client's reconnections are refused a while) and another comes on
// the same database; the stream goes on with every event once, in order.
func TestFollowAcrossRestart(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		conn := b.Connect(t, storetest.Options{})
		first := startServer(t, conn, serverConfig{})
		newRoom(t, first, "live")
		appendMessages(t, first.st, "live", 10)
		p := newProxy(t, first.addr())
		ctx, cancel := context.WithTimeout(storetest.Context(t), followTimeout)
		defer cancel()
		type result struct {
			m   client.Message
			err error
		}
		messages := make(chan result, 1000) // never blocks the stream: it must reconnect by itself
		followed := make(chan struct{})
		go func() {
			defer close(followed)
			for m, err := range newClient(t, p.URL, client.WithVerify()).Follow(ctx, "room", "live", "start") {
				messages <- result{m, err}
			}
		}()
		var got []string
		next := func() {
			t.Helper()
			for {
				r := <-messages
				if r.err != nil {
					t.Fatalf("after %d events: %v", len(got), r.err)
				}
				if r.m.Kind == client.KindEvent {
					got = append(got, r.m.Event.ID)
					return
				}
			}
		}
		for range 5 {
			next()
		}
		first.stop()
		for deadline := time.Now().Add(followTimeout); p.refused.Load() < 2; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the client did not try to reconnect")
			}
		}
		second := startServer(t, conn, serverConfig{})
		appendMessages(t, second.st, "live", 5) // before the client can reach it
		p.setTarget(second.addr())
		appendMessages(t, second.st, "live", 5)
		for len(got) < 1+10+10 {
			next()
		}
		cancel()
		<-followed
		if want := timeline(t, second.st, "live"); !slices.Equal(got, want) {
			t.Fatalf("the stream yielded %d events, not the room's %d once each in timeline order", len(got), len(want))
		}
	})
}

// TestFollowAfterReset: a consumer that stops reading is cut off by the
// server with a reset; the client yields it and resumes from its cursor,
// and nothing is missed or repeated.
func TestFollowAfterReset(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newServer(t, b, serverConfig{buffer: 2, small: true})
		newRoom(t, s, "slow")
		ctx, cancel := context.WithTimeout(storetest.Context(t), followTimeout)
		defer cancel()
		// 40 events of 16 KiB: more than the (small) sockets between us
		// hold, so that the server's writes block and the hub cuts the
		// stream off.
		const n = 40
		pad := `"` + strings.Repeat("x", 16<<10) + `"`
		var got []string
		resets := 0
		for m, err := range newClient(t, s.URL, client.WithHTTPClient(smallReceiveBuffer(t))).Follow(ctx, "room", "slow", "start") {
			if err != nil {
				t.Fatalf("after %d events: %v", len(got), err)
			}
			switch m.Kind {
			case client.KindCaughtUp:
				if resets == 0 && len(got) == 1 { // the first: stop reading while the room fills
					for i := range n {
						o := storetest.Data(t, `{"i":`+strconv.Itoa(i)+`,"pad":`+pad+`}`)
						if _, _, err := s.st.Append(ctx, "room", "slow", store.NewEvent{T: "msg", O: o}); err != nil {
							t.Fatal(err)
						}
					}
				}
			case client.KindReset:
				if m.Cursor == "" {
					t.Fatal("a reset without a cursor")
				}
				resets++
			case client.KindEvent:
				got = append(got, m.Event.ID)
			}
			if len(got) == 1+n {
				break
			}
		}
		if want := timeline(t, s.st, "slow"); !slices.Equal(got, want) {
			t.Fatalf("the stream yielded %d events, not the room's %d once each in timeline order", len(got), len(want))
		}
		if resets == 0 {
			t.Fatal("no reset: the test did not fill the sockets")
		}
	})
}

// TestFollowServer: the server-wide stream of a context type yields every
// event of its rooms once, each room in its timeline order; a type filter
// on a room's stream yields only that type.
func TestFollowServer(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newServer(t, b, serverConfig{})
		for _, cid := range []string{"a", "b"} {
			newRoom(t, s, cid)
			appendMessages(t, s.st, cid, 3)
		}
		ctx, cancel := context.WithTimeout(storetest.Context(t), followTimeout)
		defer cancel()
		c := newClient(t, s.URL, client.WithVerify())
		got := map[string][]string{}
		n := 0
		for m, err := range c.FollowServer(ctx, client.ServerStream{Ct: "room", From: "start"}) {
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind == client.KindEvent {
				got[m.Event.Cid] = append(got[m.Event.Cid], m.Event.ID)
				if n++; n == 8 {
					break
				}
			}
		}
		for _, cid := range []string{"a", "b"} {
			if want := timeline(t, s.st, cid); !slices.Equal(got[cid], want) {
				t.Errorf("room %s: %d events, want its %d once each in timeline order", cid, len(got[cid]), len(want))
			}
		}
		var types []string
		for m, err := range c.FollowContext(ctx, client.ContextStream{Ct: "room", Cid: "a", T: "msg", From: "start"}) {
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind == client.KindCaughtUp {
				break
			}
			types = append(types, m.Event.T)
		}
		if !slices.Equal(types, []string{"msg", "msg", "msg"}) {
			t.Fatalf("t=msg yielded %v", types)
		}
	})
}

// TestFollowStops: breaking out of the loop closes the stream's
// connection; a context that ends ends the iteration with its error.
func TestFollowStops(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newServer(t, b, serverConfig{})
		newRoom(t, s, "r")
		p := newProxy(t, s.addr())
		ctx := storetest.Context(t)
		c := newClient(t, p.URL)
		for m, err := range c.Follow(ctx, "room", "r", "") {
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind == client.KindCaughtUp {
				break
			}
		}
		for deadline := time.Now().Add(followTimeout); p.connections() > 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the stream's connection is still open after the loop stopped")
			}
		}

		stop, cancel := context.WithCancel(ctx)
		defer cancel()
		var last error
		yields := 0
		for m, err := range c.Follow(stop, "room", "r", "") {
			yields++
			if m.Kind == client.KindCaughtUp && err == nil {
				cancel()
			}
			last = err
		}
		if yields != 2 || !errors.Is(last, context.Canceled) {
			t.Fatalf("%d yields, the last error %v; want caught-up, then the context's error", yields, last)
		}
	})
}
