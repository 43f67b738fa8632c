package federation_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/federation"
	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"

	"github.com/eventstore-go/eventstore/internal/database"
)

// keysConn is an empty, migrated embedded database.
func keysConn(t testing.TB) *database.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := database.Connect(ctx, database.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	if _, err := migrations.Up(ctx, conn, nil); err != nil {
		t.Fatal(err)
	}
	return conn
}

func mustKey(t testing.TB) *federation.Key {
	t.Helper()
	k, err := federation.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// verifyCase is one VerifyEvent call and the code it must answer ("" for
// valid).
type verifyCase struct {
	name string
	src  string
	ts   int64
	sigs map[string]string
	want eventstore.Code
}

func checkVerify(t *testing.T, h *federation.KeyHistory, id string, cases []verifyCase) {
	t.Helper()
	for _, c := range cases {
		err := h.VerifyEvent(c.src, id, c.ts, c.sigs)
		if got := eventstore.ErrorCode(err); got != c.want {
			t.Errorf("%s: VerifyEvent = %v; want code %q", c.name, err, c.want)
		}
	}
}

// merge is the signatures of all of sigs.
func merge(sigs ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, s := range sigs {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

// TestKeyHistoryOwnKeys: this server's current key verifies events of any
// time, a key it rotated away from only those from before the rotation;
// unknown keys are not found, bad signatures invalid.
func TestKeyHistoryOwnKeys(t *testing.T) {
	ctx := context.Background()
	conn := keysConn(t)
	t0 := time.UnixMilli(1_700_000_000_000)
	first, err := federation.LoadKeyring(ctx, conn, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	k0, k1, stranger := first.Current, mustKey(t), mustKey(t)
	rotated := t0.Add(time.Hour)
	if _, err := federation.LoadKeyring(ctx, conn, k1, rotated); err != nil {
		t.Fatal(err)
	}
	h, err := federation.LoadKeyHistory(ctx, conn, "a.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	const id = "eventid1"
	r, grace := rotated.UnixMilli(), federation.RetiredKeyGrace.Milliseconds()
	tampered := federation.SignEvent(k1, "eventid2")
	checkVerify(t, h, id, []verifyCase{
		{name: "current key", src: "a.test", ts: r + 1e9, sigs: federation.SignEvent(k1, id)},
		{name: "current key, before it was", src: "a.test", ts: t0.UnixMilli(), sigs: federation.SignEvent(k1, id)},
		{name: "old key before its retirement", src: "a.test", ts: r - 1, sigs: federation.SignEvent(k0, id)},
		{name: "old key just after its retirement", src: "a.test", ts: r + 1, sigs: federation.SignEvent(k0, id)},
		{name: "old key at its retirement's grace", src: "a.test", ts: r + grace, sigs: federation.SignEvent(k0, id), want: eventstore.EINVALIDDATA},
		{name: "old key after its retirement", src: "a.test", ts: r + grace + 1, sigs: federation.SignEvent(k0, id), want: eventstore.EINVALIDDATA},
		{name: "unknown key", src: "a.test", ts: r, sigs: federation.SignEvent(stranger, id), want: eventstore.ENOTFOUND},
		{name: "another server", src: "b.test", ts: r, sigs: federation.SignEvent(k1, id), want: eventstore.ENOTFOUND},
		{name: "signature over another id", src: "a.test", ts: r, sigs: tampered, want: eventstore.EINVALIDDATA},
		{name: "not base64url", src: "a.test", ts: r, sigs: map[string]string{k1.ID: "!!not base64!!"}, want: eventstore.EINVALIDDATA},
		{name: "too short", src: "a.test", ts: r, sigs: map[string]string{k1.ID: "AAAA"}, want: eventstore.EINVALIDDATA},
		{name: "no signatures", src: "a.test", ts: r, sigs: nil, want: eventstore.EINVALIDDATA},
		{name: "valid beside unknown", src: "a.test", ts: r, sigs: merge(federation.SignEvent(stranger, id), federation.SignEvent(k1, id))},
		{name: "valid beside retired", src: "a.test", ts: r + grace, sigs: merge(federation.SignEvent(k0, id), federation.SignEvent(k1, id))},
		{name: "retired beside unknown", src: "a.test", ts: r + grace, sigs: merge(federation.SignEvent(k0, id), federation.SignEvent(stranger, id)),
			want: eventstore.EINVALIDDATA},
	})
	err = h.VerifyEvent("a.test", id, r, federation.SignEvent(stranger, id))
	if msg := eventstore.ErrorMessage(err); !strings.Contains(msg, "a.test") || !strings.Contains(msg, stranger.ID) {
		t.Errorf("unknown key: %q names neither the server nor the key", msg)
	}
	err = h.VerifyEvent("a.test", id, r+grace, federation.SignEvent(k0, id))
	if msg := eventstore.ErrorMessage(err); !strings.Contains(msg, "retired") || !strings.Contains(msg, k0.ID) {
		t.Errorf("retired key: %q", msg)
	}
}

// keysServer serves /keys for server name: whatever set last gave.
type keysServer struct {
	name string
	body atomic.Pointer[[]byte]
}

type servedKey struct {
	key     *federation.Key
	expired time.Time
}

func (s *keysServer) set(validUntil time.Time, keys ...servedKey) {
	type published struct {
		ID        string `json:"id"`
		PublicKey string `json:"publicKey"`
		Expired   int64  `json:"expired,omitempty"`
	}
	kr := struct {
		Server     string      `json:"server"`
		Keys       []published `json:"keys"`
		ValidUntil int64       `json:"validUntil"`
	}{Server: s.name, ValidUntil: validUntil.UnixMilli()}
	for _, k := range keys {
		p := published{ID: k.key.ID, PublicKey: base64.RawURLEncoding.EncodeToString(k.key.Public)}
		if !k.expired.IsZero() {
			p.Expired = k.expired.UnixMilli()
		}
		kr.Keys = append(kr.Keys, p)
	}
	b, _ := json.Marshal(kr)
	s.body.Store(&b)
}

func (s *keysServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != federation.Prefix+"/keys" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(*s.body.Load())
}

// TestKeyHistoryPeerKeys: the keys a peer publishes are recorded when the
// directory fetches them (here: to check a request the peer signed), and
// kept with the earliest retirement reported, even once the peer stops
// publishing them; pinned keys verify from the start.
func TestKeyHistoryPeerKeys(t *testing.T) {
	ctx := context.Background()
	conn := keysConn(t)
	ring, err := federation.LoadKeyring(ctx, conn, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.New(conn, store.Options{Server: "a.test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	b := &keysServer{name: "b.test"}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	var clock atomic.Int64
	clock.Store(time.Now().UnixMilli())
	now := func() time.Time { return time.UnixMilli(clock.Load()) }
	pinned := mustKey(t)
	peers := []federation.Peer{{Name: "b.test", URL: srv.URL},
		{Name: "c.test", URL: "http://127.0.0.1:1", Pinned: []*federation.Key{{ID: pinned.ID, Public: pinned.Public}}}}
	fed, err := federation.New(federation.Config{Server: "a.test", Store: st, DB: conn, Keys: ring, Peers: peers, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	handler := fed.Handler()
	// fetch has b ask A something as of a later time, signed with k: A
	// fetches b's keys to check it (the cached ones are stale by then).
	fetch := func(k *federation.Key) {
		t.Helper()
		clock.Add(2000)
		req := httptest.NewRequest(http.MethodGet, federation.Prefix+"/contexts/room/r1/leaves", nil)
		federation.SignRequest(req, k, "b.test", "a.test", nil, now())
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden { // authenticated; b does not take part in r1
			t.Fatalf("request signed with %s: %d %s", k.ID, rec.Code, rec.Body)
		}
	}
	h, err := federation.LoadKeyHistory(ctx, conn, "a.test", peers)
	if err != nil {
		t.Fatal(err)
	}
	bOld, bCur, bNew := mustKey(t), mustKey(t), mustKey(t)
	e1 := time.UnixMilli(1_700_000_000_000)
	const id = "eventid1"
	checkVerify(t, h, id, []verifyCase{
		{name: "pinned key", src: "c.test", ts: e1.UnixMilli() + 1e12, sigs: federation.SignEvent(pinned, id)},
		{name: "not fetched yet", src: "b.test", ts: 0, sigs: federation.SignEvent(bCur, id), want: eventstore.ENOTFOUND},
	})

	b.set(now().Add(time.Second), servedKey{key: bCur}, servedKey{key: bOld, expired: e1})
	fetch(bCur)
	firstSeen := now()
	checkVerify(t, h, id, []verifyCase{
		{name: "recorded but not loaded yet", src: "b.test", ts: 0, sigs: federation.SignEvent(bCur, id), want: eventstore.ENOTFOUND},
	})
	if err := h.Load(ctx); err != nil {
		t.Fatal(err)
	}
	checkVerify(t, h, id, []verifyCase{
		{name: "current key", src: "b.test", ts: e1.UnixMilli() + 1e12, sigs: federation.SignEvent(bCur, id)},
		{name: "old key before", src: "b.test", ts: e1.UnixMilli() - 1, sigs: federation.SignEvent(bOld, id)},
		{name: "old key after", src: "b.test", ts: e1.Add(federation.RetiredKeyGrace).UnixMilli(), sigs: federation.SignEvent(bOld, id), want: eventstore.EINVALIDDATA},
		{name: "b's key as c's", src: "c.test", ts: 0, sigs: federation.SignEvent(bCur, id), want: eventstore.ENOTFOUND},
	})

	// b rotates, and reports a later retirement of bOld (ignored).
	e2 := e1.Add(time.Hour)
	b.set(now().Add(time.Second), servedKey{key: bNew}, servedKey{key: bCur, expired: e2}, servedKey{key: bOld, expired: e1.Add(time.Minute)})
	fetch(bNew)
	// then publishes bOld as if current, and no longer bCur (both ignored).
	b.set(now().Add(time.Second), servedKey{key: bNew}, servedKey{key: bOld})
	fetch(bNew)
	if err := h.Load(ctx); err != nil {
		t.Fatal(err)
	}
	checkVerify(t, h, id, []verifyCase{
		{name: "new key", src: "b.test", ts: e2.UnixMilli() + 1, sigs: federation.SignEvent(bNew, id)},
		{name: "rotated key before", src: "b.test", ts: e2.UnixMilli() - 1, sigs: federation.SignEvent(bCur, id)},
		{name: "rotated key after", src: "b.test", ts: e2.Add(federation.RetiredKeyGrace).UnixMilli(), sigs: federation.SignEvent(bCur, id), want: eventstore.EINVALIDDATA},
		{name: "old key keeps its first retirement", src: "b.test", ts: e1.Add(federation.RetiredKeyGrace + 30*time.Second).UnixMilli(), sigs: federation.SignEvent(bOld, id),
			want: eventstore.EINVALIDDATA},
		{name: "old key before", src: "b.test", ts: e1.UnixMilli() - 1, sigs: federation.SignEvent(bOld, id)},
	})

	var doc struct {
		Server string        `bson:"server"`
		Seen   bson.DateTime `bson:"seen"`
	}
	peerKeys := conn.DB.Collection(migrations.PeerKeysCollection)
	if err := peerKeys.FindOne(ctx, bson.D{{Key: "_id", Value: "b.test/" + bCur.ID}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Server != "b.test" || doc.Seen.Time().UnixMilli() != firstSeen.UnixMilli() {
		t.Errorf("the record of %s: %+v; want server b.test, seen %v (first fetch)", bCur.ID, doc, firstSeen)
	}
	if n, err := peerKeys.CountDocuments(ctx, bson.D{}); err != nil || n != 3 {
		t.Errorf("%d peer keys recorded (%v); want 3", n, err)
	}
}

// ownHistory is the key history of a new server a.test, and its keyring.
func ownHistory(tb testing.TB) (*federation.Keyring, *federation.KeyHistory) {
	tb.Helper()
	ctx := context.Background()
	conn := keysConn(tb)
	ring, err := federation.LoadKeyring(ctx, conn, nil, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	h, err := federation.LoadKeyHistory(ctx, conn, "a.test", nil)
	if err != nil {
		tb.Fatal(err)
	}
	return ring, h
}

// TestKeyHistoryConcurrentLoad: VerifyEvent answers the same while Load
// replaces what it reads (run with -race).
func TestKeyHistoryConcurrentLoad(t *testing.T) {
	ctx := context.Background()
	ring, h := ownHistory(t)
	sigs := federation.SignEvent(ring.Current, "eventid1")
	var stop atomic.Bool
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		for n := 0; n == 0 || !stop.Load(); n++ { // at least once
			if err := h.Load(ctx); err != nil {
				t.Error(err)
			}
		}
	}()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 300 {
				if err := h.VerifyEvent("a.test", "eventid1", 1, sigs); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	<-loaded
}

func BenchmarkKeyHistoryVerifyEvent(b *testing.B) {
	ring, h := ownHistory(b)
	id := strings.Repeat("ab", 32) // as long as an event id
	sigs := federation.SignEvent(ring.Current, id)
	b.ReportAllocs()
	for b.Loop() {
		if err := h.VerifyEvent("a.test", id, 1, sigs); err != nil {
			b.Fatal(err)
		}
	}
}

// TestKeyHistoryPinsOverrideRecords: a key written into peer_keys for a
// peer whose keys are pinned (by whoever can write to the database) does
// not verify that peer's events; the pins alone do.
func TestKeyHistoryPinsOverrideRecords(t *testing.T) {
	ctx := context.Background()
	conn := keysConn(t)
	pinned, planted := mustKey(t), mustKey(t)
	_, err := conn.DB.Collection(migrations.PeerKeysCollection).InsertOne(ctx, bson.D{
		{Key: "_id", Value: "c.test/" + planted.ID}, {Key: "server", Value: "c.test"}, {Key: "keyId", Value: planted.ID},
		{Key: "public", Value: []byte(planted.Public)}, {Key: "seen", Value: bson.DateTime(0)}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := federation.LoadKeyHistory(ctx, conn, "a.test",
		[]federation.Peer{{Name: "c.test", URL: "http://127.0.0.1:1", Pinned: []*federation.Key{{ID: pinned.ID, Public: pinned.Public}}}})
	if err != nil {
		t.Fatal(err)
	}
	checkVerify(t, h, "eventid1", []verifyCase{
		{name: "pinned key", src: "c.test", ts: 1, sigs: federation.SignEvent(pinned, "eventid1")},
		{name: "planted key", src: "c.test", ts: 1, sigs: federation.SignEvent(planted, "eventid1"), want: eventstore.ENOTFOUND},
	})
}
