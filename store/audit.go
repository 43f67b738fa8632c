package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/migrations"
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
	ProblemHistoryRewritten = "history_rewritten" // a checkpoint's leaves are no longer in the history
)

// ProblemKinds lists every kind, for metrics.
var ProblemKinds = []string{ProblemIDMismatch, ProblemDHashMismatch, ProblemInvalidEvent, ProblemMissingParent,
	ProblemMissingTarget, ProblemGenesisMissing, ProblemGenesisExtra, ProblemUnreachable, ProblemLeavesMismatch,
	ProblemHeadMismatch, ProblemIsLeafMismatch, ProblemHistoryRewritten}

// derivedProblems are the kinds Repair fixes: derived data, never a hashed
// field.
// (Events unreachable from the head's leaves are a wrong head when no
// parent is missing.)
var derivedProblems = []string{ProblemLeavesMismatch, ProblemHeadMismatch, ProblemIsLeafMismatch, ProblemUnreachable}

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
}

// AuditOptions select what to verify and how.
type AuditOptions struct {
	Ct, Cid string // one context; empty: all
	// Incremental checks only what was added since each context's last
	// checkpoint, and that the checkpoint's leaves are still in the history.
	// A context without a checkpoint is checked in full. Either way the run
	// records new checkpoints.
	Incremental bool
	// Progress, when set, is told how many events were verified of about
	// how many, now and then.
	Progress func(done, total int64)
}

// Verify audits the store: see the Problem kinds for what it checks. Its
// error means the audit could not run; problems found are in the report.
func (s *Store) Verify(ctx context.Context, opts AuditOptions) (rep *Report, err error) {
	defer s.observe("verify", time.Now(), &err)
	rep = &Report{Started: s.opts.Now().UTC(), ByKind: map[string]int{}, Problems: []Problem{}, PerCtx: []ContextReport{}}
	a := &audit{s: s, rep: rep, opts: opts}
	if opts.Ct != "" {
		if err := validateContext(opts.Ct, opts.Cid); err != nil {
			return nil, err
		}
		if err := a.context(ctx, opts.Ct, opts.Cid); err != nil {
			return nil, err
		}
	} else {
		types, err := migrations.ContextTypes(ctx, s.db)
		if err != nil {
			return nil, dbError("verify", err)
		}
		for _, ct := range types {
			if err := a.contextType(ctx, ct); err != nil {
				return nil, err
			}
		}
	}
	rep.Took = time.Since(rep.Started).Seconds()
	rep.Clean = len(rep.Problems) == 0
	sort.Slice(rep.PerCtx, func(i, j int) bool {
		if rep.PerCtx[i].Ct != rep.PerCtx[j].Ct {
			return rep.PerCtx[i].Ct < rep.PerCtx[j].Ct
		}
		return rep.PerCtx[i].Cid < rep.PerCtx[j].Cid
	})
	return rep, nil
}

// audit is one run.
type audit struct {
	s    *Store
	rep  *Report
	opts AuditOptions
	done int64
}

func (a *audit) problem(p Problem) {
	a.rep.Problems = append(a.rep.Problems, p)
	a.rep.ByKind[p.Kind]++
}

func (a *audit) progress(n int64, total int64) {
	a.done += n
	a.rep.Events += n
	if a.opts.Progress != nil {
		a.opts.Progress(a.done, total)
	}
}

// auditNode is what the audit keeps of one event.
type auditNode struct {
	pids     []string
	ts       int64
	target   string // of an update or delete
	isLeaf   bool   // the stored flag
	hasChild bool
}

// contextGraph is a context's events as the audit read them.
type contextGraph struct {
	ct, cid  string
	nodes    map[string]*auditNode
	genesis  []string
	head     *head
	cp       *checkpointDoc // the last checkpoint, if any
	redacted int64
	problems []Problem
}

func newGraph(ct, cid string) *contextGraph {
	return &contextGraph{ct: ct, cid: cid, nodes: map[string]*auditNode{}}
}

// check runs the checks over a whole context read in full and returns the
// problems (in a stable order) and the real leaves.
func (g *contextGraph) check() ([]Problem, []string) {
	ps := g.problems
	add := func(kind, event, format string, args ...any) {
		ps = append(ps, Problem{Kind: kind, Ct: g.ct, Cid: g.cid, Event: event, Detail: fmt.Sprintf(format, args...)})
	}
	ids := make([]string, 0, len(g.nodes))
	for id := range g.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		n := g.nodes[id]
		for _, p := range n.pids {
			if parent := g.nodes[p]; parent != nil {
				parent.hasChild = true
			} else {
				add(ProblemMissingParent, id, "parent %s is not stored in the context", p)
			}
		}
		if n.target != "" && g.nodes[n.target] == nil {
			add(ProblemMissingTarget, id, "target %s is not stored in the context", n.target)
		}
	}
	var leaves []string
	for _, id := range ids {
		if !g.nodes[id].hasChild {
			leaves = append(leaves, id)
		}
	}
	slices.Sort(g.genesis)
	switch {
	case len(g.genesis) == 0 && len(ids) > 0:
		add(ProblemGenesisMissing, "", "no event without parents among %d events", len(ids))
	case len(g.genesis) > 1:
		for _, id := range g.genesis[1:] {
			add(ProblemGenesisExtra, id, "a second event without parents (genesis candidates %v)", g.genesis)
		}
	}
	from := leaves
	if g.head == nil {
		add(ProblemHeadMismatch, "", "the context has events but no head")
	} else {
		h := g.head
		from = leafIDs(h.Leaves)
		if !slices.Equal(from, leaves) {
			add(ProblemLeavesMismatch, "", "the head (version %d) names leaves %v, the events without children are %v", h.Seq, from, leaves)
		}
		if h.Count != int64(len(ids)) {
			add(ProblemHeadMismatch, "", "the head (version %d) counts %d events, %d are stored", h.Seq, h.Count, len(ids))
		}
		if len(g.genesis) > 0 && h.Genesis != g.genesis[0] && !slices.Contains(g.genesis, h.Genesis) {
			add(ProblemHeadMismatch, "", "the head names genesis %s, the stored genesis is %s", h.Genesis, g.genesis[0])
		}
		for _, id := range ids {
			want := slices.Contains(h.Flagged, id)
			if got := g.nodes[id].isLeaf; got != want {
				add(ProblemIsLeafMismatch, id, "%s", isLeafDetail(got, h.Seq, want))
			}
		}
	}
	// Every event must be an ancestor of a leaf the head names (or one).
	seen := map[string]bool{}
	stack := slices.Clone(from)
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n := g.nodes[id]
		if seen[id] || n == nil {
			continue
		}
		seen[id] = true
		stack = append(stack, n.pids...)
	}
	for _, id := range ids {
		if !seen[id] {
			add(ProblemUnreachable, id, "not an ancestor of the head's leaves")
		}
	}
	// History may only have been extended since the last checkpoint. Its
	// leaves' ids commit to everything before them, so they must all still
	// be stored (every stored event is an ancestor of today's real leaves,
	// or one); the ids were recomputed above.
	if cp := g.cp; cp != nil {
		if g.head != nil && g.head.Seq < cp.Seq {
			add(ProblemHistoryRewritten, "", "the head went back from version %d (checkpoint) to %d", cp.Seq, g.head.Seq)
		}
		for _, id := range cp.Leaves {
			if g.nodes[id] == nil {
				add(ProblemHistoryRewritten, id, "a leaf at the checkpoint (version %d) is no longer stored", cp.Seq)
			}
		}
	}
	return ps, leaves
}

// checkEvent verifies one event's fields and hashes, from its stored form;
// redacted is true for a deleted event (no o, which is fine).
func checkEvent(ct, cid string, e *eventstore.Event, escaped bool) (problems []Problem, redacted bool) {
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
	case e.O == nil:
		add(ProblemInvalidEvent, "o is missing and the event is not deleted")
	default:
		o := e.O
		if escaped {
			var err error
			if o, err = unescapeRaw(o); err != nil {
				add(ProblemInvalidEvent, "escaped o does not decode: %v", err)
				return problems, false
			}
		}
		canonical, err := hashing.CanonicalObject(o)
		if err != nil {
			add(ProblemInvalidEvent, "o: %v", err)
		} else if got := hashing.DataHash(canonical); got != e.DHash {
			add(ProblemDHashMismatch, "o hashes to %s", got)
		}
	}
	return problems, redacted
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

// RepairContexts runs Repair on every context with a problem Repair fixes,
// and returns what it changed.
func (s *Store) RepairContexts(ctx context.Context, rep *Report) ([]*RepairReport, error) {
	seen := map[string]bool{}
	var out []*RepairReport
	for _, p := range rep.Problems {
		key := contextKey(p.Ct, p.Cid)
		if seen[key] || !slices.Contains(derivedProblems, p.Kind) {
			continue
		}
		seen[key] = true
		r, err := s.Repair(ctx, p.Ct, p.Cid)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}
