package store_test

import (
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// diskFull is the error FerretDB answers when SQLite finds the disk full.
var diskFull = mongo.CommandError{Code: 1, Name: "InternalError",
	Message: "[msg_insert.go:168 handler.(*Handler).MsgInsert] [db.go:167 fsql.(*DB).InTransaction] database or disk is full (13)"}

// TestOutOfSpace: the disk fills up in the middle of a claim, as FerretDB
// meets it: its batch fails, its document-by-document retry writes the
// small version and refuses the events, and the disk refuses the events
// again and the version's removal. The append fails with out_of_space,
// the store says writes fail, the room is not written on top of the half
// claim, and once space is back the half claim is taken back, writes go
// on, every acknowledged event is there and the audit is clean.
func TestOutOfSpace(t *testing.T) {
	ctx := ctxT(t)
	conn := storetest.Backend{Name: "embedded"}.Connect(t, storetest.Options{}) // FerretDB's partial writes
	var later atomic.Int64                                                      // the clock's lead over time.Now, to pass the probe's once a second
	s := storetest.NewStore(t, conn, server, store.Options{Now: func() time.Time { return time.Now().Add(time.Duration(later.Load())) }})
	const cid = "full"
	g, err := s.CreateContext(ctx, "room", cid, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	acked := []string{g.ID}
	for range 3 {
		e, _, err := s.Append(ctx, "room", cid, store.NewEvent{T: "msg", O: data(t, `{"msg":"before"}`)})
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, e.ID)
	}

	var full atomic.Bool
	full.Store(true)
	store.SetFailpoint(s, func(step string) error {
		if !full.Load() {
			return nil
		}
		switch step {
		case "shared insert of 1":
			return store.PartialWrite(2, diskFull) // the entry and the version
		case "write rest", "take back":
			return diskFull
		}
		return nil
	})
	t.Cleanup(func() { store.SetFailpoint(s, nil) })
	_, _, err = s.Append(ctx, "room", cid, store.NewEvent{T: "msg", O: data(t, `{"msg":"lost"}`)})
	if code := eventstore.ErrorCode(err); code != eventstore.EOUTOFSPACE {
		t.Fatalf("append on a full disk: %v (code %q), want out_of_space", err, code)
	}
	if !s.OutOfSpace() {
		t.Error("the store does not say that writes fail for lack of space")
	}
	if err := s.WriteFault(ctx); eventstore.ErrorCode(err) != eventstore.EOUTOFSPACE {
		t.Errorf("WriteFault: %v, want out_of_space", err)
	}
	// The half claim is still there: nothing is built on it.
	_, _, err = s.Append(ctx, "room", cid, store.NewEvent{T: "msg", O: data(t, `{"msg":"refused"}`)})
	if code := eventstore.ErrorCode(err); code != eventstore.EOUTOFSPACE {
		t.Fatalf("append while a half claim waits: %v, want out_of_space", err)
	}

	full.Store(false)
	later.Store(int64(2 * time.Second))
	if err := s.WriteFault(ctx); err != nil {
		t.Fatalf("WriteFault once space is back: %v", err)
	}
	if s.OutOfSpace() {
		t.Error("the store still says writes fail")
	}
	e, _, err := s.Append(ctx, "room", cid, store.NewEvent{T: "msg", O: data(t, `{"msg":"after"}`)})
	if err != nil {
		t.Fatal(err)
	}
	acked = append(acked, e.ID)
	if last := acked[len(acked)-2]; len(e.Pids) != 1 || e.Pids[0] != last {
		t.Errorf("the first event after the fault has parents %v, want the last acknowledged %s", e.Pids, last)
	}
	for _, id := range acked {
		if _, err := s.Get(ctx, "room", cid, id); err != nil {
			t.Errorf("acknowledged event %s: %v", id, err)
		}
	}
	storetest.CheckLeaves(t, s, conn, "room", cid)
	rep, err := audit.New(s, conn, audit.Config{}).Verify(ctx, audit.Options{})
	if err != nil || !rep.Clean {
		t.Fatalf("audit: %v %+v", err, rep.Problems)
	}
}
