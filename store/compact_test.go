package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// clock is a store clock that tests move forward.
type clock struct{ ahead atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.ahead.Load())) }
func (c *clock) advance(d time.Duration) { c.ahead.Add(int64(d)) }

// timeline lists every event id of a context, page by page.
func timeline(t *testing.T, s *store.Store, ct, cid string) []string {
	t.Helper()
	var ids []string
	for q := (store.ListQuery{Limit: 50}); ; {
		page, err := s.List(ctxT(t), ct, cid, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			ids = append(ids, e.ID)
		}
		if q.From = page.Next; q.From == nil {
			return ids
		}
	}
}

// TestCompactionRacingWrites: compaction folds head versions and commit
// log entries while appends, a federation cursor's reader (Changes), a
// commit log reader and an incremental audit run. Nothing acknowledged is
// lost or read twice, cursors issued before still work, the audit stays
// clean, and at rest the store holds about one document per event.
func TestCompactionRacingWrites(t *testing.T) {
	const rooms, before, during = 3, 40, 30
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		var clk clock
		conn := b.Connect(t, storetest.Options{})
		// No flag versions in between (a room idle for a second under a
		// loaded machine got one): the cursor below counts on r0's last
		// ten versions adding one event each.
		opts := store.Options{Now: clk.now, CompactAfter: store.MinCompactAfter, LeafFlagDelay: time.Hour}
		s := storetest.NewStore(t, conn, server, opts)
		auditor := audit.New(s, conn, audit.Config{})
		acked := map[string][]string{}
		var mu sync.Mutex
		appendTo := func(cid string, n int) error {
			for range n {
				e, _, err := s.Append(ctx, "room", cid, store.NewEvent{T: "msg", O: data(t, `{"msg":"hi"}`)})
				if err != nil {
					return err
				}
				mu.Lock()
				acked[cid] = append(acked[cid], e.ID)
				mu.Unlock()
			}
			return nil
		}
		for r := range rooms {
			cid := fmt.Sprintf("r%d", r)
			g, err := s.CreateContext(ctx, "room", cid, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			acked[cid] = []string{g.ID}
			if err := appendTo(cid, before); err != nil {
				t.Fatal(err)
			}
		}
		// A federation cursor, a timeline cursor and a checkpoint, all
		// taken before anything is folded.
		sum, err := s.Summary(ctx, "room", "r0")
		if err != nil {
			t.Fatal(err)
		}
		cursorSeq := sum.Version - 10
		early, err := s.List(ctx, "room", "r0", store.ListQuery{Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if rep, err := auditor.Verify(ctx, audit.Options{}); err != nil || !rep.Clean {
			t.Fatalf("audit before: %v %+v", err, rep.Problems)
		}

		clk.advance(store.MinCompactAfter + time.Minute) // everything so far is old
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for r := range rooms {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- appendTo(fmt.Sprintf("r%d", r), during) }()
		}
		var stats store.CompactStats
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			stats, err = store.Compact(ctx, s)
			errs <- err
		}()
		wg.Add(1)
		go func() { // a second compactor, as another process would run
			defer wg.Done()
			second := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, opts)
			_, err := store.Compact(ctx, second)
			errs <- err
		}()
		wg.Add(1)
		go func() { // a federation sender on its cursor, and a log reader
			defer wg.Done()
			for range 20 {
				if _, _, err := s.Changes(ctx, "room", "r0", cursorSeq, 1000, true); err != nil {
					errs <- err
					return
				}
				if _, _, err := s.ReadLog(ctx, "room", 0, 1<<20); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := auditor.Verify(ctx, audit.Options{Incremental: true})
			if err == nil && !rep.Clean {
				err = fmt.Errorf("incremental audit during compaction: %+v", rep.Problems)
			}
			errs <- err
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if stats.Versions == 0 || stats.Entries == 0 {
			t.Fatalf("nothing folded: %+v", stats)
		}
		clk.advance(store.MinCompactAfter + time.Minute) // now the rest too
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Compact(ctx, s); err != nil {
			t.Fatal(err)
		}

		// Read by a store that holds nothing in memory.
		fresh := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, opts)
		inLog := map[string]int{}
		commits, _, err := fresh.ReadLog(ctx, "room", 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range commits {
			for _, e := range c.Events {
				inLog[e.ID]++
			}
		}
		total := 0
		for cid, ids := range acked {
			total += len(ids)
			listed := timeline(t, fresh, "room", cid)
			if len(listed) != len(ids) {
				t.Errorf("%s: %d events in the timeline, %d acknowledged", cid, len(listed), len(ids))
			}
			for _, id := range ids {
				if !slices.Contains(listed, id) {
					t.Errorf("%s: acknowledged event %s lost", cid, id)
				}
				if inLog[id] != 1 {
					t.Errorf("%s: event %s in the commit log %d times", cid, id, inLog[id])
				}
			}
			changes, _, err := fresh.Changes(ctx, "room", cid, 0, 1<<20, true)
			if err != nil {
				t.Fatal(err)
			}
			var changed []string
			for _, e := range changes {
				changed = append(changed, e.ID)
			}
			if !slices.Equal(changed, listed) {
				t.Errorf("%s: Changes from the start gives %d events, the timeline %d", cid, len(changed), len(listed))
			}
			storetest.CheckLeaves(t, fresh, conn, "room", cid)
		}
		// The federation cursor reads on from where it was.
		after, _, err := fresh.Changes(ctx, "room", "r0", cursorSeq, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		if want := len(acked["r0"]) - 1 - before + 10; len(after) != want { // one event per version in r0
			t.Errorf("Changes after the federation cursor: %d events, want %d", len(after), want)
		}
		// A timeline cursor issued before compaction still reads on.
		page, err := fresh.List(ctx, "room", "r0", store.ListQuery{From: early.Next, Limit: 5})
		if err != nil {
			t.Fatalf("a cursor issued before compaction: %v", err)
		}
		if page.Events[0].ID != acked["r0"][5] {
			t.Errorf("the old cursor reads on at %s, want %s", page.Events[0].ID, acked["r0"][5])
		}
		for _, opts := range []audit.Options{{Incremental: true}, {}} {
			rep, err := audit.New(fresh, conn, audit.Config{}).Verify(ctx, opts)
			if err != nil || !rep.Clean {
				t.Fatalf("audit %+v after compaction: %v %+v", opts, err, rep.Problems)
			}
		}
		docs, err := conn.DB.Collection("room_events").CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		if perEvent := float64(docs) / float64(total); perEvent > 1.1 {
			t.Errorf("%d documents for %d events at rest: %.2f per event, want ≤ 1.1", docs, total, perEvent)
		}
		// And the store writes on.
		if err := appendTo("r1", 3); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		storetest.CheckLeaves(t, fresh, conn, "room", "r1")
	})
}

// TestCompactionStaleWriter: a store that knows an old head of a room
// appends to it after another store moved the room on and folded the
// versions it knew of. It must build on the newest version, not claim a
// folded version's number again.
func TestCompactionStaleWriter(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		var clk clock
		conn := b.Connect(t, storetest.Options{})
		opts := store.Options{Now: clk.now, CompactAfter: store.MinCompactAfter, LeafFlagDelay: time.Hour}
		stale := storetest.NewStore(t, conn, server, opts)
		other := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, opts)
		if _, err := stale.CreateContext(ctx, "room", "r1", "", nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := stale.Append(ctx, "room", "r1", store.NewEvent{T: "msg"}); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if _, _, err := other.Append(ctx, "room", "r1", store.NewEvent{T: "msg"}); err != nil {
				t.Fatal(err)
			}
		}
		clk.advance(store.MinCompactAfter + time.Minute)
		newest, _, err := other.Append(ctx, "room", "r1", store.NewEvent{T: "msg"})
		if err != nil {
			t.Fatal(err)
		}
		var st store.CompactStats
		st, err = store.Compact(context.Background(), other)
		if err != nil || st.Versions < 6 {
			t.Fatalf("compaction: %+v %v", st, err)
		}
		e, _, err := stale.Append(ctx, "room", "r1", store.NewEvent{T: "msg"})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(e.Pids, []string{newest.ID}) {
			t.Errorf("the stale store built on %v, want the newest event %s", e.Pids, newest.ID)
		}
		if got := timeline(t, other, "room", "r1"); len(got) != 9 || got[8] != e.ID {
			t.Errorf("timeline %d events, last %s; want 9, last %s", len(got), got[len(got)-1], e.ID)
		}
		if err := stale.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		storetest.CheckLeaves(t, other, conn, "room", "r1")
		rep, err := audit.New(other, conn, audit.Config{}).Verify(ctx, audit.Options{})
		if err != nil || !rep.Clean {
			t.Fatalf("audit: %v %+v", err, rep.Problems)
		}
	})
}

// TestCompactionPastOldVoids: a void commit log entry written before
// entries had a date does not stop the log's compaction for good: the
// compactor dates it, and folds it a compaction age later.
func TestCompactionPastOldVoids(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		var clk clock
		conn := b.Connect(t, storetest.Options{})
		opts := store.Options{Now: clk.now, CompactAfter: store.MinCompactAfter}
		s := storetest.NewStore(t, conn, server, opts)
		if _, err := s.CreateContext(ctx, "room", "r1", "", nil); err != nil {
			t.Fatal(err)
		}
		appendN := func(n int) {
			for range n {
				if _, _, err := s.Append(ctx, "room", "r1", store.NewEvent{T: "msg"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		appendN(3)
		end, err := s.LogEnd(ctx, "room")
		if err != nil {
			t.Fatal(err)
		}
		// An old-style void: no date.
		if _, err := conn.DB.Collection("room_events").InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("~log#%d", end.Entry)}, {Key: "cid", Value: migrations.LogCid}, {Key: "void", Value: true}}); err != nil {
			t.Fatal(err)
		}
		fresh := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, opts)
		appendN(3)
		clk.advance(store.MinCompactAfter + time.Minute)
		first, err := store.Compact(ctx, fresh)
		if err != nil {
			t.Fatal(err)
		}
		if first.Entries != end.Entry-1 {
			t.Errorf("first run folded %d entries, want the %d before the void", first.Entries, end.Entry-1)
		}
		clk.advance(store.MinCompactAfter + time.Minute)
		second, err := store.Compact(ctx, fresh)
		if err != nil {
			t.Fatal(err)
		}
		if second.Entries != 4 { // the void and the three after it
			t.Errorf("second run folded %d entries, want 4", second.Entries)
		}
		commits, _, err := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, opts).ReadLog(ctx, "room", 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		events := 0
		for _, c := range commits {
			events += len(c.Events)
		}
		if events != 7 {
			t.Errorf("the commit log holds %d events, want 7", events)
		}
	})
}

// TestCompactionFollowsTheLog: a pass visits the contexts written since
// the last one, which the commit log names, not every context: with 200
// rooms at rest, a pass with nothing new visits none and sends the same
// few commands as with 2 rooms; three rooms written get three visits,
// and their old versions are folded.
func TestCompactionFollowsTheLog(t *testing.T) {
	const rooms = 200
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		var clk clock
		var counter storetest.CommandCounter
		conn := b.Connect(t, storetest.Options{Monitor: counter.Monitor()})
		s := storetest.NewStore(t, conn, server, store.Options{Now: clk.now, CompactAfter: store.MinCompactAfter, LeafFlagDelay: time.Hour})
		for r := range rooms {
			cid := fmt.Sprintf("q%d", r)
			if _, err := s.CreateContext(ctx, "room", cid, "", nil); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, _, err := s.Append(ctx, "room", cid, store.NewEvent{T: "msg"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		clk.advance(store.MinCompactAfter + time.Minute)
		st, err := store.Compact(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if st.Contexts != rooms || st.Versions != 2*rooms {
			t.Errorf("first pass: %+v, want %d contexts and %d versions folded", st, rooms, 2*rooms)
		}
		before := counter.Count()
		st, err = store.Compact(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if idle := counter.Count() - before; st.Contexts != 0 || idle > 10 {
			t.Errorf("a pass with nothing new: %+v in %d commands, want no context and a few commands", st, idle)
		}
		for _, cid := range []string{"q1", "q7", "q150"} {
			for range 3 {
				if _, _, err := s.Append(ctx, "room", cid, store.NewEvent{T: "msg"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		clk.advance(store.MinCompactAfter + time.Minute)
		if st, err = store.Compact(ctx, s); err != nil {
			t.Fatal(err)
		}
		if st.Contexts != 3 || st.Versions != 3*3 {
			t.Errorf("after writes to 3 rooms: %+v, want 3 contexts and 9 versions folded", st)
		}
		checkAudit(t, s, conn)
	})
}
