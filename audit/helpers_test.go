package audit_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/federation"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"

	"github.com/eventstore-go/eventstore/internal/database"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// server is the audited server; peer is a server it federates with, whose
// key it has pinned.
const (
	server = "a.example"
	peer   = "b.example"
)

var peerKey = mustKey()

func mustKey() *federation.Key {
	k, err := federation.GenerateKey()
	if err != nil {
		panic(err)
	}
	return k
}

// newStore is a store of server that signs its events with a key kept in
// conn's database, as serve does.
func newStore(t *testing.T, b storetest.Backend) (*store.Store, *database.Conn) {
	t.Helper()
	conn := b.Connect(t, storetest.Options{})
	return signingStore(t, conn), conn
}

func signingStore(tb testing.TB, conn *database.Conn) *store.Store {
	tb.Helper()
	keys, err := federation.LoadKeyring(context.Background(), conn, nil, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return storetest.NewStore(tb, conn, server, store.Options{Sign: func(id string) map[string]string { return federation.SignEvent(keys.Current, id) }})
}

// auditorOf is an auditor of s, with its checkpoints in conn's database,
// that verifies signatures (the server's keys in the database, the peer's
// pinned) and signs checkpoints as serve's does.
func auditorOf(s *store.Store, conn *database.Conn) *audit.Auditor {
	return audit.New(s, conn, signedConfig(conn))
}

func signedConfig(conn *database.Conn) audit.Config {
	ctx := context.Background()
	keys, err := federation.ReadKeyring(ctx, conn, nil)
	if err != nil {
		panic(err)
	}
	k, err := federation.LoadAuditKeys(ctx, conn, server, keys, []federation.Peer{{Name: peer, URL: "http://127.0.0.1:1", Pinned: []*federation.Key{peerKey}}})
	if err != nil {
		panic(err)
	}
	return audit.Config{Signatures: k.History, Signer: k.Signer, Verifiers: k.Verifiers}
}

// data parses JSON into event data, failing the test on error.
func data(t testing.TB, js string) json.RawMessage {
	t.Helper()
	return storetest.Data(t, js)
}

func ctxT(t *testing.T) context.Context { return storetest.Context(t) }

// remoteEvent is an event of another server, signed by the peer's key if
// it is the peer's (others are unsigned).
func remoteEvent(t testing.TB, src, ct, cid, typ string, ts int64, pids []string, o json.RawMessage) *eventstore.Event {
	t.Helper()
	e := storetest.RemoteEvent(t, src, ct, cid, typ, ts, pids, o)
	if src == peer {
		e.Sigs = federation.SignEvent(peerKey, e.ID)
	}
	return e
}
