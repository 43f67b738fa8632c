package store_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestTimelineWalksWhileWriting pages a room backward from its newest
// event to the genesis and forward from the start while four writers
// append and federated events arrive: each walk visits every event of its
// range once, the two are exact reverses, parents come first, and the
// forward walk's end cursor continues with exactly the events that came
// later.
func TestTimelineWalksWhileWriting(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _ := newStore(t, b)
		ctx := ctxT(t)
		if _, err := s.CreateContext(ctx, "room", "w1", "", nil); err != nil {
			t.Fatal(err)
		}
		for i := range 60 {
			if _, _, err := s.Append(ctx, "room", "w1", store.NewEvent{T: "msg", O: storetest.Data(t, fmt.Sprintf(`{"n":%d}`, i))}); err != nil {
				t.Fatal(err)
			}
		}
		stop := make(chan struct{})
		var writers sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 4 {
			writers.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if _, _, err := s.Append(ctx, "room", "w1", store.NewEvent{T: "msg", O: storetest.Data(t, fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		writers.Go(func() { // a peer's events, on whatever leaves it last saw
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				leaves, err := storetest.Leaves(ctx, s, "room", "w1")
				if err != nil {
					errs <- err
					return
				}
				var ts int64
				for _, id := range leaves {
					e, err := s.Get(ctx, "room", "w1", id)
					if err != nil {
						errs <- err
						return
					}
					ts = max(ts, e.TS+1)
				}
				e := storetest.RemoteEvent(t, "b.test", "room", "w1", "msg", ts, leaves, storetest.Data(t, fmt.Sprintf(`{"b":%d}`, i)))
				if _, err := s.IngestFrom(ctx, "", []*eventstore.Event{e}); err != nil {
					errs <- err
					return
				}
			}
		})

		for { // the writers under way
			sum, err := s.Summary(ctx, "room", "w1")
			if err != nil {
				t.Fatal(err)
			}
			if sum.Count >= 150 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		back := walkTimeline(t, s, store.Backward, nil)
		fwd, end := walkForward(t, s, nil, len(back.events)+50) // the writers go on: stop past the backward walk's start
		close(stop)
		writers.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}

		slices.Reverse(back.events)
		if len(fwd) < len(back.events) {
			t.Fatalf("forward walk saw %d events, fewer than the backward walk's %d", len(fwd), len(back.events))
		}
		if !slices.Equal(ids(back.events), ids(fwd[:len(back.events)])) {
			t.Error("the backward walk is not the start of the forward walk, reversed")
		}
		checkOnce(t, fwd)
		checkParentsFirst(t, "forward walk", fwd)
		rest, _ := walkForward(t, s, end, 0)
		all := append(fwd, rest...)
		checkOnce(t, all)
		sum, err := s.Summary(ctx, "room", "w1")
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(all)) != sum.Count {
			t.Errorf("walks saw %d events, the room holds %d", len(all), sum.Count)
		}
		if len(rest) == 0 {
			t.Log("no event arrived after the forward walk ended")
		}
		t.Logf("backward %d, forward %d, after %d events", len(back.events), len(fwd), len(rest))
	})
}

type walked struct{ events []*eventstore.Event }

// walkTimeline pages room/w1 in dir from cursor from to its end.
func walkTimeline(t *testing.T, s *store.Store, dir store.Direction, from *store.Cursor) walked {
	t.Helper()
	var w walked
	for range 100000 {
		p, err := s.List(storetest.Context(t), "room", "w1", store.ListQuery{From: from, Backward: dir, Limit: 9})
		if err != nil {
			t.Fatal(err)
		}
		w.events = append(w.events, p.Events...)
		if p.Next == nil {
			return w
		}
		from = p.Next
	}
	t.Fatal("the walk did not end")
	return w
}

// walkForward pages room/w1 forward, to its end or until it has at least
// enough events (0: to its end), and returns the events and the cursor
// after the last.
func walkForward(t *testing.T, s *store.Store, from *store.Cursor, enough int) ([]*eventstore.Event, *store.Cursor) {
	t.Helper()
	var out []*eventstore.Event
	for range 100000 {
		p, err := s.List(storetest.Context(t), "room", "w1", store.ListQuery{From: from, Limit: 9})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Events...)
		from = &p.End
		if p.Next == nil || enough > 0 && len(out) >= enough {
			return out, from
		}
	}
	t.Fatal("the walk did not end")
	return nil, nil
}

func checkOnce(t *testing.T, events []*eventstore.Event) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range events {
		if seen[e.ID] {
			t.Errorf("event %s visited twice", e.ID)
		}
		seen[e.ID] = true
	}
}

// TestListChecksCursors: a cursor that is not a boundary of the context's
// timeline, and bad queries, are refused with their codes. (That a cursor's
// text is bound to its context and server is stream's TestCursorsAreBound.)
func TestListChecksCursors(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _ := newStore(t, b)
		ctx := ctxT(t)
		for _, cid := range []string{"c1", "c2"} {
			if _, err := s.CreateContext(ctx, "room", cid, "", nil); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if _, _, err := s.Append(ctx, "room", cid, store.NewEvent{T: "msg"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		p, err := s.List(ctx, "room", "c1", store.ListQuery{Limit: 2})
		if err != nil || p.Next == nil {
			t.Fatalf("first page: %v, next %v", err, p.Next)
		}
		if _, err := s.List(ctx, "room", "c1", store.ListQuery{From: p.Next}); err != nil {
			t.Errorf("its own cursor: %v", err)
		}
		forged := store.Cursor{Pos: 99, Seq: 2, Index: 0}
		_, err = s.List(ctx, "room", "c1", store.ListQuery{From: &forged})
		wantCode(t, err, eventstore.EBADCURSOR)
		for _, bad := range []store.Cursor{{}, {Pos: 1, Seq: 1, Index: 3}, {Pos: 2, Seq: 5, Index: -2}} {
			_, err = s.List(ctx, "room", "c1", store.ListQuery{From: &bad})
			wantCode(t, err, eventstore.EBADCURSOR)
		}
		for _, bad := range []string{"Msg", "msg.", "*", "a.*.b", "msg.**"} {
			_, err = s.List(ctx, "room", "c1", store.ListQuery{T: bad})
			wantCode(t, err, eventstore.EINVALID)
		}
	})
}

// TestTypeFilters: exact types and prefixes, in both directions.
func TestTypeFilters(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _ := newStore(t, b)
		ctx := ctxT(t)
		if _, err := s.CreateContext(ctx, "room", "f1", "", nil); err != nil {
			t.Fatal(err)
		}
		types := []string{"msg", "message.reaction", "message", "messages", "message.edit.x"}
		for i := range 25 {
			if _, _, err := s.Append(ctx, "room", "f1", store.NewEvent{T: types[i%len(types)]}); err != nil {
				t.Fatal(err)
			}
		}
		count := func(dir store.Direction, filter string) int {
			n, from := 0, (*store.Cursor)(nil)
			for {
				p, err := s.List(ctx, "room", "f1", store.ListQuery{Backward: dir, T: filter, Limit: 2, From: from})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range p.Events {
					if f, _ := eventstore.ParseTypeFilter(filter); !f.Match(e.T) {
						t.Errorf("filter %q listed a %s event", filter, e.T)
					}
				}
				n += len(p.Events)
				if p.Next == nil {
					return n
				}
				from = p.Next
			}
		}
		for filter, want := range map[string]int{"msg": 5, "message": 5, "message.*": 15, "message.edit.*": 5, "messages": 5, "nothing": 0} {
			for _, dir := range []store.Direction{store.Forward, store.Backward} {
				if got := count(dir, filter); got != want {
					t.Errorf("t=%s backward=%v: %d events, want %d", filter, dir, got, want)
				}
			}
		}
	})
}
