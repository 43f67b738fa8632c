package audit

import (
	"slices"
	"time"
)

// Problem kinds the audit reports. They are stable: scripts and alerts use
// them.
const (
	ProblemIDMismatch       = "id_mismatch"       // _id does not recompute from the hashed fields
	ProblemDHashMismatch    = "dhash_mismatch"    // dHash does not match o
	ProblemInvalidEvent     = "invalid_event"     // a field breaks the hashing rules, or o is missing without deletedAt
	ProblemMissingParent    = "missing_parent"    // a parent is not stored in the context
	ProblemMissingTarget    = "missing_target"    // an update or delete names an event not in the context
	ProblemGenesisMissing   = "genesis_missing"   // no event without parents
	ProblemGenesisExtra     = "genesis_extra"     // more than one event without parents
	ProblemUnreachable      = "unreachable"       // not an ancestor of any of the head's leaves
	ProblemLeavesMismatch   = "leaves_mismatch"   // the head's leaves are not the events without children
	ProblemHeadMismatch     = "head_mismatch"     // the head is missing, or its count or genesis is wrong
	ProblemIsLeafMismatch   = "isleaf_mismatch"   // an isLeaf flag disagrees with the head
	ProblemHistoryRewritten = "history_rewritten" // a checkpoint's leaves (in the database or the checkpoint file) are no longer in the history
	ProblemDMismatch        = "d_mismatch"        // d is not o with the event's updates applied
	ProblemDeletedMismatch  = "deleted_mismatch"  // deleted without a delete naming it, at another time, or named by a delete and not deleted
	ProblemBadSignature     = "bad_signature"     // the origin's signature is missing, invalid, or by a key retired before the event (with grace)
	ProblemUnknownKey       = "unknown_key"       // signed by a key of its origin that this server does not know
	ProblemBadCheckpoint    = "bad_checkpoint"    // a checkpoint in the database whose signature does not verify
	ProblemUnauthorizedEdit = "unauthorized_edit" // an update or delete by a server that neither wrote its target nor created the room
)

// ProblemKinds lists every kind, for metrics.
var ProblemKinds = []string{ProblemIDMismatch, ProblemDHashMismatch, ProblemInvalidEvent, ProblemMissingParent,
	ProblemMissingTarget, ProblemGenesisMissing, ProblemGenesisExtra, ProblemUnreachable, ProblemLeavesMismatch,
	ProblemHeadMismatch, ProblemIsLeafMismatch, ProblemHistoryRewritten, ProblemDMismatch, ProblemDeletedMismatch,
	ProblemBadSignature, ProblemUnknownKey, ProblemBadCheckpoint, ProblemUnauthorizedEdit}

// derivedProblems are the kinds Repair fixes: derived data, never a hashed
// field. (Events unreachable from the head's leaves are a wrong head when
// no parent is missing; d is rebuilt from the update events.)
var derivedProblems = []string{ProblemLeavesMismatch, ProblemHeadMismatch, ProblemIsLeafMismatch, ProblemUnreachable, ProblemDMismatch}

// Problem is one thing the audit found wrong.
type Problem struct {
	Kind   string `json:"kind"`
	Ct     string `json:"ct"`
	Cid    string `json:"cid"`
	Event  string `json:"event,omitempty"`
	Detail string `json:"detail"`
}

// ContextReport is the audit of one context.
type ContextReport struct {
	Ct       string `json:"ct"`
	Cid      string `json:"cid"`
	Events   int64  `json:"events"`   // verified in this run
	Redacted int64  `json:"redacted"` // deleted events: o is gone, the chain still verifies
	Leaves   int    `json:"leaves"`
	Problems int    `json:"problems"`
	Checked  string `json:"checked"` // "full" or "incremental"
}

// Report is the result of an audit.
type Report struct {
	Clean    bool            `json:"clean"`
	Started  time.Time       `json:"started"`
	Took     float64         `json:"tookSeconds"`
	Contexts int             `json:"contexts"`
	Events   int64           `json:"events"`
	Redacted int64           `json:"redacted"`
	ByKind   map[string]int  `json:"problemsByKind"`
	PerCtx   []ContextReport `json:"perContext"`
	Problems []Problem       `json:"problems"`
	// CheckpointFile is the file the run held history to and wrote
	// (Options.CheckpointFile), with FileContexts checkpoints in it now.
	CheckpointFile string `json:"checkpointFile,omitempty"`
	FileContexts   int    `json:"checkpointFileContexts,omitempty"`
}

// Derived reports whether every problem is of a kind Repair fixes.
func (r *Report) Derived() bool {
	for _, p := range r.Problems {
		if !slices.Contains(derivedProblems, p.Kind) {
			return false
		}
	}
	return true
}

// Options select what to verify and how.
type Options struct {
	Ct, Cid string // one context; empty: all
	// Incremental checks only what was added since each context's last
	// checkpoint, and that the checkpoint's leaves are still in the history.
	// A context without a checkpoint is checked in full. Either way the run
	// records new checkpoints.
	Incremental bool
	// CheckpointFile, when set, is a file of signed checkpoints kept off
	// the database (checkpointfile.go): history must extend them, and the
	// run writes it again. It needs Config.Signer and Verifiers.
	CheckpointFile string
	// Progress, when set, is told how many events were verified of about
	// how many, now and then.
	Progress func(done, total int64)
}
