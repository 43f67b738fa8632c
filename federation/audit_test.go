package federation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/federation"
)

// auditConfig is the audit as serve configures it on node n: signatures
// checked against the keys n knows, checkpoints signed with its key.
func (n *node) auditConfig(ctx context.Context) (audit.Config, error) {
	k, err := federation.LoadAuditKeys(ctx, n.conn, n.name, n.keys, n.peers)
	if err != nil {
		return audit.Config{}, err
	}
	return audit.Config{Signatures: k.History, Signer: k.Signer, Verifiers: k.Verifiers}, nil
}

func (n *node) auditor() *audit.Auditor {
	n.t.Helper()
	cfg, err := n.auditConfig(context.Background())
	if err != nil {
		n.t.Fatal(err)
	}
	return audit.New(n.st, n.conn, cfg)
}

// eventID is the _id of an event in an API answer.
func eventID(t testing.TB, raw []byte) string {
	t.Helper()
	var e struct {
		ID string `json:"_id"`
	}
	if err := json.Unmarshal(raw, &e); err != nil || e.ID == "" {
		t.Fatalf("no event in %s", raw)
	}
	return e.ID
}

// TestFederatedStoresAuditClean: three servers sharing a room, with
// updates and deletes from two of them, a key rotation on one (events
// signed by the old key and by the new), and a server that joins after the
// rotation and gets the history: every server's audit, signatures and d
// included, is clean, in full and incrementally, with a checkpoint file.
func TestFederatedStoresAuditClean(t *testing.T) {
	nodes := startNodes(t, "a.test", "b.test", "c.test")
	a, b, c := nodes["a.test"], nodes["b.test"], nodes["c.test"]
	const room = "/api/v1/contexts/room/audited"
	a.must("POST", room, `{}`, http.StatusCreated)
	share(t, a, "room", "audited", b)
	post := func(n *node, msg string) string {
		return eventID(t, n.must("POST", room+"/events", fmt.Sprintf(`{"t":"msg","o":{"msg":%q}}`, msg), http.StatusCreated))
	}
	fromA, fromB := post(a, "a before"), post(b, "b before")
	deletedA, deletedB := post(a, "a, to be deleted"), post(b, "b, to be deleted")
	appendAll(t, "room", "audited", 3, a, b)
	converge(t, "room", "audited", 30*time.Second, a, b)
	a.must("PATCH", room+"/events/"+fromA, `{"set":{"msg":"a edited"}}`, http.StatusCreated)
	b.must("PATCH", room+"/events/"+fromB, `{"set":{"msg":"b edited","extra":{"n":1}}}`, http.StatusCreated)
	b.must("DELETE", room+"/events/"+deletedB, "", http.StatusCreated)
	converge(t, "room", "audited", 30*time.Second, a, b)

	old := a.keys.Current.ID
	a.stop()
	a.keyFile, _ = federation.GenerateKey()
	a.start()
	if a.keys.Current.ID == old {
		t.Fatal("the key did not change")
	}
	a.must("PATCH", room+"/events/"+fromA, `{"unset":["msg"],"set":{"text":"a edited again"}}`, http.StatusCreated)
	a.must("DELETE", room+"/events/"+deletedA, "", http.StatusCreated)
	b.must("PATCH", room+"/events/"+fromB, `{"set":{"msg":"b edited again"}}`, http.StatusCreated)
	appendAll(t, "room", "audited", 3, a, b)
	converge(t, "room", "audited", 30*time.Second, a, b)
	share(t, a, "room", "audited", c)
	final := converge(t, "room", "audited", 30*time.Second, a, b, c)

	for _, n := range []*node{a, b, c} {
		file := filepath.Join(t.TempDir(), "checkpoints")
		for _, opts := range []audit.Options{{CheckpointFile: file}, {CheckpointFile: file, Incremental: true}, {}} {
			rep, err := n.auditor().Verify(context.Background(), opts)
			if err != nil {
				t.Fatalf("%s: %v", n.name, err)
			}
			if !rep.Clean {
				t.Fatalf("%s %+v: problems %+v", n.name, opts, rep.Problems)
			}
			if !opts.Incremental && (rep.Events != int64(len(final.events)) || rep.Redacted != 2) {
				t.Errorf("%s: %d events (%d redacted), the room has %d (2 deleted)", n.name, rep.Events, rep.Redacted, len(final.events))
			}
			if opts.CheckpointFile != "" && rep.FileContexts != 1 {
				t.Errorf("%s: %d contexts in the checkpoint file", n.name, rep.FileContexts)
			}
		}
	}
}
