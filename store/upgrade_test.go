package store_test

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"

	"github.com/eventstore-go/eventstore/internal/database"
)

// TestUpgradeGivesPositions upgrades a store written before timelines
// existed (testdata/store-v6.md): every event gets a position, in the
// order its context stored it; listing both ways, the commit log and new
// appends all agree; running the step again changes nothing.
func TestUpgradeGivesPositions(t *testing.T) {
	dir := t.TempDir()
	untar(t, "../testdata/store-v6.tar.gz", dir)
	emb, err := database.StartEmbedded(database.EmbeddedConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Close() })
	ctx := storetest.Context(t)
	conn, err := database.Connect(ctx, database.Config{Embedded: emb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	if n, err := migrations.Pending(ctx, conn); err != nil || n != 5 {
		t.Fatalf("pending steps before the upgrade: %d (%v), want 5 (steps 7 to 11)", n, err)
	}
	if _, err := migrations.Up(ctx, conn, nil); err != nil {
		t.Fatal(err)
	}
	s := storetest.NewStore(t, conn, "a.test", store.Options{})

	want := map[string]int{"room/r1": 13, "room/r2": 32, "dm/alice:bob": 6}
	total := 0
	for key, n := range want {
		ct, cid, _ := cut(key)
		fwd := listAll(t, s, ct, cid, store.Forward, "")
		back := listAll(t, s, ct, cid, store.Backward, "")
		if len(fwd) != n {
			t.Errorf("%s: %d events forward, want %d", key, len(fwd), n)
		}
		slices.Reverse(back)
		if !slices.Equal(ids(fwd), ids(back)) {
			t.Errorf("%s: backward is not forward reversed", key)
		}
		checkParentsFirst(t, key, fwd)
		total += n
	}
	// room/r2's reactions by prefix.
	reactions := listAll(t, s, "room", "r2", store.Forward, "message.*")
	if len(reactions) != 10 {
		t.Errorf("%d message.* events in room/r2, want 10", len(reactions))
	}
	// Every commit log document has the log's shard key (step 11), so
	// reads that carry it (MongoDB's) find them all.
	for _, ct := range []string{"room", "dm"} {
		var docs []bson.M
		cur, err := conn.DB.Collection(migrations.EventsCollection(ct)).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$regex", Value: `^~log\#`}}}})
		if err != nil || cur.All(ctx, &docs) != nil || len(docs) == 0 {
			t.Fatalf("reading %s's commit log documents: %d (%v)", ct, len(docs), err)
		}
		for _, d := range docs {
			if d["cid"] != migrations.LogCid {
				t.Errorf("%s: %v has cid %v, want %s", ct, d["_id"], d["cid"], migrations.LogCid)
			}
		}
	}
	targeted, err := database.Connect(ctx, database.Config{Embedded: emb, Database: conn.Name(), MongoDBReads: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { targeted.Close(ctx) })
	reader := storetest.NewStore(t, targeted, "a.test", store.Options{ReadOnly: true})
	// The commit logs name every event once.
	seen := map[string]bool{}
	for _, ct := range []string{"room", "dm"} {
		commits, _, err := reader.ReadLog(ctx, ct, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range commits {
			for _, e := range c.Events {
				if seen[e.ID] {
					t.Errorf("event %s twice in the commit log", e.ID)
				}
				seen[e.ID] = true
			}
		}
	}
	if len(seen) != total {
		t.Errorf("commit logs name %d events, want %d", len(seen), total)
	}
	// The clids of room/r2 (records in room_clids before step 10) are
	// still repeats: the same event back, nothing stored.
	var withClid []*eventstore.Event
	for _, e := range listAll(t, s, "room", "r2", store.Forward, "") {
		if e.Clid != "" {
			withClid = append(withClid, e)
		}
	}
	if len(withClid) < 5 {
		t.Errorf("room/r2 has %d events with a clid, want 6", len(withClid))
	}
	for _, first := range withClid {
		again, existed, err := s.Append(ctx, "room", "r2", store.NewEvent{T: first.T, O: first.O, Clid: first.Clid})
		if err != nil || !existed || again.ID != first.ID {
			t.Errorf("a repeat of clid %s from before the upgrade: existed %v, %v; got %v, want %s", first.Clid, existed, err, again, first.ID)
		}
	}
	// New events continue the timeline.
	e, _, err := s.Append(ctx, "room", "r2", store.NewEvent{T: "msg", O: storetest.Data(t, `{"msg":"after"}`)})
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.List(ctx, "room", "r2", store.ListQuery{Backward: true, Limit: 1})
	if err != nil || len(page.Events) != 1 || page.Events[0].ID != e.ID {
		t.Fatalf("the newest event after the upgrade is not the one appended: %v", err)
	}
	if got := len(listAll(t, s, "room", "r2", store.Forward, "")); got != 33 {
		t.Errorf("room/r2 has %d events after an append, want 33", got)
	}
	// The step is idempotent: run again, it leaves the same timelines.
	before := ids(listAll(t, s, "room", "r2", store.Forward, ""))
	if err := migrations.Steps[6].Up(ctx, conn, nil); err != nil {
		t.Fatal(err)
	}
	if after := ids(listAll(t, s, "room", "r2", store.Forward, "")); !slices.Equal(before, after) {
		t.Error("running step 7 again changed the timeline")
	}
}

func cut(key string) (string, string, bool) {
	for i := range key {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return key, "", false
}

// listAll pages through a context's whole timeline, 7 events a page.
func listAll(t *testing.T, s *store.Store, ct, cid string, dir store.Direction, typ string) []*eventstore.Event {
	t.Helper()
	var out []*eventstore.Event
	var from *store.Cursor
	for range 10000 {
		p, err := s.List(storetest.Context(t), ct, cid, store.ListQuery{From: from, Backward: dir, Limit: 7, T: typ})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Events...)
		if p.Next == nil {
			return out
		}
		from = p.Next
	}
	t.Fatal("listing did not end")
	return nil
}

func ids(events []*eventstore.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// checkParentsFirst fails unless every event comes after its parents.
func checkParentsFirst(t *testing.T, what string, events []*eventstore.Event) {
	t.Helper()
	at := map[string]int{}
	for i, e := range events {
		at[e.ID] = i
	}
	for i, e := range events {
		for _, p := range e.Pids {
			if j, ok := at[p]; !ok || j >= i {
				t.Errorf("%s: event %d (%s) comes before its parent %s", what, i, e.ID, p)
			}
		}
	}
}

func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		out, err := os.Create(filepath.Join(dir, filepath.Base(h.Name)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			t.Fatal(err)
		}
		out.Close()
	}
}
