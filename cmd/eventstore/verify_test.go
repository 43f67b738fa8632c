package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/federation"
	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"

	"github.com/eventstore-go/eventstore/internal/database"
)

// fillStore writes a room into a fresh embedded store under dir and stops
// it, as a server that was shut down would leave it. It returns the ids.
func fillStore(t *testing.T, dir string, tamper func(db *database.Conn, ids []string)) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := database.Connect(ctx, database.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := migrations.Up(ctx, conn, nil); err != nil {
		t.Fatal(err)
	}
	keys, err := federation.LoadKeyring(ctx, conn, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.New(conn, store.Options{Server: "a.example", Sign: func(id string) map[string]string { return federation.SignEvent(keys.Current, id) }})
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.CreateContext(ctx, "room", "general", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{g.ID}
	for range 5 {
		o, _ := eventstore.ParseData([]byte(`{"msg":"hi"}`))
		e, _, err := s.Append(ctx, "room", "general", store.NewEvent{T: "msg", O: o})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	s.Close()
	if tamper != nil {
		tamper(conn, ids)
	}
	return ids
}

func runVerify(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"eventstore", "verify", "--log-level", "error", "--server-name", "a.example"}, args...),
		func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
	status := exitStatus(err, &stderr) // writes the error to stderr
	return stdout.String() + stderr.String(), status
}

func TestVerifyCommand(t *testing.T) {
	clean := t.TempDir()
	fillStore(t, clean, nil)
	out, status := runVerify(t, "--data", clean)
	if status != 0 || !strings.Contains(out, "clean") || !strings.Contains(out, "room/general") {
		t.Fatalf("clean store: status %d\n%s", status, out)
	}
	if out, status := runVerify(t, "--data", clean, "--context", "room/general", "--incremental"); status != 0 {
		t.Fatalf("incremental: status %d\n%s", status, out)
	}
	// The checkpoint file: made by the first run, held to by the next; one
	// edited by hand stops the audit.
	file := filepath.Join(t.TempDir(), "checkpoints")
	for range 2 {
		if out, status := runVerify(t, "--data", clean, "--checkpoints", file); status != 0 || !strings.Contains(out, "checkpoint file "+file+": 1 contexts") {
			t.Fatalf("--checkpoints: status %d\n%s", status, out)
		}
	}
	text, err := os.ReadFile(file)
	if err != nil || !strings.HasPrefix(string(text), "eventstore checkpoints v1\na.example\n1\nroom/general ") {
		t.Fatalf("the checkpoint file: %v\n%s", err, text)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(text), "room/general", "room/other", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, status := runVerify(t, "--data", clean, "--checkpoints", file); status != 2 || !strings.Contains(out, "does not verify") {
		t.Fatalf("edited checkpoint file: status %d\n%s", status, out)
	}
	// Under another name the server's events are not its own.
	if out, status := runVerify(t, "--data", clean, "--server-name", "b.example"); status != 1 || !strings.Contains(out, "unknown_key") {
		t.Fatalf("wrong --server-name: status %d\n%s", status, out)
	}
	if out, status := runVerify(t, "--data", t.TempDir()); status != 2 || !strings.Contains(out, "key") {
		t.Fatalf("a store without keys: status %d\n%s", status, out)
	}

	broken := t.TempDir()
	ids := fillStore(t, broken, func(conn *database.Conn, ids []string) {
		_, err := conn.DB.Collection("room_events").UpdateOne(context.Background(), bson.D{{Key: "_id", Value: ids[2]}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "o.msg", Value: "forged"}}}})
		if err != nil {
			t.Fatal(err)
		}
	})
	out, status = runVerify(t, "--data", broken, "--json")
	if status != 1 {
		t.Fatalf("tampered store: status %d\n%s", status, out)
	}
	var rep audit.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if rep.Clean || len(rep.Problems) != 1 || rep.Problems[0].Kind != audit.ProblemDHashMismatch || rep.Problems[0].Event != ids[2] {
		t.Errorf("report %+v", rep)
	}

	flags := t.TempDir()
	fillStore(t, flags, func(conn *database.Conn, ids []string) {
		_, err := conn.DB.Collection("room_events").UpdateOne(context.Background(), bson.D{{Key: "_id", Value: ids[1]}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "isLeaf", Value: true}}}})
		if err != nil {
			t.Fatal(err)
		}
	})
	if out, status := runVerify(t, "--data", flags); status != 1 || !strings.Contains(out, "isleaf_mismatch") {
		t.Fatalf("flag tampered: status %d\n%s", status, out)
	}
	out, status = runVerify(t, "--data", flags, "--repair")
	if status != 0 || !strings.Contains(out, "repaired room/general") {
		t.Fatalf("--repair: status %d\n%s", status, out)
	}
	if out, status := runVerify(t, "--data", flags); status != 0 {
		t.Fatalf("after repair: status %d\n%s", status, out)
	}

	if out, status := runVerify(t, "--mongodb-uri", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200"); status != 2 {
		t.Fatalf("unreachable database: status %d\n%s", status, out)
	}
	if out, status := runVerify(t, "--data", clean, "--context", "general"); status != 2 {
		t.Fatalf("bad --context: status %d\n%s", status, out)
	}
}
