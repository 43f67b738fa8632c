package store_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestAuditWhileDataIsWritten: an update or delete event is stored before
// its target's d (or deletion) is written, so an audit of a live store can
// read the one without the other. That is not a problem, and the audit
// must not report one; a mismatch that lasts is still reported
// (TestAuditFindsTampering).
func TestAuditWhileDataIsWritten(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, edit := range []string{"update", "delete"} {
			for _, incremental := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s,incremental=%v", edit, incremental), func(t *testing.T) {
					s, conn := newStore(t, b)
					room := storetest.NewRoom(t, s)
					auditor := audit.New(s, conn.DB, audit.Config{})
					if rep, err := auditor.Verify(ctxT(t), audit.Options{}); err != nil || !rep.Clean {
						t.Fatalf("clean store: %v %+v", err, rep.Problems)
					}
					// The next fold stops until the audit has read the context.
					blocked, release := make(chan struct{}), make(chan struct{})
					var once sync.Once
					store.SetFailpoint(s, func(step string) error {
						if step == "fold" {
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
						var err error
						if edit == "update" {
							_, err = s.Update(ctxT(t), "room", "r1", room.Events[2].ID, store.Edit{Set: []store.SetOp{{Path: "msg", Value: "edited live"}}})
						} else {
							_, err = s.Delete(ctxT(t), "room", "r1", room.Events[2].ID)
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
						t.Fatalf("problems while d was being written: %+v", rep.Problems)
					}
				})
			}
		}
	})
}
