package audit_test

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const server = "a.example"

func newStore(t *testing.T, b storetest.Backend) (*store.Store, *store.Conn) {
	t.Helper()
	conn := b.Connect(t, storetest.Options{})
	return storetest.NewStore(t, conn, server, store.Options{}), conn
}

// auditorOf is an auditor of s, with its checkpoints in conn's database.
func auditorOf(s *store.Store, conn *store.Conn) *audit.Auditor {
	return audit.New(s, conn.DB, audit.Config{})
}

// data parses JSON into event data, failing the test on error.
func data(t testing.TB, js string) bson.Raw {
	t.Helper()
	return storetest.Data(t, js)
}

func ctxT(t *testing.T) context.Context { return storetest.Context(t) }

func remoteEvent(t testing.TB, src, ct, cid, typ string, ts int64, pids []string, o bson.Raw) *eventstore.Event {
	t.Helper()
	return storetest.RemoteEvent(t, src, ct, cid, typ, ts, pids, o)
}
