package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/store"

	"github.com/eventstore-go/eventstore/internal/bsondata"
)

// Room is a context room/r1 with a genesis, ten messages, an update and a
// delete: what the audit tests tamper with.
type Room struct {
	Events []*eventstore.Event // genesis first, in append order
	Edited *eventstore.Event   // target of the update
}

// NewRoom writes a Room into s, its isLeaf flags flushed.
func NewRoom(tb testing.TB, s *store.Store) *Room {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := func(js string) json.RawMessage { return Data(tb, js) }
	r := &Room{}
	g, err := s.CreateContext(ctx, "room", "r1", "", data(`{"name":"r1"}`))
	if err != nil {
		tb.Fatal(err)
	}
	r.Events = append(r.Events, g)
	for i := range 10 {
		e, _, err := s.Append(ctx, "room", "r1", store.NewEvent{T: "msg", O: data(fmt.Sprintf(`{"msg":"m%d"}`, i))})
		if err != nil {
			tb.Fatal(err)
		}
		r.Events = append(r.Events, e)
	}
	r.Edited = r.Events[3]
	up, err := s.Update(ctx, "room", "r1", r.Edited.ID, edits.Edit{Set: []edits.SetOp{{Path: "msg", Value: "edited"}}})
	if err != nil {
		tb.Fatal(err)
	}
	del, err := s.Delete(ctx, "room", "r1", r.Events[5].ID)
	if err != nil {
		tb.Fatal(err)
	}
	r.Events = append(r.Events, up, del)
	if err := s.Flush(ctx); err != nil {
		tb.Fatal(err)
	}
	return r
}

// RemoteEvent builds an event as another server would send it: src,
// context, type, ts, parents and data o ({} when nil), with its dHash and
// id computed; unsigned.
func RemoteEvent(tb testing.TB, src, ct, cid, typ string, ts int64, pids []string, o json.RawMessage) *eventstore.Event {
	tb.Helper()
	if o == nil {
		o = json.RawMessage("{}")
	}
	canonical, err := eventstore.ParseData(o)
	if err != nil {
		tb.Fatal(err)
	}
	e := &eventstore.Event{Pids: slices.Sorted(slices.Values(pids)), V: eventstore.SchemaVersion, TS: ts, Src: src, Ct: ct, Cid: cid, T: typ, O: canonical, D: canonical}
	if e.Pids == nil {
		e.Pids = []string{}
	}
	e.DHash, e.ID = hashing.ID(e.Head(), canonical)
	return e
}

// Data parses JSON into event data (canonical JSON), failing the test on
// error.
func Data(tb testing.TB, js string) json.RawMessage {
	tb.Helper()
	o, err := eventstore.ParseData([]byte(js))
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

// BSON is event data as the store keeps it, for tests that write
// documents themselves.
func BSON(tb testing.TB, data json.RawMessage) bson.Raw {
	tb.Helper()
	doc, _, err := bsondata.FromJSON(data)
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

// Context is a context for one test: cancelled after five minutes or when
// the test ends.
func Context(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}
