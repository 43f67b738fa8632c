package federation_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/federation"
	"github.com/eventstore-go/eventstore/migrations"

	"github.com/eventstore-go/eventstore/internal/database"
)

func keyIDs(keys []*federation.Key) []string {
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}

func contains(keys []*federation.Key, id string) bool {
	for _, k := range keys {
		if k.ID == id {
			return !k.Expired.IsZero()
		}
	}
	return false
}

// TestKeyringRotation: the key kept in the database survives restarts; a
// key file replaces it and the replaced keys stay published as expired; a
// server whose key came from a file refuses to start without it.
func TestKeyringRotation(t *testing.T) {
	ctx := context.Background()
	conn, err := database.Connect(ctx, database.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := migrations.Up(ctx, conn, nil); err != nil {
		t.Fatal(err)
	}
	first, err := federation.LoadKeyring(ctx, conn, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	again, err := federation.LoadKeyring(ctx, conn, nil, time.Now())
	if err != nil || again.Current.ID != first.Current.ID || len(again.Old) != 0 {
		t.Fatalf("restart: %v, current %s (was %s), old %v", err, again.Current.ID, first.Current.ID, keyIDs(again.Old))
	}
	k1, _ := federation.GenerateKey()
	ring, err := federation.LoadKeyring(ctx, conn, k1, time.Now())
	if err != nil || ring.Current.ID != k1.ID || !contains(ring.Old, first.Current.ID) {
		t.Fatalf("rotation to a key file: %v, current %s, old %v", err, ring.Current.ID, keyIDs(ring.Old))
	}
	k2, _ := federation.GenerateKey()
	ring, err = federation.LoadKeyring(ctx, conn, k2, time.Now())
	if err != nil || ring.Current.ID != k2.ID || !contains(ring.Old, first.Current.ID) || !contains(ring.Old, k1.ID) {
		t.Fatalf("second rotation: %v, current %s, old %v", err, ring.Current.ID, keyIDs(ring.Old))
	}
	if _, err := federation.LoadKeyring(ctx, conn, nil, time.Now()); err == nil || !strings.Contains(err.Error(), "--key-file") {
		t.Fatalf("start without the key file: %v; want an error naming --key-file", err)
	}
}

// TestKeyFile: a key file round-trips; a tampered one is refused.
func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	k, _ := federation.GenerateKey()
	raw, err := federation.MarshalKeyFile(k, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "key.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := federation.LoadKeyFile(path)
	if err != nil || got.ID != k.ID || !got.Private.Equal(k.Private) {
		t.Fatalf("round trip: %v %v", err, got)
	}
	other, _ := federation.GenerateKey()
	for name, mutate := range map[string]func(string) string{
		"another key's id": func(s string) string { return strings.Replace(s, k.ID, other.ID, 1) },
		"a short seed": func(s string) string {
			var m map[string]string
			_ = json.Unmarshal([]byte(s), &m)
			m["seed"] = "AAAA"
			out, _ := json.Marshal(m)
			return string(out)
		},
		"not JSON": func(s string) string { return s[:10] },
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(p, []byte(mutate(string(raw))), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := federation.LoadKeyFile(p); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// TestParsePeerPins: a pinned key must match its id.
func TestParsePeerPins(t *testing.T) {
	k, _ := federation.GenerateKey()
	other, _ := federation.GenerateKey()
	p, err := federation.ParsePeer("b.example=http://127.0.0.1:9000;key=" + federation.PinString(k))
	if err != nil || p.Name != "b.example" || len(p.Pinned) != 1 || p.Pinned[0].ID != k.ID {
		t.Fatalf("%v %+v", err, p)
	}
	bad := []string{
		"b.example",          // no URL
		"b.example=ftp://x",  // not http(s)
		"b example=http://x", // not a server name
		"b.example=http://x;key=" + other.ID + ":" + strings.SplitN(federation.PinString(k), ":", 3)[2], // id of another key
		"b.example=http://x;key=nonsense",
	}
	for _, s := range bad {
		if _, err := federation.ParsePeer(s); err == nil {
			t.Errorf("ParsePeer(%q) accepted", s)
		}
	}
}

// TestKeyRotationAcrossServers: A rotates its key while sharing a room
// with B; B accepts A's new events, and C, joining later, verifies the
// history signed with both keys.
func TestKeyRotationAcrossServers(t *testing.T) {
	nodes := startNodes(t, "a.test", "b.test", "c.test")
	a, b, c := nodes["a.test"], nodes["b.test"], nodes["c.test"]
	a.must("POST", "/api/v1/contexts/room/rot", `{}`, http.StatusCreated)
	appendAll(t, "room", "rot", 5, a)
	share(t, a, "room", "rot", b)
	old := a.keys.Current.ID

	a.stop()
	a.keyFile, _ = federation.GenerateKey()
	a.start()
	if a.keys.Current.ID == old || !contains(a.keys.Old, old) {
		t.Fatalf("after the restart A signs with %s, old keys %v", a.keys.Current.ID, keyIDs(a.keys.Old))
	}
	appendAll(t, "room", "rot", 5, a)
	converge(t, "room", "rot", 30*time.Second, a, b)
	share(t, a, "room", "rot", c)
	converge(t, "room", "rot", 30*time.Second, a, b, c)
}
