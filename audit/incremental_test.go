package audit_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestIncrementalAuditChecksWhatIsNew: what was written since the
// checkpoint gets every check an incremental run can make: d of new events
// and of old events that new edits name (folded with their earlier edits),
// deletion by a new delete, and signatures.
func TestIncrementalAuditChecksWhatIsNew(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		r := newAuditRoom(t, b)
		if rep := r.verify(t, true); !rep.Clean {
			t.Fatal(rep.Problems)
		}
		var fresh []string
		for range 3 {
			e, _, err := r.s.Append(ctx, "room", "r1", store.NewEvent{T: "msg", O: data(t, `{"msg":"new"}`)})
			if err != nil {
				t.Fatal(err)
			}
			fresh = append(fresh, e.ID)
		}
		// r.Edited was updated before the checkpoint; a second update now.
		if _, err := r.s.Update(ctx, "room", "r1", r.Edited.ID, edits.Edit{Set: []edits.SetOp{{Path: "extra", Value: "x"}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.s.Update(ctx, "room", "r1", r.Events[2].ID, edits.Edit{Set: []edits.SetOp{{Path: "msg", Value: "fixed typo"}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.s.Delete(ctx, "room", "r1", r.Events[7].ID); err != nil {
			t.Fatal(err)
		}
		r.s.Flush(ctx)
		// Untouched, it is clean: the earlier update of r.Edited is folded in.
		rep := r.verify(t, true)
		if !rep.Clean || rep.PerCtx[0].Checked != "incremental" || rep.Events != 6 {
			t.Fatalf("clean incremental run: %+v", rep)
		}

		more, _, err := r.s.Append(ctx, "room", "r1", store.NewEvent{T: "msg", O: data(t, `{"msg":"newer"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.s.Update(ctx, "room", "r1", r.Edited.ID, edits.Edit{Set: []edits.SetOp{{Path: "msg", Value: "third"}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.s.Delete(ctx, "room", "r1", r.Events[8].ID); err != nil {
			t.Fatal(err)
		}
		forger := storetest.NewStore(t, r.conn, server, store.Options{})
		forged, _, err := forger.Append(ctx, "room", "r1", store.NewEvent{T: "msg", O: data(t, `{"msg":"forged"}`)})
		if err != nil {
			t.Fatal(err)
		}
		forger.Flush(ctx)
		r.s.Flush(ctx)
		r.tamper(t, more.ID, bson.D{{Key: "$set", Value: bson.D{{Key: "d.msg", Value: "not what was written"}}}})
		r.tamper(t, fresh[0], bson.D{{Key: "$unset", Value: bson.D{{Key: "sigs", Value: ""}}}}) // before the checkpoint: not re-checked
		r.tamper(t, r.Edited.ID, bson.D{{Key: "$set", Value: bson.D{{Key: "d.msg", Value: "edited"}}}})
		r.tamper(t, r.Events[8].ID, bson.D{{Key: "$set", Value: bson.D{{Key: "o", Value: storetest.BSON(t, r.Events[8].O)}, {Key: "d", Value: storetest.BSON(t, r.Events[8].O)}}},
			{Key: "$unset", Value: bson.D{{Key: "deletedAt", Value: ""}}}})

		rep = verifyWith(t, audit.New(storetest.NewStore(t, r.conn, server, store.Options{}), r.conn, signedConfig(r.conn)), audit.Options{Incremental: true})
		if rep.PerCtx[0].Checked != "incremental" {
			t.Fatalf("not incremental: %+v", rep)
		}
		for _, want := range []struct{ kind, event string }{
			{audit.ProblemDMismatch, more.ID},
			{audit.ProblemDMismatch, r.Edited.ID},
			{audit.ProblemDeletedMismatch, r.Events[8].ID},
			{audit.ProblemBadSignature, forged.ID},
		} {
			if !hasProblem(rep, want.kind, want.event) {
				t.Errorf("want %s for %s, got %+v", want.kind, want.event, rep.Problems)
			}
		}
		if len(rep.Problems) != 4 {
			t.Errorf("want 4 problems, got %+v", rep.Problems)
		}
	})
}
