package audit

import (
	"bytes"
	"fmt"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/store"
)

// checked is what checking one event found: its problems, and what the
// graph's data check (data.go) needs to know of it.
type checked struct {
	problems []Problem
	redacted bool // deleted: o is gone, which is fine if a delete names it
	// dDiffers: d is stored and is not o; right only if updates name it.
	dDiffers bool
	// edit is the change of an update or delete event (nil for others, or
	// if its o is not an edit: an invalid_event then).
	edit *edits.Event
}

// checkEvent verifies one event's fields, hashes and (with sigs)
// signature, from its stored form. It is safe to call from several
// goroutines.
func checkEvent(ct, cid string, e *store.StoredEvent, sigs Signatures) checked {
	var c checked
	add := func(kind, format string, args ...any) {
		c.problems = append(c.problems, Problem{Kind: kind, Ct: ct, Cid: cid, Event: e.ID, Detail: fmt.Sprintf(format, args...)})
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
	idOK := hashing.EventID(e.Head()) == e.ID
	if !idOK {
		add(ProblemIDMismatch, "the hashed fields hash to %s", hashing.EventID(e.Head()))
	}
	switch {
	case e.Deleted:
		c.redacted = true
	case e.DataErr != nil:
		add(ProblemInvalidEvent, "stored data does not convert: %v", e.DataErr)
	case e.O == nil:
		add(ProblemInvalidEvent, "o is missing and the event is not deleted")
	default:
		// o is canonical JSON, converted from what is stored (store.StoredEvent).
		if got := hashing.DataHash(e.O); got != e.DHash {
			add(ProblemDHashMismatch, "o hashes to %s", got)
		} else { // d is held to o only where o is what was hashed
			c.dDiffers = !bytes.Equal(e.D, e.O)
		}
		if e.T == eventstore.TypeUpdate || e.T == eventstore.TypeDelete {
			if _, ed, err := edits.Parse(e.T, e.O); err != nil {
				add(ProblemInvalidEvent, "o is not an edit: %v", err)
			} else {
				c.edit = &edits.Event{ID: e.ID, TS: e.TS, T: e.T, Edit: ed}
			}
		}
	}
	if e.Deleted && e.Leftover {
		add(ProblemDeletedMismatch, "deleted, but o or d is still stored")
	}
	if sigs != nil && idOK {
		// A signature covers the id, which covers every hashed field: an
		// event whose id does not recompute is reported as such already.
		if err := sigs.VerifyEvent(e.Src, e.ID, e.TS, e.Sigs); err != nil {
			if eventstore.ErrorCode(err) == eventstore.ENOTFOUND {
				add(ProblemUnknownKey, "%v", err)
			} else {
				add(ProblemBadSignature, "%v", eventstore.ErrorMessage(err))
			}
		}
	}
	if len(c.problems) > 0 {
		// Only an edit that is what its origin signed counts: a forged or
		// altered one is reported, and neither checks nor repairs d.
		c.edit = nil
	}
	return c
}
