package store_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/edits/editstest"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// remoteEvent builds and hashes an event as another server would.
func remoteEvent(t testing.TB, src, ct, cid, typ string, ts int64, pids []string, o json.RawMessage) *eventstore.Event {
	t.Helper()
	return storetest.RemoteEvent(t, src, ct, cid, typ, ts, pids, o)
}

func ingestOne(t *testing.T, s *store.Store, e *eventstore.Event, want store.IngestStatus) {
	t.Helper()
	res, err := s.IngestFrom(ctxT(t), "", []*eventstore.Event{e})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != want {
		t.Fatalf("ingest %s (%s): %s %v %v, want %s", e.ID[:8], e.T, res[0].Status, res[0].Missing, res[0].Err, want)
	}
}

// sixUpdates are editstest.SixUpdates as events: children of the target by
// its author (the authorship rule: edits come from the event's server or
// the room's creator), as several of its processes would write them.
func sixUpdates(t testing.TB, genesis, target *eventstore.Event) []*eventstore.Event {
	var out []*eventstore.Event
	for _, u := range editstest.SixUpdates(target.ID) {
		out = append(out, remoteEvent(t, target.Src, "room", genesis.Cid, eventstore.TypeUpdate, target.TS+u.TS,
			[]string{target.ID}, data(t, u.O)))
	}
	return out
}

// TestUpdatesConvergeInEveryOrder ingests the same six concurrent update
// events in all 720 orders, each order into its own store, and requires
// the same d every time — equal to folding them in (ts, _id) order.
func TestUpdatesConvergeInEveryOrder(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		genesis := remoteEvent(t, "a.example", "room", "r1", "room", 1_000_000, nil, nil)
		target := remoteEvent(t, "a.example", "room", "r1", "msg", 1_000_001, []string{genesis.ID},
			data(t, editstest.Original))
		updates := sixUpdates(t, genesis, target)
		orders := editstest.Permutations(len(updates))
		if testing.Short() {
			orders = orders[:24]
		}
		results := make([]string, len(orders))
		const workers = 4
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn := b.Connect(t, storetest.Options{})
				for i := w; i < len(orders); i += workers {
					// A fresh store on an emptied database for every order
					// (cheaper than a new database).
					storetest.Empty(t, conn)
					s := storetest.NewStore(t, conn, server, store.Options{})
					ingestOne(t, s, genesis, store.Stored)
					ingestOne(t, s, target, store.Stored)
					for _, j := range orders[i] {
						ingestOne(t, s, updates[j], store.Stored)
					}
					got, err := s.Get(ctxT(t), "room", "r1", target.ID)
					s.Close() // before the next order empties the database under it
					if err != nil {
						t.Error(err)
						return
					}
					c, _ := hashing.CanonicalJSON(got.D)
					results[i] = string(c)
				}
			}()
		}
		wg.Wait()
		want := editstest.Folded
		if updates[1].ID < updates[5].ID { // same ts: the larger _id folds last
			want = editstest.FoldedTiedLast
		}
		for i, r := range results {
			if r != want {
				t.Fatalf("order %v gave d %s, want %s", orders[i], r, want)
			}
		}
	})
}

func TestUpdateAndDelete(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, conn := newStore(t, b)
		ctx := ctxT(t)
		if _, err := s.CreateContext(ctx, "room", "r1", "", nil); err != nil {
			t.Fatal(err)
		}
		m, _, err := s.Append(ctx, "room", "r1", store.NewEvent{T: "msg", O: data(t, `{"msg":"helo","u":{"name":"al"}}`)})
		if err != nil {
			t.Fatal(err)
		}
		rawDoc := func() bson.M {
			var raw bson.M
			if err := conn.DB.Collection("room_events").FindOne(ctx, bson.M{"_id": m.ID}).Decode(&raw); err != nil {
				t.Fatal(err)
			}
			return raw
		}
		if _, ok := rawDoc()["d"]; ok {
			t.Error("d is stored while it equals o")
		}
		if got, _ := s.Get(ctx, "room", "r1", m.ID); !bytes.Equal(got.D, m.O) {
			t.Errorf("d of an event never updated: %s, want o %s", got.D, m.O)
		}
		up, err := s.Update(ctx, "room", "r1", m.ID, edits.Edit{
			Set:   []edits.SetOp{{Path: "msg", Value: "hello"}, {Path: "edit.count", Value: int64(1)}},
			Unset: []string{"u.name"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if up.T != eventstore.TypeUpdate || up.Verify() != nil {
			t.Errorf("update event %+v", up)
		}
		got, _ := s.Get(ctx, "room", "r1", m.ID)
		d, _ := hashing.CanonicalJSON(got.D)
		o, _ := hashing.CanonicalJSON(got.O)
		if string(d) != `{"edit":{"count":1},"msg":"hello","u":{}}` || string(o) != `{"msg":"helo","u":{"name":"al"}}` {
			t.Errorf("after update: o %s d %s", o, d)
		}
		if got.DHash != m.DHash || got.ID != m.ID {
			t.Error("an update changed hashed fields")
		}
		if _, ok := rawDoc()["d"]; !ok {
			t.Error("d of an updated event is not stored")
		}
		// The rules of an edit are package edits' (TestValidate); these show
		// that the store applies them, with their codes, and the one rule
		// that needs the target's data.
		tests := []struct {
			name string
			ed   edits.Edit
			code eventstore.Code
		}{
			{"nothing to do", edits.Edit{}, eventstore.EINVALID},
			{"dollar member", edits.Edit{Unset: []string{"$a"}}, eventstore.EINVALIDDATA},
			{"value out of range", edits.Edit{Set: []edits.SetOp{{Path: "x", Value: int64(1 << 60)}}}, eventstore.EINVALIDDATA},
			{"through a string", edits.Edit{Set: []edits.SetOp{{Path: "msg.x", Value: 1}}}, eventstore.EINVALIDDATA},
		}
		for _, tt := range tests {
			_, err := s.Update(ctx, "room", "r1", m.ID, tt.ed)
			if eventstore.ErrorCode(err) != tt.code {
				t.Errorf("%s: %v, want code %s", tt.name, err, tt.code)
			}
		}
		_, err = s.Update(ctx, "room", "r1", up.ID, edits.Edit{Unset: []string{"x"}})
		wantCode(t, err, eventstore.EINVALID) // an update event cannot be edited
		_, err = s.Update(ctx, "room", "r1", "0000000000000000000000000000000000000000000000000000000000000000", edits.Edit{Unset: []string{"x"}})
		wantCode(t, err, eventstore.ENOTFOUND)

		del, err := s.Delete(ctx, "room", "r1", m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if del.T != eventstore.TypeDelete {
			t.Errorf("delete event type %s", del.T)
		}
		gone, _ := s.Get(ctx, "room", "r1", m.ID)
		if !gone.Deleted || gone.DeletedAt != del.TS || gone.O != nil || gone.D != nil {
			t.Errorf("after delete: %+v", gone)
		}
		if gone.ID != m.ID || gone.DHash != m.DHash || gone.TS != m.TS || !slices.Equal(gone.Pids, m.Pids) {
			t.Error("delete changed hashed fields")
		}
		if err := gone.Verify(); err != nil {
			t.Errorf("a deleted event no longer verifies: %v", err)
		}
		var raw bson.M
		if err := conn.DB.Collection("room_events").FindOne(ctx, bson.M{"_id": m.ID}).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		if _, ok := raw["o"]; ok {
			t.Error("o still stored")
		}
		if _, ok := raw["d"]; ok {
			t.Error("d still stored")
		}
		_, err = s.Update(ctx, "room", "r1", m.ID, edits.Edit{Set: []edits.SetOp{{Path: "msg", Value: "x"}}})
		wantCode(t, err, eventstore.EGONE)
		_, err = s.Delete(ctx, "room", "r1", m.ID)
		wantCode(t, err, eventstore.EGONE)
		storetest.CheckLeaves(t, s, conn, "room", "r1")
	})
}

// TestAuthorshipRule: an event is updated or deleted only by its own
// server or by the room's creator, locally and on receipt.
func TestAuthorshipRule(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _ := newStore(t, b) // server a.example
		ctx := ctxT(t)
		// room/theirs was created by b.example; c.example and a.example take part.
		genesis := remoteEvent(t, "b.example", "room", "theirs", "room", 1000, nil, nil)
		fromC := remoteEvent(t, "c.example", "room", "theirs", "msg", 1001, []string{genesis.ID}, data(t, `{"msg":"c"}`))
		fromB := remoteEvent(t, "b.example", "room", "theirs", "msg", 1002, []string{fromC.ID}, data(t, `{"msg":"b"}`))
		ingestOne(t, s, genesis, store.Stored)
		ingestOne(t, s, fromC, store.Stored)
		ingestOne(t, s, fromB, store.Stored)
		edit := func(src string, target *eventstore.Event, ts int64, parent string) *eventstore.Event {
			return remoteEvent(t, src, "room", "theirs", eventstore.TypeUpdate, ts, []string{parent},
				data(t, `{"set":[{"path":"msg","value":"by `+src+`"}],"target":"`+target.ID+`"}`))
		}
		// On receipt: c.example may not edit b.example's event; b.example (the creator) may edit c.example's.
		ingestOne(t, s, edit("c.example", fromB, 1003, fromB.ID), store.Refused)
		byCreator := edit("b.example", fromC, 1004, fromB.ID)
		ingestOne(t, s, byCreator, store.Stored)
		byAuthor := edit("c.example", fromC, 1005, byCreator.ID)
		ingestOne(t, s, byAuthor, store.Stored)
		// Locally a.example is neither the author nor the creator.
		if _, err := s.Update(ctx, "room", "theirs", fromC.ID, edits.Edit{Set: []edits.SetOp{{Path: "msg", Value: "by a"}}}); eventstore.ErrorCode(err) != eventstore.EFORBIDDEN {
			t.Errorf("a.example updating c.example's event: %v, want forbidden", err)
		}
		if _, err := s.Delete(ctx, "room", "theirs", fromB.ID); eventstore.ErrorCode(err) != eventstore.EFORBIDDEN {
			t.Errorf("a.example deleting b.example's event: %v, want forbidden", err)
		}
		// In its own room a.example moderates: it may delete a peer's event.
		if _, err := s.CreateContext(ctx, "room", "ours", "", nil); err != nil {
			t.Fatal(err)
		}
		sum, _ := s.Summary(ctx, "room", "ours")
		peer := remoteEvent(t, "b.example", "room", "ours", "msg", sum.Updated+1, sum.Leaves, data(t, `{"msg":"spam"}`))
		ingestOne(t, s, peer, store.Stored)
		if _, err := s.Delete(ctx, "room", "ours", peer.ID); err != nil {
			t.Errorf("the creator deleting a peer's event: %v", err)
		}
	})
}
