package audit_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/mod/sumdb/note"

	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"

	"github.com/eventstore-go/eventstore/internal/database"
)

// noteKeys is a signer and its verifiers, for signed checkpoints.
type noteKeys struct {
	signer    note.Signer
	verifiers note.Verifiers
}

func newNoteKeys(t *testing.T, name string) noteKeys {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return noteKeys{signer: signer, verifiers: note.VerifierList(verifier)}
}

func (k noteKeys) auditor(s *store.Store, conn *database.Conn) *audit.Auditor {
	return audit.New(s, conn, audit.Config{Signer: k.signer, Verifiers: k.verifiers})
}

func verifyWith(t *testing.T, a *audit.Auditor, opts audit.Options) *audit.Report {
	t.Helper()
	rep, err := a.Verify(ctxT(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// dropCheckpoints deletes the audit's checkpoints in the database, as an
// attacker covering a rewrite would.
func dropCheckpoints(t *testing.T, conn *database.Conn) {
	t.Helper()
	if _, err := conn.DB.Collection(migrations.CheckpointsCollection).DeleteMany(context.Background(), bson.D{}); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointFileCatchesTruncation: the last events of a room removed,
// with their head versions, the new last leaf flagged and the database's
// checkpoint deleted, is a history consistent in itself that the database
// no longer contradicts. The checkpoint file does.
func TestCheckpointFileCatchesTruncation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		r := newAuditRoom(t, b)
		keys := newNoteKeys(t, server)
		before, _ := r.s.Summary(ctx, "room", "r1")
		var late []string
		for i := range 4 {
			e, _, err := r.s.Append(ctx, "room", "r1", store.NewEvent{T: "msg", O: data(t, fmt.Sprintf(`{"msg":"late %d"}`, i))})
			if err != nil {
				t.Fatal(err)
			}
			late = append(late, e.ID)
		}
		r.s.Flush(ctx)
		file := filepath.Join(t.TempDir(), "checkpoints")
		rep := verifyWith(t, keys.auditor(r.s, r.conn), audit.Options{CheckpointFile: file})
		if !rep.Clean || rep.FileContexts != 1 {
			t.Fatalf("first run: clean %v, %d contexts in the file: %+v", rep.Clean, rep.FileContexts, rep.Problems)
		}
		if text, _ := os.ReadFile(file); !strings.HasPrefix(string(text), "eventstore checkpoints v1\n"+server+"\n1\nroom/r1 ") {
			t.Fatalf("the checkpoint file:\n%s", text)
		}
		after, _ := r.s.Summary(ctx, "room", "r1")

		// The truncation, through the driver.
		events := r.conn.DB.Collection("room_events")
		var ids bson.A
		for _, id := range late {
			ids = append(ids, id)
		}
		for seq := before.Version + 1; seq <= after.Version; seq++ {
			ids = append(ids, fmt.Sprintf("r1#%d", seq))
		}
		if res, err := events.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}); err != nil || res.DeletedCount != int64(len(ids)) {
			t.Fatalf("truncating: %v, %+v", err, res)
		}
		r.tamper(t, before.Leaves[0], bson.D{{Key: "$set", Value: bson.D{{Key: "isLeaf", Value: true}}}})
		dropCheckpoints(t, r.conn)

		fresh := storetest.NewStore(t, r.conn, server, store.Options{})
		if rep := verifyWith(t, keys.auditor(fresh, r.conn), audit.Options{}); !rep.Clean {
			t.Fatalf("without the file the truncation should pass (that is the attack): %+v", rep.Problems)
		}
		dropCheckpoints(t, r.conn) // the run above recorded the truncated history
		for _, opts := range []audit.Options{{CheckpointFile: file}, {CheckpointFile: file, Incremental: true},
			{CheckpointFile: file, Ct: "room", Cid: "r1"}} {
			rep := verifyWith(t, keys.auditor(fresh, r.conn), opts)
			if rep.ByKind[audit.ProblemHistoryRewritten] == 0 || !hasProblem(rep, audit.ProblemHistoryRewritten, late[len(late)-1]) {
				t.Fatalf("%+v: want history_rewritten naming the file's leaf %s, got %+v", opts, late[len(late)-1], rep.Problems)
			}
		}
		// The file keeps the checkpoint it could not confirm.
		if rep := verifyWith(t, keys.auditor(fresh, r.conn), audit.Options{CheckpointFile: file}); rep.Clean {
			t.Fatal("a second run with the file passed the truncated history")
		}
	})
}

// TestCheckpointFileCatchesRemovedContext: a room removed altogether (its
// documents, registry entry and checkpoint) is reported from the file.
func TestCheckpointFileCatchesRemovedContext(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		r := newAuditRoom(t, b)
		keys := newNoteKeys(t, server)
		if _, err := r.s.CreateContext(ctx, "room", "r2", "", data(t, `{"name":"r2"}`)); err != nil {
			t.Fatal(err)
		}
		r.s.Flush(ctx)
		file := filepath.Join(t.TempDir(), "checkpoints")
		if rep := verifyWith(t, keys.auditor(r.s, r.conn), audit.Options{CheckpointFile: file}); !rep.Clean || rep.FileContexts != 2 {
			t.Fatalf("first run: %+v", rep)
		}
		if _, err := r.conn.DB.Collection("room_events").DeleteMany(ctx, bson.D{{Key: "cid", Value: "r1"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.conn.DB.Collection(migrations.ContextsCollection).DeleteMany(ctx, bson.D{{Key: "cid", Value: "r1"}}); err != nil {
			t.Fatal(err)
		}
		dropCheckpoints(t, r.conn)
		for _, incremental := range []bool{false, true} {
			rep := verifyWith(t, keys.auditor(r.s, r.conn), audit.Options{CheckpointFile: file, Incremental: incremental})
			if rep.ByKind[audit.ProblemHistoryRewritten] != 1 || rep.Problems[0].Cid != "r1" {
				t.Fatalf("incremental=%v: want history_rewritten for r1, got %+v", incremental, rep.Problems)
			}
		}
	})
}

// TestCheckpointFileRefusedIfNotOurs: a file whose text was changed, or
// that another key signed, stops the audit (it could not run) rather than
// being trusted or overwritten.
func TestCheckpointFileRefusedIfNotOurs(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		r := newAuditRoom(t, b)
		keys := newNoteKeys(t, server)
		file := filepath.Join(t.TempDir(), "checkpoints")
		verifyWith(t, keys.auditor(r.s, r.conn), audit.Options{CheckpointFile: file})
		good, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		// Another count of events, same signature.
		forged := strings.Replace(string(good), " 13 ", " 12 ", 1)
		if forged == string(good) {
			t.Fatalf("the file does not hold the count 13:\n%s", good)
		}
		resigned := signedByStranger(t, forged)
		for name, text := range map[string][]byte{"edited": []byte(forged), "signed by another key": resigned, "not a note": []byte("hello\n")} {
			if err := os.WriteFile(file, text, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := keys.auditor(r.s, r.conn).Verify(ctxT(t), audit.Options{CheckpointFile: file})
			if err == nil || !strings.Contains(err.Error(), "checkpoint file") {
				t.Errorf("%s: want an error about the checkpoint file, got %v", name, err)
			}
			if now, _ := os.ReadFile(file); string(now) != string(text) {
				t.Errorf("%s: the file was overwritten", name)
			}
		}
		if _, err := audit.New(r.s, r.conn, audit.Config{}).Verify(ctxT(t), audit.Options{CheckpointFile: file}); err == nil {
			t.Error("an auditor without a signing key used a checkpoint file")
		}
	})
}

// TestDatabaseCheckpointsAreSigned: a checkpoint in the database edited
// (to hide a truncation, say) or signed by another key is reported as
// bad_checkpoint and not used; an unsigned one is not used either.
func TestDatabaseCheckpointsAreSigned(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := ctxT(t)
		r := newAuditRoom(t, b)
		keys := newNoteKeys(t, server)
		a := keys.auditor(r.s, r.conn)
		if rep := verifyWith(t, a, audit.Options{}); !rep.Clean {
			t.Fatal(rep.Problems)
		}
		cps := r.conn.DB.Collection(migrations.CheckpointsCollection)
		var cp bson.M
		if err := cps.FindOne(ctx, bson.D{{Key: "_id", Value: "room/r1"}}).Decode(&cp); err != nil {
			t.Fatal(err)
		}
		signed, _ := cp["note"].(string)
		if !strings.HasPrefix(signed, "eventstore checkpoints v1\n"+server+"\n1\nroom/r1 ") {
			t.Fatalf("the checkpoint's note: %q", signed)
		}
		set := func(note string) {
			t.Helper()
			if _, err := cps.UpdateOne(ctx, bson.D{{Key: "_id", Value: "room/r1"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "note", Value: note}}}}); err != nil {
				t.Fatal(err)
			}
		}
		resigned := signedByStranger(t, signed)
		for name, n := range map[string]string{"edited": strings.Replace(signed, " 13 ", " 12 ", 1), "another key": string(resigned)} {
			set(n)
			rep := verifyWith(t, a, audit.Options{Incremental: true})
			if len(kinds(rep)) != 1 || rep.ByKind[audit.ProblemBadCheckpoint] != 1 {
				t.Errorf("%s: want bad_checkpoint only, got %+v", name, rep.Problems)
			}
			if rep.PerCtx[0].Checked != "full" {
				t.Errorf("%s: a bad checkpoint was used as the base", name)
			}
			// Reported once, then replaced by a good one.
			if rep := verifyWith(t, a, audit.Options{Incremental: true}); !rep.Clean || rep.PerCtx[0].Checked != "incremental" {
				t.Errorf("%s: the run after: %+v", name, rep)
			}
		}
		// Unsigned (as before checkpoints were signed): not used, not a problem; the run signs a new one.
		if _, err := cps.UpdateOne(ctx, bson.D{{Key: "_id", Value: "room/r1"}}, bson.D{{Key: "$unset", Value: bson.D{{Key: "note", Value: ""}}}}); err != nil {
			t.Fatal(err)
		}
		if rep := verifyWith(t, a, audit.Options{Incremental: true}); !rep.Clean || rep.PerCtx[0].Checked != "full" {
			t.Fatalf("unsigned checkpoint: %+v", rep)
		}
		if rep := verifyWith(t, a, audit.Options{Incremental: true}); !rep.Clean || rep.PerCtx[0].Checked != "incremental" {
			t.Fatalf("after a signed checkpoint was written: %+v", rep)
		}
	})
}

// signedByStranger is signed note text signed again by another key of the
// same name: what someone who cannot sign as the server would write.
func signedByStranger(t *testing.T, signed string) []byte {
	t.Helper()
	out, err := note.Sign(&note.Note{Text: strings.SplitN(signed, "\n\n", 2)[0] + "\n"}, newNoteKeys(t, server).signer)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func hasProblem(rep *audit.Report, kind, event string) bool {
	for _, p := range rep.Problems {
		if p.Kind == kind && p.Event == event {
			return true
		}
	}
	return false
}
