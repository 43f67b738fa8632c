package store_test

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"

	"github.com/eventstore-go/eventstore/internal/database"
)

// TestClidRepeatAcrossStores: a clid used through one store is a repeat
// through another (another process), found by its insert: the first
// event, existed; the same clid with other data is clid_conflict; nothing
// more is stored, and the audit is clean.
func TestClidRepeatAcrossStores(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		conn := b.Connect(t, storetest.Options{})
		a := storetest.NewStore(t, conn, server, store.Options{})
		other := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, store.Options{})
		if _, err := a.CreateContext(ctx, "room", "r", "", nil); err != nil {
			t.Fatal(err)
		}
		msg := store.NewEvent{T: "msg", O: data(t, `{"msg":"hi"}`), Clid: "c-1"}
		first, existed, err := a.Append(ctx, "room", "r", msg)
		if err != nil || existed {
			t.Fatalf("first: existed %v, %v", existed, err)
		}
		for _, s := range []*store.Store{a, other} {
			again, existed, err := s.Append(ctx, "room", "r", msg)
			if err != nil || !existed || again.ID != first.ID {
				t.Errorf("repeat: existed %v, %v, %v; want %s", existed, err, again, first.ID)
			}
		}
		_, _, err = other.Append(ctx, "room", "r", store.NewEvent{T: "msg", O: data(t, `{"msg":"another"}`), Clid: "c-1"})
		if eventstore.ErrorCode(err) != eventstore.ECLIDREUSED {
			t.Errorf("another message with the clid: %v", err)
		}
		sum, err := other.Summary(ctx, "room", "r")
		if err != nil || sum.Count != 2 {
			t.Errorf("summary %+v, %v: want 2 events", sum, err)
		}
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		storetest.CheckLeaves(t, other, conn, "room", "r")
		checkAudit(t, a, conn)
	})
}

// TestClidRepeatRacing: two stores (two processes), eight writers each,
// append the same 20 clids to one room at once: each clid makes exactly one
// event, every answer for it is that event, and the audit is clean.
func TestClidRepeatRacing(t *testing.T) {
	const clids, writers = 20, 8
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		conn := b.Connect(t, storetest.Options{})
		ss := []*store.Store{
			storetest.NewStore(t, conn, server, store.Options{}),
			storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, store.Options{}),
		}
		if _, err := ss[0].CreateContext(ctx, "room", "race", "", nil); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		got := map[string]map[string]bool{} // clid → event ids answered
		created := map[string]int{}
		var wg sync.WaitGroup
		for i, s := range ss {
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range clids {
						c := fmt.Sprintf("c-%d", (k+w+i)%clids)
						e, existed, err := s.Append(ctx, "room", "race", store.NewEvent{T: "msg", O: data(t, `{"msg":"`+c+`"}`), Clid: c})
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						if got[c] == nil {
							got[c] = map[string]bool{}
						}
						got[c][e.ID] = true
						if !existed {
							created[c]++
						}
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		for c, ids := range got {
			if len(ids) != 1 || created[c] != 1 {
				t.Errorf("clid %s: answered with %d events, created %d times", c, len(ids), created[c])
			}
		}
		sum, err := ss[1].Summary(ctx, "room", "race")
		if err != nil || sum.Count != 1+clids {
			t.Errorf("summary %+v, %v: want %d events", sum, err, 1+clids)
		}
		if err := ss[0].Flush(ctx); err != nil {
			t.Fatal(err)
		}
		storetest.CheckLeaves(t, ss[1], conn, "room", "race")
		checkAudit(t, ss[0], conn)
	})
}

// TestClidCrashedFirstAppend: the first append of a clid failed in the
// middle of its insert, as a crash inside FerretDB's document-by-document
// retry leaves it: its log entry and clid record written, nothing else.
// After a restart, a repeat of the clid is told to retry while the record
// may still be being written, and once it is stale the repeat stores the
// event (the first was never acknowledged); the audit is clean.
func TestClidCrashedFirstAppend(t *testing.T) {
	ctx := ctxT(t)
	conn := storetest.Backend{Name: "embedded"}.Connect(t, storetest.Options{}) // FerretDB's partial writes
	var later atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(later.Load())) }
	crashed := storetest.NewStore(t, conn, server, store.Options{Now: clock})
	if _, err := crashed.CreateContext(ctx, "room", "crash", "", nil); err != nil {
		t.Fatal(err)
	}
	store.SetFailpoint(crashed, func(step string) error {
		if step == "shared insert of 1" {
			return store.PartialWrite(2, fmt.Errorf("the process died")) // the entry and the clid record
		}
		if step == "take back" || step == "write rest" {
			return fmt.Errorf("the process died")
		}
		return nil
	})
	msg := store.NewEvent{T: "msg", O: data(t, `{"msg":"hi"}`), Clid: "c-crash"}
	if _, _, err := crashed.Append(ctx, "room", "crash", msg); err == nil {
		t.Fatal("the crashed append succeeded")
	}
	// A real crash leaves the record: put it back as the crash left it.
	var rec bson.Raw
	if err := conn.DB.Collection(migrations.EventsCollection("room")).FindOne(ctx, bson.D{{Key: "_id", Value: migrations.ClidRecordID("crash", "c-crash")}}).Decode(&rec); err != nil {
		if _, err := conn.DB.Collection(migrations.EventsCollection("room")).InsertOne(ctx, bson.D{{Key: "_id", Value: migrations.ClidRecordID("crash", "c-crash")},
			{Key: "cid", Value: "crash"}, {Key: "event", Value: "0000000000000000000000000000000000000000000000000000000000000000"},
			{Key: "at", Value: bson.DateTime(clock().UnixMilli())}}); err != nil {
			t.Fatal(err)
		}
	}

	restarted := storetest.NewStore(t, storetest.Backend{Name: "embedded"}.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, store.Options{Now: clock})
	if _, _, err := restarted.Append(ctx, "room", "crash", msg); eventstore.ErrorCode(err) != eventstore.EUNAVAILABLE {
		t.Errorf("a repeat while the record may be being written: %v, want unavailable", err)
	}
	later.Store(int64(3 * time.Minute))
	e, existed, err := restarted.Append(ctx, "room", "crash", msg)
	if err != nil || existed {
		t.Fatalf("a repeat once the record is stale: existed %v, %v", existed, err)
	}
	again, existed, err := restarted.Append(ctx, "room", "crash", msg)
	if err != nil || !existed || again.ID != e.ID {
		t.Errorf("the next repeat: existed %v, %v, %v", existed, err, again)
	}
	storetest.CheckLeaves(t, restarted, conn, "room", "crash")
	checkAudit(t, restarted, conn)
}

// TestClidRecordsMigrated: a store written before migration 10 kept clid
// records in <ct>_clids; the migration moves them beside the events, and
// a repeat of such a clid is still a repeat.
func TestClidRecordsMigrated(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		conn := b.Connect(t, storetest.Options{})
		s := storetest.NewStore(t, conn, server, store.Options{})
		if _, err := s.CreateContext(ctx, "room", "old", "", nil); err != nil {
			t.Fatal(err)
		}
		msg := store.NewEvent{T: "msg", O: data(t, `{"msg":"old"}`), Clid: "c-old"}
		first, _, err := s.Append(ctx, "room", "old", msg)
		if err != nil {
			t.Fatal(err)
		}
		// As an older release left it: the record in room_clids only.
		events := conn.DB.Collection(migrations.EventsCollection("room"))
		if _, err := events.DeleteOne(ctx, bson.D{{Key: "_id", Value: migrations.ClidRecordID("old", "c-old")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.DB.Collection(migrations.ClidsCollection("room")).InsertOne(ctx, bson.D{{Key: "_id", Value: "old#c-old"}, {Key: "event", Value: first.ID}}); err != nil {
			t.Fatal(err)
		}
		if err := migrations.Steps[9].Up(ctx, conn, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		names, err := conn.DB.ListCollectionNames(ctx, bson.D{{Key: "name", Value: migrations.ClidsCollection("room")}})
		if err != nil || len(names) != 0 {
			t.Errorf("room_clids still there: %v %v", names, err)
		}
		fresh := storetest.NewStore(t, b.Connect(t, storetest.Options{Database: conn.DB.Name()}), server, store.Options{})
		again, existed, err := fresh.Append(ctx, "room", "old", msg)
		if err != nil || !existed || again.ID != first.ID {
			t.Errorf("a repeat of a migrated clid: existed %v, %v, %v; want %s", existed, err, again, first.ID)
		}
	})
}

// TestClidAppendIsOneWrite: an append with a new clid, on a room whose
// writer is warm, sends one command to the database: the claim's insert,
// which holds the clid record, the event and the head version.
func TestClidAppendIsOneWrite(t *testing.T) {
	ctx := ctxT(t)
	var counter storetest.CommandCounter
	conn := storetest.Backend{Name: "embedded"}.Connect(t, storetest.Options{Monitor: counter.Monitor()})
	s := storetest.NewStore(t, conn, server, store.Options{LeafFlagDelay: time.Hour})
	if _, err := s.CreateContext(ctx, "room", "one", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Append(ctx, "room", "one", store.NewEvent{T: "msg", Clid: "warm"}); err != nil {
		t.Fatal(err)
	}
	const n = 50
	before := counter.Count()
	for i := range n {
		if _, _, err := s.Append(ctx, "room", "one", store.NewEvent{T: "msg", O: data(t, `{"msg":"m"}`), Clid: fmt.Sprintf("c-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if per := float64(counter.Count()-before) / n; per > 1.2 {
		t.Errorf("%.2f commands per append with a clid, want at most 1.2", per)
	}
}

func checkAudit(t *testing.T, s *store.Store, conn *database.Conn) {
	t.Helper()
	rep, err := audit.New(s, conn, audit.Config{}).Verify(ctxT(t), audit.Options{})
	if err != nil || !rep.Clean {
		t.Fatalf("audit: %v %+v", err, rep.Problems)
	}
}
