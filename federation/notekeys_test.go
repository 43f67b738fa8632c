package federation_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/mod/sumdb/note"

	"github.com/eventstore-go/eventstore/federation"
)

func signNote(t *testing.T, text string, k *federation.Key) []byte {
	t.Helper()
	s, err := federation.NoteSigner("a.test", k)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// TestNoteSigner: a note signed with a server's key opens with the
// verifiers of its keyring, after a rotation too, and with the verifier
// key note itself derives; a tampered one does not.
func TestNoteSigner(t *testing.T) {
	ctx := context.Background()
	conn := keysConn(t)
	ring0, err := federation.LoadKeyring(ctx, conn, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	k0 := ring0.Current
	signer, err := federation.NoteSigner("a.test", k0)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := note.NewEd25519VerifierKey("a.test", k0.Public)
	if err != nil {
		t.Fatal(err)
	}
	standard, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if signer.Name() != "a.test" || signer.KeyHash() != standard.KeyHash() {
		t.Fatalf("signer %s+%08x; want a.test+%08x", signer.Name(), signer.KeyHash(), standard.KeyHash())
	}
	before := signNote(t, "checkpoint 1\n", k0)
	if n, err := note.Open(before, note.VerifierList(standard)); err != nil || n.Text != "checkpoint 1\n" {
		t.Fatalf("open with the verifier key %s: %v", vkey, err)
	}

	k1 := mustKey(t)
	ring1, err := federation.LoadKeyring(ctx, conn, k1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	after := signNote(t, "checkpoint 2\n", k1)
	v0, err := ring0.NoteVerifiers("a.test")
	if err != nil {
		t.Fatal(err)
	}
	v1, err := ring1.NoteVerifiers("a.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		msg  []byte
		ring note.Verifiers
		ok   bool
	}{
		{name: "current key", msg: before, ring: v0, ok: true},
		{name: "old key after the rotation", msg: before, ring: v1, ok: true},
		{name: "new key", msg: after, ring: v1, ok: true},
		{name: "a key the keyring does not have", msg: after, ring: v0},
		{name: "tampered text", msg: bytes.Replace(before, []byte("checkpoint 1"), []byte("checkpoint 9"), 1), ring: v1},
	} {
		n, err := note.Open(c.msg, c.ring)
		if c.ok && (err != nil || len(n.Sigs) != 1 || n.Sigs[0].Name != "a.test") {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok && err == nil {
			t.Errorf("%s: opened", c.name)
		}
	}

	if _, err := federation.NoteSigner("a.test", &federation.Key{ID: k0.ID, Public: k0.Public}); err == nil {
		t.Error("a signer without a private key")
	}
	if _, err := federation.NoteSigner("a test", k0); err == nil {
		t.Error("a signer named with a space")
	}
}

// documents counts the documents of every collection.
func documents(t *testing.T, db *mongo.Database) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, n := range names {
		if out[n], err = db.Collection(n).CountDocuments(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func sameCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestReadKeyring: ReadKeyring answers what LoadKeyring would, and never
// writes: not on an empty database (an error), nor for a key file that
// would rotate.
func TestReadKeyring(t *testing.T) {
	ctx := context.Background()
	conn := keysConn(t)
	k1, k2 := mustKey(t), mustKey(t)
	read := func(name string, fromFile *federation.Key) (*federation.Keyring, error) {
		t.Helper()
		before := documents(t, conn.DB)
		ring, err := federation.ReadKeyring(ctx, conn, fromFile)
		if after := documents(t, conn.DB); !sameCounts(before, after) {
			t.Errorf("%s: ReadKeyring wrote: %v, then %v", name, before, after)
		}
		return ring, err
	}

	if _, err := read("empty", nil); err == nil || !strings.Contains(err.Error(), "--key-file") {
		t.Errorf("empty database: %v; want an error naming --key-file", err)
	}
	if ring, err := read("empty, with a key file", k1); err != nil || ring.Current != k1 || len(ring.Old) != 0 {
		t.Errorf("empty database with a key file: %v %+v", err, ring)
	}

	stored, err := federation.LoadKeyring(ctx, conn, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	k0 := stored.Current
	if ring, err := read("stored", nil); err != nil || ring.Current.ID != k0.ID || ring.Current.Private == nil || len(ring.Old) != 0 {
		t.Errorf("stored key: %v %+v", err, ring)
	}
	ring, err := read("a key file that rotates", k1)
	if err != nil || ring.Current != k1 || !contains(ring.Old, k0.ID) || len(ring.Old) != 1 {
		t.Fatalf("key file: %v, current %v, old %v", err, ring, keyIDs(ring.Old))
	}
	if ring, err := read("stored, again", nil); err != nil || ring.Current.ID != k0.ID {
		t.Errorf("the database rotated: %v %+v", err, ring)
	}

	// After real rotations, the same keyring as LoadKeyring's.
	if _, err := federation.LoadKeyring(ctx, conn, k1, time.Now()); err != nil {
		t.Fatal(err)
	}
	loaded, err := federation.LoadKeyring(ctx, conn, k2, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ring, err = read("rotated", k2)
	if err != nil || ring.Current.ID != k2.ID || !sameIDs(ring.Old, loaded.Old) {
		t.Errorf("after rotations: %v, current %s, old %v; LoadKeyring: old %v", err, ring.Current.ID, keyIDs(ring.Old), keyIDs(loaded.Old))
	}
	if _, err := read("rotated, without the key file", nil); err == nil || !strings.Contains(err.Error(), "--key-file") {
		t.Errorf("without the key file the database's key came from: %v", err)
	}
}

func sameIDs(a, b []*federation.Key) bool {
	x, y := keyIDs(a), keyIDs(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
