package store_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestAuditWhileFlagsAreWritten: an audit of a live store can read a head
// version whose isLeaf flags are still being written. That is not a
// problem, and the audit must not report one; a mismatch that lasts is
// still reported (TestAuditFindsTampering).
func TestAuditWhileFlagsAreWritten(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, incremental := range []bool{false, true} {
			t.Run(fmt.Sprintf("incremental=%v", incremental), func(t *testing.T) {
				s, conn := newStore(t, b)
				storetest.NewRoom(t, s)
				auditor := audit.New(s, conn.DB, audit.Config{})
				verify := func() *audit.Report {
					t.Helper()
					rep, err := auditor.Verify(ctxT(t), audit.Options{})
					if err != nil {
						t.Fatal(err)
					}
					return rep
				}
				if rep := verify(); !rep.Clean { // and a checkpoint for the incremental run
					t.Fatalf("clean store: %+v", rep.Problems)
				}
				// The next flag write stops until the audit has read the context.
				blocked, release := make(chan struct{}), make(chan struct{})
				var once sync.Once
				store.SetFailpoint(s, func(step string) error {
					if step == "flags" {
						once.Do(func() {
							close(blocked)
							<-release
						})
					}
					return nil
				})
				defer store.SetFailpoint(s, nil)
				wrote := make(chan error, 1)
				go func() {
					_, _, err := s.Append(ctxT(t), "room", "r1", store.NewEvent{T: "msg"})
					if err == nil {
						err = s.Flush(ctxT(t))
					}
					wrote <- err
				}()
				<-blocked
				var releaseOnce sync.Once
				rep, err := auditor.Verify(ctxT(t), audit.Options{Incremental: incremental, Progress: func(int64, int64) {
					releaseOnce.Do(func() { close(release) })
				}})
				releaseOnce.Do(func() { close(release) })
				if err != nil {
					t.Fatal(err)
				}
				if err := <-wrote; err != nil {
					t.Fatal(err)
				}
				if !rep.Clean {
					t.Fatalf("problems while flags were being written: %+v", rep.Problems)
				}
				if again := verify(); !again.Clean {
					t.Fatalf("afterwards: %+v", again.Problems)
				}
			})
		}
	})
}
