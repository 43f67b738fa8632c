package audit

import (
	"fmt"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/store"
)

// checkEvent verifies one event's fields and hashes, from its stored form;
// redacted is true for a deleted event (no o, which is fine).
func checkEvent(ct, cid string, e *store.StoredEvent) (problems []Problem, redacted bool) {
	add := func(kind, format string, args ...any) {
		problems = append(problems, Problem{Kind: kind, Ct: ct, Cid: cid, Event: e.ID, Detail: fmt.Sprintf(format, args...)})
	}
	if e.Ct != ct || e.Cid != cid {
		add(ProblemInvalidEvent, "stored under %s/%s but says ct %q cid %q", ct, cid, e.Ct, e.Cid)
	}
	if e.V != eventstore.SchemaVersion {
		add(ProblemInvalidEvent, "v is %d, not %d", e.V, eventstore.SchemaVersion)
	}
	if err := e.Head().Validate(); err != nil {
		add(ProblemInvalidEvent, "%v", err)
	}
	if got := hashing.EventID(e.Head()); got != e.ID {
		add(ProblemIDMismatch, "the hashed fields hash to %s", got)
	}
	switch {
	case e.Deleted:
		redacted = true
	case e.DataErr != nil:
		add(ProblemInvalidEvent, "escaped o does not decode: %v", e.DataErr)
	case e.O == nil:
		add(ProblemInvalidEvent, "o is missing and the event is not deleted")
	default:
		canonical, err := hashing.CanonicalObject(e.O)
		if err != nil {
			add(ProblemInvalidEvent, "o: %v", err)
		} else if got := hashing.DataHash(canonical); got != e.DHash {
			add(ProblemDHashMismatch, "o hashes to %s", got)
		}
	}
	return problems, redacted
}
