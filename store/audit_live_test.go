package store_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// Audits of a live store: a write is several steps, and an audit may read
// between them. What it reads then is not a problem and must not be
// reported; a mismatch that lasts still is (TestAuditFindsTampering).

// auditDuringWrite runs write, holds it at its first step named step until
// the audit (with opts) has read a batch, and returns the audit's report.
func auditDuringWrite(t *testing.T, s *store.Store, auditor *audit.Auditor, step string, opts audit.Options, write func() error) *audit.Report {
	t.Helper()
	blocked, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	store.SetFailpoint(s, func(at string) error {
		if at == step {
			once.Do(func() {
				close(blocked)
				<-release
			})
		}
		return nil
	})
	defer store.SetFailpoint(s, nil)
	wrote := make(chan error, 1)
	go func() { wrote <- write() }()
	<-blocked
	var releaseOnce sync.Once
	opts.Progress = func(int64, int64) { releaseOnce.Do(func() { close(release) }) }
	rep, err := auditor.Verify(ctxT(t), opts)
	releaseOnce.Do(func() { close(release) })
	if err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	return rep
}

// liveRoom is a storetest.Room audited clean once (so that an incremental
// audit has a checkpoint).
func liveRoom(t *testing.T, b storetest.Backend) (*store.Store, *audit.Auditor, *storetest.Room) {
	t.Helper()
	s, conn := newStore(t, b)
	room := storetest.NewRoom(t, s)
	auditor := audit.New(s, conn, audit.Config{})
	if rep, err := auditor.Verify(ctxT(t), audit.Options{}); err != nil || !rep.Clean {
		t.Fatalf("clean store: %v %+v", err, rep.Problems)
	}
	return s, auditor, room
}

// TestAuditWhileFlagsAreWritten: the audit can read a head version whose
// isLeaf flags are still being written.
func TestAuditWhileFlagsAreWritten(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, incremental := range []bool{false, true} {
			t.Run(fmt.Sprintf("incremental=%v", incremental), func(t *testing.T) {
				s, auditor, _ := liveRoom(t, b)
				rep := auditDuringWrite(t, s, auditor, "flags", audit.Options{Incremental: incremental}, func() error {
					if _, _, err := s.Append(ctxT(t), "room", "r1", store.NewEvent{T: "msg"}); err != nil {
						return err
					}
					return s.Flush(ctxT(t))
				})
				if !rep.Clean {
					t.Fatalf("problems while flags were being written: %+v", rep.Problems)
				}
				if again, err := auditor.Verify(ctxT(t), audit.Options{}); err != nil || !again.Clean {
					t.Fatalf("afterwards: %v %+v", err, again.Problems)
				}
			})
		}
	})
}

// TestAuditWhileDataIsWritten: an update or delete event is stored before
// its target's d (or deletion) is written, and the audit can read the one
// without the other.
func TestAuditWhileDataIsWritten(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, edit := range []string{"update", "delete"} {
			for _, incremental := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s,incremental=%v", edit, incremental), func(t *testing.T) {
					s, auditor, room := liveRoom(t, b)
					target := room.Events[2].ID
					rep := auditDuringWrite(t, s, auditor, "fold", audit.Options{Incremental: incremental}, func() error {
						var err error
						if edit == "update" {
							_, err = s.Update(ctxT(t), "room", "r1", target, edits.Edit{Set: []edits.SetOp{{Path: "msg", Value: "edited live"}}})
						} else {
							_, err = s.Delete(ctxT(t), "room", "r1", target)
						}
						return err
					})
					if !rep.Clean {
						t.Fatalf("problems while d was being written: %+v", rep.Problems)
					}
				})
			}
		}
	})
}
