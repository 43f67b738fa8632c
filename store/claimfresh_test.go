package store_test

import (
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestQuietRoomClaimsWithoutARead: a writer builds on the head it knows
// for as long as no version written meanwhile could be folded (claimFresh:
// CompactAfter less a write's timeout and the clock skew, 8.5 minutes by
// default), so a room written again five minutes later reads nothing
// before its claim, and one written ten minutes later looks for a newer
// head first. Another process that wrote meanwhile is still found: its
// versions are too young to fold, so the stale claim collides with them.
func TestQuietRoomClaimsWithoutARead(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		finds := &storetest.CommandsNamed{Name: "find"}
		monitor := finds.Monitor()
		var clk clock
		opts := store.Options{Now: clk.now, LeafFlagDelay: time.Hour} // CompactAfter: the default
		conn := b.Connect(t, storetest.Options{Monitor: monitor})
		s := storetest.NewStore(t, conn, server, opts)
		ctx := ctxT(t)
		if _, err := s.CreateContext(ctx, "room", "quiet", "", nil); err != nil {
			t.Fatal(err)
		}
		appendOne := func() int64 {
			t.Helper()
			before := finds.Count()
			if _, _, err := s.Append(ctx, "room", "quiet", store.NewEvent{T: "msg", O: data(t, `{"msg":"hi"}`)}); err != nil {
				t.Fatal(err)
			}
			return finds.Count() - before
		}
		appendOne()
		clk.advance(5 * time.Minute)
		if n := appendOne(); n != 0 {
			t.Errorf("an append five minutes after the last read %d documents before its claim, want none", n)
		}
		clk.advance(10 * time.Minute)
		if n := appendOne(); n == 0 {
			t.Error("an append ten minutes after the last read nothing: a newer head may have been folded")
		}

		// Another process writes three messages; five minutes later a
		// compaction runs and this process appends on the head it knew.
		other := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, opts)
		for range 3 {
			if _, _, err := other.Append(ctx, "room", "quiet", store.NewEvent{T: "msg", O: data(t, `{"msg":"from the other"}`)}); err != nil {
				t.Fatal(err)
			}
		}
		clk.advance(5 * time.Minute)
		if _, err := store.Compact(ctx, s); err != nil {
			t.Fatal(err)
		}
		e, _, err := s.Append(ctx, "room", "quiet", store.NewEvent{T: "msg", O: data(t, `{"msg":"after"}`)})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := other.Summary(ctx, "room", "quiet")
		if err != nil {
			t.Fatal(err)
		}
		if sum.Count != 8 || len(sum.Leaves) != 1 || sum.Leaves[0] != e.ID {
			t.Errorf("after the stale claim: %d events, leaves %v; want 8 and only %s", sum.Count, sum.Leaves, e.ID[:8])
		}
	})
}
