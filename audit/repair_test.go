package audit_test

import (
	"encoding/json"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestRepairWithoutHeadKeepsParticipants: a context whose head versions
// are all gone is rebuilt with its participants (the creator and the
// servers its server.join events name), so ingest still takes the peers'
// events afterwards.
func TestRepairWithoutHeadKeepsParticipants(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, conn := newStore(t, b)
		ctx := ctxT(t)
		if _, err := s.CreateContext(ctx, "room", "r1", "", nil); err != nil {
			t.Fatal(err)
		}
		join, err := s.Share(ctx, "room", "r1", "b.example")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Append(ctx, "room", "r1", store.NewEvent{T: "msg", O: data(t, `{"msg":"hi"}`)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		before, err := s.Summary(ctx, "room", "r1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.DB.Collection("room_events").DeleteMany(ctx, bson.D{{Key: "head", Value: bson.D{{Key: "$exists", Value: true}}}}); err != nil {
			t.Fatal(err)
		}

		fresh := storetest.NewStore(t, conn, server, store.Options{Participants: true})
		if _, err := auditorOf(fresh, conn).Repair(ctx, "room", "r1"); err != nil {
			t.Fatal(err)
		}
		after, err := fresh.Summary(ctx, "room", "r1")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{server, "b.example"}; !slices.Equal(after.Servers, want) {
			t.Errorf("servers after repair %v, want %v", after.Servers, want)
		}
		if !slices.Equal(after.Leaves, before.Leaves) || after.Count != before.Count || after.Genesis != before.Genesis {
			t.Errorf("head after repair %+v, before %+v", after, before)
		}
		if got, err := fresh.JoinEvent(ctx, "room", "r1", "b.example"); err != nil || got.ID != join.ID {
			t.Errorf("JoinEvent after repair: %v %v, want %s", got, err, join.ID)
		}
		e := remoteEvent(t, "b.example", "room", "r1", "msg", after.Updated+1, after.Leaves, data(t, `{"msg":"from b"}`))
		res, err := fresh.IngestFrom(ctx, "", []*eventstore.Event{e})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Status != store.Stored {
			t.Errorf("b.example's event after repair: %s %v", res[0].Status, res[0].Err)
		}
		storetest.CheckLeaves(t, fresh, conn, "room", "r1")
	})
}

// TestRepairFoldsOnlyGenuineEdits: an update event forged into the chain
// (a valid id, no valid signature), or a genuine one whose o was altered,
// is reported and is not what the audit holds d to, nor what repair
// rebuilds d from: d is rebuilt from the genuine updates only.
func TestRepairFoldsOnlyGenuineEdits(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		r := newAuditRoom(t, b)
		forger := storetest.NewStore(t, r.conn, server, store.Options{})
		forged, err := forger.Update(ctx, "room", "r1", r.Events[2].ID, edits.Edit{Set: []edits.SetOp{{Path: "msg", Value: "forged"}}})
		if err != nil {
			t.Fatal(err)
		}
		forger.Flush(ctx)
		// The genuine update of r.Edited, altered to say something else.
		var upd *eventstore.Event
		for _, e := range r.Events {
			if e.T == eventstore.TypeUpdate {
				upd = e
			}
		}
		r.tamper(t, upd.ID, bson.D{{Key: "$set", Value: bson.D{{Key: "o.set.0.value", Value: "altered"}, {Key: "d.set.0.value", Value: "altered"}}}})
		r.tamper(t, r.Edited.ID, bson.D{{Key: "$set", Value: bson.D{{Key: "d.msg", Value: "altered"}}}})

		a := auditorOf(storetest.NewStore(t, r.conn, server, store.Options{}), r.conn)
		rep := verifyWith(t, a, audit.Options{})
		for _, want := range []struct{ kind, event string }{
			{audit.ProblemBadSignature, forged.ID}, {audit.ProblemDMismatch, r.Events[2].ID},
			{audit.ProblemDHashMismatch, upd.ID}, {audit.ProblemDMismatch, r.Edited.ID},
		} {
			if !hasProblem(rep, want.kind, want.event) {
				t.Errorf("want %s for %s, got %+v", want.kind, want.event, rep.Problems)
			}
		}
		if _, err := a.RepairContexts(ctx, rep); err != nil {
			t.Fatal(err)
		}
		for _, e := range []*eventstore.Event{r.Events[2], r.Edited} {
			got, err := r.s.Get(ctx, "room", "r1", e.ID)
			if err != nil {
				t.Fatal(err)
			}
			var d struct{ Msg string }
			if _ = json.Unmarshal(got.D, &d); d.Msg != "m"+string(rune('0'+slices.Index(r.Events, e)-1)) {
				t.Errorf("%s: d.msg is %q after repair, want its o's", e.ID, d.Msg)
			}
		}
	})
}
