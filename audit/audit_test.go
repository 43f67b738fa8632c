package audit_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/federation"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"

	"github.com/eventstore-go/eventstore/internal/database"
)

// auditRoom is a storetest.Room with its store and an auditor.
type auditRoom struct {
	*storetest.Room
	s    *store.Store
	conn *database.Conn
}

func newAuditRoom(t *testing.T, b storetest.Backend) *auditRoom {
	t.Helper()
	s, conn := newStore(t, b)
	return &auditRoom{Room: storetest.NewRoom(t, s), s: s, conn: conn}
}

func (r *auditRoom) verify(t *testing.T, incremental bool) *audit.Report {
	t.Helper()
	rep, err := auditorOf(r.s, r.conn).Verify(ctxT(t), audit.Options{Incremental: incremental})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// tamper changes one event document straight through the driver.
func (r *auditRoom) tamper(t *testing.T, id string, update bson.D) {
	t.Helper()
	res, err := r.conn.DB.Collection("room_events").UpdateOne(context.Background(), bson.D{{Key: "_id", Value: id}}, update)
	if err != nil || res.MatchedCount != 1 {
		t.Fatalf("tampering with %s: %v %+v", id, err, res)
	}
}

func kinds(rep *audit.Report) []string {
	var ks []string
	for k := range rep.ByKind {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestAuditCleanStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		r := newAuditRoom(t, b)
		for _, incremental := range []bool{false, true, true} {
			rep := r.verify(t, incremental)
			if !rep.Clean {
				t.Fatalf("incremental=%v: problems %+v", incremental, rep.Problems)
			}
			if rep.Contexts != 1 || !incremental && rep.Redacted != 1 {
				t.Errorf("incremental=%v: %d contexts, %d redacted", incremental, rep.Contexts, rep.Redacted)
			}
			if !incremental && rep.Events != int64(len(r.Events)) {
				t.Errorf("verified %d events, want %d", rep.Events, len(r.Events))
			}
		}
		// More events since the checkpoint: the incremental run checks only them.
		for range 3 {
			if _, _, err := r.s.Append(ctxT(t), "room", "r1", store.NewEvent{T: "msg"}); err != nil {
				t.Fatal(err)
			}
		}
		r.s.Flush(ctxT(t))
		rep := r.verify(t, true)
		if !rep.Clean || rep.Events != 3 || rep.PerCtx[0].Checked != "incremental" {
			t.Errorf("incremental after 3 appends: %+v", rep)
		}
	})
}

func TestAuditFindsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, r *auditRoom)
		want   string // a problem kind the audit must report; "" for none
		repair bool   // --repair fixes it and the next run is clean
	}{
		{"o changed", func(t *testing.T, r *auditRoom) {
			r.tamper(t, r.Events[2].ID, bson.D{{Key: "$set", Value: bson.D{{Key: "o.msg", Value: "forged"}}}})
		}, audit.ProblemDHashMismatch, false},
		{"ts changed", func(t *testing.T, r *auditRoom) {
			r.tamper(t, r.Events[2].ID, bson.D{{Key: "$set", Value: bson.D{{Key: "ts", Value: bson.DateTime(r.Events[2].TS + 1)}}}})
		}, audit.ProblemIDMismatch, false},
		{"pids changed", func(t *testing.T, r *auditRoom) {
			r.tamper(t, r.Events[4].ID, bson.D{{Key: "$set", Value: bson.D{{Key: "pids", Value: bson.A{r.Events[0].ID}}}}})
		}, audit.ProblemIDMismatch, false},
		{"src changed", func(t *testing.T, r *auditRoom) {
			r.tamper(t, r.Events[2].ID, bson.D{{Key: "$set", Value: bson.D{{Key: "src", Value: "evil.example"}}}})
		}, audit.ProblemIDMismatch, false},
		{"event removed from the middle", func(t *testing.T, r *auditRoom) {
			if _, err := r.conn.DB.Collection("room_events").DeleteOne(context.Background(), bson.D{{Key: "_id", Value: r.Events[6].ID}}); err != nil {
				t.Fatal(err)
			}
		}, audit.ProblemMissingParent, false},
		{"update target removed", func(t *testing.T, r *auditRoom) {
			if _, err := r.conn.DB.Collection("room_events").DeleteOne(context.Background(), bson.D{{Key: "_id", Value: r.Edited.ID}}); err != nil {
				t.Fatal(err)
			}
		}, audit.ProblemMissingTarget, false},
		{"genesis added", func(t *testing.T, r *auditRoom) {
			g := remoteEvent(t, "evil.example", "room", "r1", "room", 5, nil, nil)
			doc := bson.D{{Key: "_id", Value: g.ID}, {Key: "pids", Value: bson.A{}}, {Key: "v", Value: int32(2)},
				{Key: "ts", Value: bson.DateTime(g.TS)}, {Key: "src", Value: g.Src}, {Key: "ct", Value: "room"},
				{Key: "cid", Value: "r1"}, {Key: "t", Value: "room"}, {Key: "dHash", Value: g.DHash}, {Key: "o", Value: storetest.BSON(t, g.O)}}
			if _, err := r.conn.DB.Collection("room_events").InsertOne(context.Background(), doc); err != nil {
				t.Fatal(err)
			}
		}, audit.ProblemGenesisExtra, false},
		{"update by a server that may not", func(t *testing.T, r *auditRoom) {
			// Signed by the peer (a participant), but the event is a.example's and so is the room.
			u := remoteEvent(t, peer, "room", "r1", eventstore.TypeUpdate, r.Events[2].TS+1, []string{r.Events[2].ID},
				data(t, `{"set":[{"path":"msg","value":"hijacked"}],"target":"`+r.Events[2].ID+`"}`))
			doc := bson.D{{Key: "_id", Value: u.ID}, {Key: "pids", Value: bson.A{r.Events[2].ID}}, {Key: "v", Value: int32(2)},
				{Key: "ts", Value: bson.DateTime(u.TS)}, {Key: "src", Value: u.Src}, {Key: "ct", Value: "room"},
				{Key: "cid", Value: "r1"}, {Key: "t", Value: u.T}, {Key: "dHash", Value: u.DHash}, {Key: "o", Value: storetest.BSON(t, u.O)},
				{Key: "d", Value: storetest.BSON(t, u.O)}, {Key: "sigs", Value: u.Sigs}}
			if _, err := r.conn.DB.Collection("room_events").InsertOne(context.Background(), doc); err != nil {
				t.Fatal(err)
			}
			r.Events = append(r.Events, u)
		}, audit.ProblemUnauthorizedEdit, false},
		{"isLeaf removed", func(t *testing.T, r *auditRoom) {
			leaves, _ := storetest.Leaves(ctxT(t), r.s, "room", "r1")
			r.tamper(t, leaves[0], bson.D{{Key: "$unset", Value: bson.D{{Key: "isLeaf", Value: ""}}}})
		}, audit.ProblemIsLeafMismatch, true},
		{"isLeaf added", func(t *testing.T, r *auditRoom) {
			r.tamper(t, r.Events[2].ID, bson.D{{Key: "$set", Value: bson.D{{Key: "isLeaf", Value: true}}}})
		}, audit.ProblemIsLeafMismatch, true},
		{"head versions removed", func(t *testing.T, r *auditRoom) {
			if _, err := r.conn.DB.Collection("room_events").DeleteMany(context.Background(), bson.D{{Key: "cid", Value: "r1"}, {Key: "head", Value: bson.D{{Key: "$exists", Value: true}}}}); err != nil {
				t.Fatal(err)
			}
		}, audit.ProblemHeadMismatch, false},
		{"head leaves altered", func(t *testing.T, r *auditRoom) {
			sum, _ := r.s.Summary(ctxT(t), "room", "r1")
			r.tamper(t, fmt.Sprintf("r1#%d", sum.Version), bson.D{{Key: "$set", Value: bson.D{
				{Key: "head.leaves", Value: bson.A{bson.D{{Key: "id", Value: r.Events[2].ID}, {Key: "ts", Value: r.Events[2].TS}}}}}}})
		}, audit.ProblemLeavesMismatch, true},
		{"d changed, never edited", func(t *testing.T, r *auditRoom) {
			r.tamper(t, r.Events[2].ID, bson.D{{Key: "$set", Value: bson.D{{Key: "d.msg", Value: "what clients now show"}}}})
		}, audit.ProblemDMismatch, true},
		{"d changed, edited", func(t *testing.T, r *auditRoom) {
			r.tamper(t, r.Edited.ID, bson.D{{Key: "$set", Value: bson.D{{Key: "d.msg", Value: "not the edit"}}}})
		}, audit.ProblemDMismatch, true},
		{"d of an edited event set back to o", func(t *testing.T, r *auditRoom) {
			r.tamper(t, r.Edited.ID, bson.D{{Key: "$set", Value: bson.D{{Key: "d", Value: storetest.BSON(t, r.Edited.O)}}}})
		}, audit.ProblemDMismatch, true},
		{"deletedAt without a delete", func(t *testing.T, r *auditRoom) {
			r.tamper(t, r.Events[2].ID, bson.D{{Key: "$set", Value: bson.D{{Key: "deletedAt", Value: bson.DateTime(r.Events[2].TS + 5)}}},
				{Key: "$unset", Value: bson.D{{Key: "o", Value: ""}, {Key: "d", Value: ""}}}})
		}, audit.ProblemDeletedMismatch, false},
		{"deleted event given its data back", func(t *testing.T, r *auditRoom) {
			r.tamper(t, r.Events[5].ID, bson.D{{Key: "$set", Value: bson.D{{Key: "o", Value: storetest.BSON(t, r.Events[5].O)}, {Key: "d", Value: storetest.BSON(t, r.Events[5].O)}}},
				{Key: "$unset", Value: bson.D{{Key: "deletedAt", Value: ""}}}})
		}, audit.ProblemDeletedMismatch, false},
		{"signature removed", func(t *testing.T, r *auditRoom) {
			r.tamper(t, r.Events[2].ID, bson.D{{Key: "$unset", Value: bson.D{{Key: "sigs", Value: ""}}}})
		}, audit.ProblemBadSignature, false},
		{"signature altered", func(t *testing.T, r *auditRoom) {
			r.tamper(t, r.Events[2].ID, bson.D{{Key: "$set", Value: bson.D{{Key: "sigs", Value: r.Events[3].Sigs}}}})
		}, audit.ProblemBadSignature, false},
		{"signed by a key the server does not know", func(t *testing.T, r *auditRoom) {
			r.tamper(t, r.Events[2].ID, bson.D{{Key: "$set", Value: bson.D{{Key: "sigs", Value: federation.SignEvent(mustKey(), r.Events[2].ID)}}}})
		}, audit.ProblemUnknownKey, false},
		{"event forged with a valid id", func(t *testing.T, r *auditRoom) {
			forger := storetest.NewStore(t, r.conn, server, store.Options{}) // writes as the store does, without the key
			e, _, err := forger.Append(ctxT(t), "room", "r1", store.NewEvent{T: "msg", O: data(t, `{"msg":"I never said that"}`)})
			if err != nil {
				t.Fatal(err)
			}
			forger.Flush(ctxT(t))
			r.Events = append(r.Events, e)
		}, audit.ProblemBadSignature, false},
		{"deleted event still holding its data", func(t *testing.T, r *auditRoom) {
			r.tamper(t, r.Events[5].ID, bson.D{{Key: "$set", Value: bson.D{{Key: "d", Value: storetest.BSON(t, r.Events[5].O)}}}})
		}, audit.ProblemDeletedMismatch, false},
		{"deletedAt moved", func(t *testing.T, r *auditRoom) {
			r.tamper(t, r.Events[5].ID, bson.D{{Key: "$set", Value: bson.D{{Key: "deletedAt", Value: bson.DateTime(1)}}}})
		}, audit.ProblemDeletedMismatch, false},
	}
	scanOnly := map[string]bool{"genesis added": true, "update by a server that may not": true} // not in the head log
	// The event each problem must name.
	at := map[string]func(r *auditRoom) string{
		"o changed": func(r *auditRoom) string { return r.Events[2].ID }, "ts changed": func(r *auditRoom) string { return r.Events[2].ID },
		"src changed": func(r *auditRoom) string { return r.Events[2].ID }, "pids changed": func(r *auditRoom) string { return r.Events[4].ID },
		"event removed from the middle":            func(r *auditRoom) string { return r.Events[7].ID },
		"d changed, never edited":                  func(r *auditRoom) string { return r.Events[2].ID },
		"d changed, edited":                        func(r *auditRoom) string { return r.Edited.ID },
		"d of an edited event set back to o":       func(r *auditRoom) string { return r.Edited.ID },
		"deletedAt without a delete":               func(r *auditRoom) string { return r.Events[2].ID },
		"deleted event given its data back":        func(r *auditRoom) string { return r.Events[5].ID },
		"deletedAt moved":                          func(r *auditRoom) string { return r.Events[5].ID },
		"signature removed":                        func(r *auditRoom) string { return r.Events[2].ID },
		"signature altered":                        func(r *auditRoom) string { return r.Events[2].ID },
		"signed by a key the server does not know": func(r *auditRoom) string { return r.Events[2].ID },
		"event forged with a valid id":             func(r *auditRoom) string { return r.Events[len(r.Events)-1].ID },
	}
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := newAuditRoom(t, b)
				if rep := r.verify(t, false); !rep.Clean {
					t.Fatalf("clean store: %+v", rep.Problems)
				}
				tt.tamper(t, r)
				// A fresh store, as an operator's verify run would be.
				s := auditorOf(storetest.NewStore(t, r.conn, server, store.Options{}), r.conn)
				rep, err := s.Verify(ctxT(t), audit.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if tt.want == "" {
					if !rep.Clean {
						t.Fatalf("problems %+v", rep.Problems)
					}
					return
				}
				if rep.ByKind[tt.want] == 0 {
					t.Fatalf("want a %s problem, got %v: %+v", tt.want, kinds(rep), rep.Problems)
				}
				if event := at[tt.name]; event != nil && !hasProblem(rep, tt.want, event(r)) {
					t.Fatalf("want a %s problem naming %s, got %+v", tt.want, event(r), rep.Problems)
				}
				// GET …/verify audits the one room along its head log: it must
				// see the same, except an event the head log does not name,
				// which only a scan of the collection finds.
				if !scanOnly[tt.name] {
					one, err := s.Verify(ctxT(t), audit.Options{Ct: "room", Cid: "r1"})
					if err != nil {
						t.Fatalf("auditing the one room: %v", err)
					}
					if one.ByKind[tt.want] == 0 {
						t.Fatalf("auditing the one room: want a %s problem, got %v: %+v", tt.want, kinds(one), one.Problems)
					}
				}
				if !tt.repair {
					return
				}
				if !rep.Derived() {
					t.Fatalf("problems Repair cannot fix: %v: %+v", kinds(rep), rep.Problems)
				}
				changed, err := s.RepairContexts(ctxT(t), rep)
				if err != nil || len(changed) != 1 || !changed[0].Changed() {
					t.Fatalf("repair: %+v %v", changed, err)
				}
				if again, err := s.Verify(ctxT(t), audit.Options{}); err != nil || !again.Clean {
					t.Fatalf("after repair: %v %+v", err, again.Problems)
				}
			})
		}
	})
}

// TestAuditCatchesRewrittenHistory: a whole chain replaced, with every
// hash recomputed, is consistent in itself. The attacker cannot sign it
// with the server's key (the events carry no signature, or the original
// events' signatures, which cover other ids), so the signatures tell; the
// checkpoint in the database tells while it is there, and the checkpoint
// file once it is deleted.
func TestAuditCatchesRewrittenHistory(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		r := newAuditRoom(t, b)
		file := filepath.Join(t.TempDir(), "checkpoints")
		if rep, err := auditorOf(r.s, r.conn).Verify(ctx, audit.Options{CheckpointFile: file}); err != nil || !rep.Clean {
			t.Fatal(err, rep.Problems) // records the checkpoints
		}
		// Rewrite: drop the room's events and heads, write a new chain.
		if _, err := r.conn.DB.Collection("room_events").DeleteMany(ctx, bson.D{{Key: "cid", Value: "r1"}}); err != nil {
			t.Fatal(err)
		}
		forger := storetest.NewStore(t, r.conn, server, store.Options{})
		g := remoteEvent(t, server, "room", "r1", "room", r.Events[0].TS, nil, data(t, `{"name":"r1"}`))
		chain := []*eventstore.Event{g}
		for i := range 20 {
			prev := chain[len(chain)-1]
			e := remoteEvent(t, server, "room", "r1", "msg", prev.TS+1, []string{prev.ID}, data(t, fmt.Sprintf(`{"msg":"f%d"}`, i)))
			if i%2 == 0 { // a signature taken from a genuine event
				e.Sigs = r.Events[1+i%10].Sigs
			}
			chain = append(chain, e)
		}
		if _, err := forger.IngestFrom(ctx, "", chain); err != nil {
			t.Fatal(err)
		}
		forger.Flush(ctx)
		signatures := func(t *testing.T, rep *audit.Report) {
			t.Helper()
			if rep.ByKind[audit.ProblemBadSignature] != len(chain) {
				t.Errorf("want bad_signature for all %d forged events, got %d", len(chain), rep.ByKind[audit.ProblemBadSignature])
			}
			for _, e := range chain {
				if !hasProblem(rep, audit.ProblemBadSignature, e.ID) {
					t.Errorf("no bad_signature for %s", e.ID)
				}
			}
		}
		// The database's checkpoint tells, in full mode as in incremental mode.
		for _, incremental := range []bool{true, false, true} {
			rep := verifyWith(t, auditorOf(forger, r.conn), audit.Options{Incremental: incremental})
			if len(kinds(rep)) != 2 || rep.ByKind[audit.ProblemHistoryRewritten] == 0 {
				t.Fatalf("incremental=%v: want history_rewritten and bad_signature, got %v: %+v", incremental, kinds(rep), rep.Problems)
			}
			signatures(t, rep)
		}
		// Checkpoints deleted too: the signatures still tell, and the file.
		dropCheckpoints(t, r.conn)
		rep := verifyWith(t, auditorOf(forger, r.conn), audit.Options{})
		if len(kinds(rep)) != 1 {
			t.Fatalf("without checkpoints: want bad_signature only, got %v", kinds(rep))
		}
		signatures(t, rep)
		rep = verifyWith(t, auditorOf(forger, r.conn), audit.Options{CheckpointFile: file})
		if !hasProblem(rep, audit.ProblemHistoryRewritten, r.Events[len(r.Events)-1].ID) {
			t.Fatalf("with the checkpoint file: want history_rewritten naming the old leaf, got %+v", rep.Problems)
		}
		signatures(t, rep)
	})
}
