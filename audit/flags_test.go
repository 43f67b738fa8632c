package audit_test

import (
	"testing"

	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestAuditCleanWithFlagsPending: an append writes no isLeaf flag, so until
// its room has been idle the parent keeps its flag, as the head records;
// the audit, full and incremental, finds nothing wrong then, nor once the
// flags are the leaves.
func TestAuditCleanWithFlagsPending(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		r := newAuditRoom(t, b)
		if rep := r.verify(t, true); !rep.Clean { // the checkpoint
			t.Fatalf("before: %+v", rep.Problems)
		}
		for range 3 {
			if _, _, err := r.s.Append(ctxT(t), "room", "r1", store.NewEvent{T: "msg"}); err != nil {
				t.Fatal(err)
			}
		}
		for _, incremental := range []bool{true, false} {
			if rep := r.verify(t, incremental); !rep.Clean {
				t.Errorf("flags pending, incremental=%v: %+v", incremental, rep.Problems)
			}
		}
		if err := r.s.Flush(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		for _, incremental := range []bool{true, false} {
			if rep := r.verify(t, incremental); !rep.Clean {
				t.Errorf("flags written, incremental=%v: %+v", incremental, rep.Problems)
			}
		}
	})
}
