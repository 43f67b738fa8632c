package store_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

func TestIngest(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, conn := newStore(t, b)
		ctx := ctxT(t)
		g := remoteEvent(t, "b.example", "room", "r1", "room", 1000, nil, nil)
		e1 := remoteEvent(t, "b.example", "room", "r1", "msg", 1001, []string{g.ID}, data(t, `{"msg":"one"}`))
		e2 := remoteEvent(t, "c.example:8443", "room", "r1", "msg", 1002, []string{g.ID}, data(t, `{"msg":"fork"}`))
		e3 := remoteEvent(t, "b.example", "room", "r1", "msg", 1003, []string{e1.ID, e2.ID}, data(t, `{"msg":"merge"}`))

		// A child before its parents: refused as missing, nothing stored.
		res, err := s.IngestFrom(ctx, "", []*eventstore.Event{e3})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Status != store.MissingParents {
			t.Fatalf("child first: %+v", res[0])
		}
		// Parents first, in one call, with a duplicate inside.
		res, err = s.IngestFrom(ctx, "", []*eventstore.Event{g, e1, e2, e1, e3})
		if err != nil {
			t.Fatal(err)
		}
		want := []store.IngestStatus{store.Stored, store.Stored, store.Stored, store.Duplicate, store.Stored}
		for i, r := range res {
			if r.Status != want[i] {
				t.Errorf("event %d: %s %v %v, want %s", i, r.Status, r.Missing, r.Err, want[i])
			}
		}
		// Again: all duplicates, nothing changes.
		res, err = s.IngestFrom(ctx, "", []*eventstore.Event{g, e1, e2, e3})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Status != store.Duplicate {
				t.Errorf("re-ingest %d: %s", i, r.Status)
			}
		}
		got, err := s.Get(ctx, "room", "r1", e2.ID)
		if err != nil || got.Src != "c.example:8443" || got.TS != 1002 {
			t.Errorf("stored as given? %+v %v", got, err)
		}
		// A second genesis for the context is refused.
		g2 := remoteEvent(t, "b.example", "room", "r1", "room", 5, nil, nil)
		res, _ = s.IngestFrom(ctx, "", []*eventstore.Event{g2})
		if res[0].Status != store.Refused {
			t.Errorf("second genesis: %+v", res[0])
		}
		ids := storetest.CheckLeaves(t, s, conn, "room", "r1")
		if len(ids) != 4 {
			t.Errorf("%d events stored, want 4", len(ids))
		}
		leaves, _ := storetest.Leaves(ctx, s, "room", "r1")
		if !slices.Equal(leaves, []string{e3.ID}) {
			t.Errorf("leaves %v", leaves)
		}
	})
}

// TestIngestRefusesTampering: every refused input of the hashing spec and
// every broken hash is refused by ingest, with nothing written.
func TestIngestRefusesTampering(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, conn := newStore(t, b)
		ctx := ctxT(t)
		g := remoteEvent(t, "b.example", "room", "r1", "room", 1000, nil, nil)
		if res, err := s.IngestFrom(ctx, "", []*eventstore.Event{g}); err != nil || res[0].Status != store.Stored {
			t.Fatal(err, res)
		}
		raw := func(js string) json.RawMessage { return json.RawMessage(js) }
		// badData builds a correctly hashed event around data that breaks a rule.
		badData := func(o json.RawMessage) *eventstore.Event {
			e := remoteEvent(t, "b.example", "room", "r1", "msg", 1001, []string{g.ID}, data(t, `{}`))
			e.O, e.D = o, o
			return e
		}
		good := func() *eventstore.Event {
			return remoteEvent(t, "b.example", "room", "r1", "msg", 1001, []string{g.ID}, data(t, `{"msg":"x"}`))
		}
		tests := []struct {
			name string
			e    *eventstore.Event
			want error // nil: any refusal
		}{
			{"invalid UTF-8", badData(raw("{\"a\":\"\xff\"}")), hashing.ErrInvalidUTF8},
			{"integer beyond 2^53-1", badData(raw(`{"a":9007199254740992}`)), hashing.ErrIntegerRange},
			{"duplicate member", badData(raw(`{"a":1,"a":1}`)), hashing.ErrDuplicateMember},
			{"$ member", badData(raw(`{"$a":1}`)), hashing.ErrMemberDollar},
			{"dotted member", badData(raw(`{"a.b":1}`)), hashing.ErrMemberDot},
			{"too deep", badData(raw(deep(33))), hashing.ErrTooDeep},
			{"too large", badData(raw(`{"a":"` + strings.Repeat("x", 70000) + `"}`)), hashing.ErrTooLarge},
			{"bad src", func() *eventstore.Event { e := good(); e.Src = "B!"; return e }(), hashing.ErrBadSrc},
			{"bad type", func() *eventstore.Event { e := good(); e.T = "Msg"; return e }(), hashing.ErrBadEventType},
			{"bad cid", func() *eventstore.Event { e := good(); e.Cid = "-x"; return e }(), hashing.ErrBadContextID},
			{"negative ts", func() *eventstore.Event { e := good(); e.TS = -1; return e }(), hashing.ErrBadTimestamp},
			{"unsorted pids", func() *eventstore.Event {
				e := good()
				e.Pids = []string{g.ID, strings.Repeat("0", 64)}
				return e
			}(), hashing.ErrPidsUnsorted},
			{"o changed after hashing", func() *eventstore.Event { e := good(); e.O = data(t, `{"msg":"y"}`); return e }(), nil},
			{"ts changed after hashing", func() *eventstore.Event { e := good(); e.TS++; return e }(), nil},
			{"src changed after hashing", func() *eventstore.Event { e := good(); e.Src = "c.example"; return e }(), nil},
			{"pids changed after hashing", func() *eventstore.Event { e := good(); e.Pids = []string{}; return e }(), nil},
			{"wrong schema version", func() *eventstore.Event { e := good(); e.V = 3; return e }(), nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, err := s.IngestFrom(ctx, "", []*eventstore.Event{tt.e})
				if err != nil {
					t.Fatal(err)
				}
				if res[0].Status != store.Refused {
					t.Fatalf("status %s", res[0].Status)
				}
				if tt.want != nil && !strings.Contains(res[0].Err.Error(), tt.want.Error()) {
					t.Errorf("error %v, want %v", res[0].Err, tt.want)
				}
				if eventstore.ErrorCode(res[0].Err) != eventstore.EINVALIDDATA {
					t.Errorf("code %s", eventstore.ErrorCode(res[0].Err))
				}
			})
		}
		if ids := storetest.CheckLeaves(t, s, conn, "room", "r1"); len(ids) != 1 {
			t.Errorf("refused events were stored: %d events", len(ids))
		}
	})
}

// TestIngestLargeBatch: more events than one head version holds are
// written in several, all of them.
func TestIngestLargeBatch(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, conn := newStore(t, b)
		g := remoteEvent(t, "b.example", "room", "big", "room", 1, nil, nil)
		events := []*eventstore.Event{g}
		for i := range 250 {
			events = append(events, remoteEvent(t, "b.example", "room", "big", "msg", int64(2+i), []string{events[len(events)-1].ID}, nil))
		}
		res, err := s.IngestFrom(ctxT(t), "", events)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Status != store.Stored {
				t.Fatalf("event %d: %+v", i, r)
			}
		}
		if ids := storetest.CheckLeaves(t, s, conn, "room", "big"); len(ids) != 251 {
			t.Errorf("%d events stored", len(ids))
		}
	})
}

// TestIngestRefusesEditsOfEdits: as for local writes, a peer's update or
// delete may not name an update or delete event, whether that is stored
// already or new in the same batch.
func TestIngestRefusesEditsOfEdits(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _ := newStore(t, b)
		ctx := ctxT(t)
		g := remoteEvent(t, "b.example", "room", "r1", "room", 1000, nil, nil)
		m := remoteEvent(t, "b.example", "room", "r1", "msg", 1001, []string{g.ID}, data(t, `{"msg":"hi"}`))
		up := remoteEvent(t, "b.example", "room", "r1", eventstore.TypeUpdate, 1002, []string{m.ID},
			data(t, `{"set":[{"path":"msg","value":"edited"}],"target":"`+m.ID+`"}`))
		if res, err := s.IngestFrom(ctx, "", []*eventstore.Event{g, m, up}); err != nil || res[2].Status != store.Stored {
			t.Fatal(err, res)
		}
		del := remoteEvent(t, "b.example", "room", "r1", eventstore.TypeDelete, 1003, []string{up.ID}, data(t, `{"target":"`+up.ID+`"}`))
		up2 := remoteEvent(t, "b.example", "room", "r1", eventstore.TypeUpdate, 1003, []string{up.ID},
			data(t, `{"set":[{"path":"set","value":[]}],"target":"`+up.ID+`"}`))
		up3 := remoteEvent(t, "b.example", "room", "r1", eventstore.TypeUpdate, 1004, []string{m.ID},
			data(t, `{"set":[{"path":"msg","value":"again"}],"target":"`+m.ID+`"}`))
		del3 := remoteEvent(t, "b.example", "room", "r1", eventstore.TypeDelete, 1005, []string{up3.ID}, data(t, `{"target":"`+up3.ID+`"}`))
		res, err := s.IngestFrom(ctx, "", []*eventstore.Event{del, up2, up3, del3})
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []store.IngestStatus{store.Refused, store.Refused, store.Stored, store.Refused} {
			if res[i].Status != want || want == store.Refused && eventstore.ErrorCode(res[i].Err) != eventstore.EINVALIDDATA {
				t.Errorf("event %d: %s %v, want %s", i, res[i].Status, res[i].Err, want)
			}
		}
		got, err := s.Get(ctx, "room", "r1", up.ID)
		if err != nil || got.Deleted {
			t.Errorf("the update event: %v, deleted %v", err, got != nil && got.Deleted)
		}
	})
}
