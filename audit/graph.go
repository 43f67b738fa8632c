package audit

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/store"
)

// node is what the audit keeps of one event.
type node struct {
	pids   []string
	ts     int64
	src    string
	target string // of an update or delete
	joins  string // the server a server.join names
	isLeaf bool   // the stored flag
	// For the data check (data.go):
	deleted   bool
	deletedAt int64
	dDiffers  bool         // d is stored and is not o
	edit      *edits.Event // of an update or delete
}

// graph is the events of one context that an audit read: all of them (a
// full audit, a repair), or those added since the checkpoint base on top
// of its verified history (an incremental audit).
type graph struct {
	ct, cid  string
	nodes    map[string]*node
	head     *store.HeadVersion       // the latest head version read; nil if none
	cp       *checkpoint              // the last checkpoint in the database, if any
	filecp   *checkpoint              // the context's checkpoint in the checkpoint file, if any
	edits    map[string][]edits.Event // target → the edit events naming it, once checkData ran
	base     *checkpoint              // incremental: the history this graph extends; nil: the graph is all of it
	flags    map[string]bool          // stored isLeaf of events outside the graph whose flag is checked
	redacted int64
	problems []Problem
}

func newGraph(ct, cid string) *graph {
	return &graph{ct: ct, cid: cid, nodes: map[string]*node{}, flags: map[string]bool{}}
}

func (g *graph) add(kind, event, format string, args ...any) {
	g.problems = append(g.problems, Problem{Kind: kind, Ct: g.ct, Cid: g.cid, Event: event, Detail: fmt.Sprintf(format, args...)})
}

// addEvent checks one stored event and adds it to the graph (once).
func (g *graph) addEvent(e *store.StoredEvent, sigs Signatures) {
	c := checkEvent(g.ct, g.cid, e, sigs)
	g.problems = append(g.problems, c.problems...)
	g.addChecked(e, c)
}

// addChecked adds an event checkEvent has checked.
func (g *graph) addChecked(e *store.StoredEvent, c checked) {
	if _, dup := g.nodes[e.ID]; dup {
		return
	}
	if c.redacted {
		g.redacted++
	}
	n := &node{pids: e.Pids, ts: e.TS, src: e.Src, isLeaf: e.IsLeaf, deleted: e.Deleted, deletedAt: e.DeletedAt,
		dDiffers: c.dDiffers, edit: c.edit}
	switch {
	case e.O == nil:
	case e.T == eventstore.TypeUpdate || e.T == eventstore.TypeDelete:
		n.target = lookupString(e.O, "target")
	case e.T == eventstore.TypeServerJoin:
		n.joins = lookupString(e.O, "server")
	}
	g.nodes[e.ID] = n
}

func lookupString(o json.RawMessage, key string) string {
	doc, _, err := hashing.ParseObject(o)
	if err != nil {
		return ""
	}
	for _, m := range doc {
		if m.Name == key {
			s, _ := m.Value.(string)
			return s
		}
	}
	return ""
}

// outsideFunc reads events that are not in the graph (only an
// incremental graph has any): nil if not stored in the context.
type outsideFunc func(ctx context.Context, id string) (*store.StoredEvent, error)

// check runs every rule over the graph, adding problems in a stable order,
// and returns the real leaves: the events that no event names as a parent.
// Parents and targets outside the graph are looked up with outside.
func (g *graph) check(ctx context.Context, outside outsideFunc) ([]string, error) {
	author := func(id string) (string, bool, error) { // the src of a stored event
		if n := g.nodes[id]; n != nil {
			return n.src, true, nil
		}
		if g.base == nil || outside == nil {
			return "", false, nil
		}
		e, err := outside(ctx, id)
		if e == nil || err != nil {
			return "", false, err
		}
		return e.Src, true, nil
	}
	stored := func(id string) (bool, error) {
		_, ok, err := author(id)
		return ok, err
	}
	ids := make([]string, 0, len(g.nodes))
	for id := range g.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	named := map[string]bool{}
	for _, id := range ids {
		n := g.nodes[id]
		for _, p := range n.pids {
			named[p] = true
			if ok, err := stored(p); err != nil {
				return nil, err
			} else if !ok {
				g.add(ProblemMissingParent, id, "parent %s is not stored in the context", p)
			}
		}
		if n.target != "" {
			if src, ok, err := author(n.target); err != nil {
				return nil, err
			} else if !ok {
				g.add(ProblemMissingTarget, id, "target %s is not stored in the context", n.target)
			} else if n.edit != nil && n.src != src {
				if creator, err := g.creator(ctx, author); err != nil {
					return nil, err
				} else if n.src != creator {
					g.add(ProblemUnauthorizedEdit, id, "%s edits %s, which is %s's, and did not create the room (%s did)", n.src, n.target, src, creator)
					n.edit = nil // not folded: the store never applies it
				}
			}
		}
	}
	// The leaves: of the history (the base's leaves and the graph's
	// events) those that nothing names.
	var leaves []string
	if g.base != nil {
		leaves = slices.Clone(g.base.Leaves)
	}
	leaves = slices.DeleteFunc(append(leaves, ids...), func(id string) bool { return named[id] })
	slices.Sort(leaves)
	leaves = slices.Compact(leaves)
	g.checkGenesis(ids)
	from := leaves
	if g.head == nil {
		g.add(ProblemHeadMismatch, "", "the context has events but no head")
	} else {
		from = g.head.Leaves
		g.checkHead(leaves, len(ids))
	}
	g.checkReachable(ids, from)
	if err := g.checkHistory(ctx, outside); err != nil {
		return nil, err
	}
	return leaves, nil
}

// creator is the server that created the context: the src of its genesis
// (the head's, or the graph's event without parents); "" if unknown.
func (g *graph) creator(ctx context.Context, author func(string) (string, bool, error)) (string, error) {
	id := ""
	if g.head != nil {
		id = g.head.Genesis
	}
	if id == "" {
		for gid, n := range g.nodes {
			if len(n.pids) == 0 {
				id = gid
				break
			}
		}
	}
	if id == "" {
		return "", nil
	}
	src, _, err := author(id)
	return src, err
}

// checkGenesis: a context has one event without parents, which the base
// already holds if there is one.
func (g *graph) checkGenesis(ids []string) {
	var genesis []string
	for _, id := range ids {
		if len(g.nodes[id].pids) == 0 {
			genesis = append(genesis, id)
		}
	}
	if g.base != nil {
		for _, id := range genesis {
			g.add(ProblemGenesisExtra, id, "an event without parents added after the checkpoint")
		}
		return
	}
	switch {
	case len(genesis) == 0 && len(ids) > 0:
		g.add(ProblemGenesisMissing, "", "no event without parents among %d events", len(ids))
	case len(genesis) > 1:
		for _, id := range genesis[1:] {
			g.add(ProblemGenesisExtra, id, "a second event without parents (genesis candidates %v)", genesis)
		}
	}
	if h := g.head; h != nil && len(genesis) > 0 && h.Genesis != genesis[0] && !slices.Contains(genesis, h.Genesis) {
		g.add(ProblemHeadMismatch, "", "the head names genesis %s, the stored genesis is %s", h.Genesis, genesis[0])
	}
}

// checkHead: the head's leaves and count are what the events make them,
// and the isLeaf flags read are the ones it names.
func (g *graph) checkHead(leaves []string, events int) {
	h := g.head
	if !slices.Equal(h.Leaves, leaves) {
		g.add(ProblemLeavesMismatch, "", "the head (version %d) names leaves %v, the events without children are %v", h.Seq, h.Leaves, leaves)
	}
	if g.base == nil && h.Count != int64(events) {
		g.add(ProblemHeadMismatch, "", "the head (version %d) counts %d events, %d are stored", h.Seq, h.Count, events)
	}
	if g.base != nil && h.Count != g.base.Count+int64(events) {
		g.add(ProblemHeadMismatch, "", "the head (version %d) counts %d events, the checkpoint's %d and %d since make %d",
			h.Seq, h.Count, g.base.Count, events, g.base.Count+int64(events))
	}
	flags := make(map[string]bool, len(g.nodes)+len(g.flags))
	for id, n := range g.nodes {
		flags[id] = n.isLeaf
	}
	for id, f := range g.flags {
		flags[id] = f
	}
	ids := make([]string, 0, len(flags))
	for id := range flags {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		want := slices.Contains(h.Flagged, id)
		if got := flags[id]; got != want {
			g.add(ProblemIsLeafMismatch, id, "%s", isLeafDetail(got, h.Seq, want))
		}
	}
}

// checkReachable: every event of the graph is an ancestor of a leaf the
// head names (or one).
func (g *graph) checkReachable(ids, from []string) {
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
			g.add(ProblemUnreachable, id, "not an ancestor of the head's leaves")
		}
	}
}

// checkHistory: history may only have been extended since the last
// checkpoint, in the database and in the checkpoint file. A checkpoint's
// leaves' ids commit to everything before them, so they must all still be
// stored, unchanged (every stored event is an ancestor of today's real
// leaves, or one).
func (g *graph) checkHistory(ctx context.Context, outside outsideFunc) error {
	if g.cp != nil && g.cp.Bad != "" {
		g.add(ProblemBadCheckpoint, "", "the checkpoint in the database is not this server's: %s", g.cp.Bad)
	}
	for _, cp := range []*checkpoint{g.cp, g.filecp} {
		if !cp.usable() {
			continue
		}
		where := "the checkpoint"
		if cp == g.filecp {
			where = "the checkpoint file"
		}
		if g.head != nil && g.head.Seq < cp.Seq {
			g.add(ProblemHistoryRewritten, "", "the head went back from version %d (%s) to %d", cp.Seq, where, g.head.Seq)
		}
		if g.head != nil && g.head.Count < cp.Count {
			g.add(ProblemHistoryRewritten, "", "the head counts %d events, %s %d", g.head.Count, where, cp.Count)
		}
		for _, id := range cp.Leaves {
			if g.nodes[id] != nil { // its id was recomputed with the graph
				continue
			}
			var e *store.StoredEvent
			if outside != nil {
				var err error
				if e, err = outside(ctx, id); err != nil {
					return err
				}
			}
			if e == nil {
				g.add(ProblemHistoryRewritten, id, "a leaf at %s (version %d) is no longer stored", where, cp.Seq)
				continue
			}
			for _, p := range checkEvent(g.ct, g.cid, e, nil).problems {
				if p.Kind == ProblemIDMismatch || p.Kind == ProblemDHashMismatch {
					p.Kind, p.Detail = ProblemHistoryRewritten, "a leaf at "+where+" changed: "+p.Detail
					g.problems = append(g.problems, p)
				}
			}
		}
	}
	return nil
}

// derive is what the graph (of a whole context) says its derived data
// should be: for a repair.
func (g *graph) derive() *store.Derived {
	d := &store.Derived{Count: int64(len(g.nodes)), Flags: map[string]bool{}}
	named := map[string]bool{}
	for _, n := range g.nodes {
		for _, p := range n.pids {
			named[p] = true
		}
	}
	var genesis, joins []store.Leaf
	for id, n := range g.nodes {
		d.Flags[id] = n.isLeaf
		if !named[id] {
			d.Leaves = append(d.Leaves, store.Leaf{ID: id, TS: n.ts})
		}
		if len(n.pids) == 0 {
			genesis = append(genesis, store.Leaf{ID: id, TS: n.ts})
		}
		if n.joins != "" {
			joins = append(joins, store.Leaf{ID: id, TS: n.ts})
		}
	}
	for _, p := range g.problems {
		if p.Kind != ProblemDMismatch {
			continue
		}
		if d.Data == nil {
			d.Data = map[string][]edits.Event{}
		}
		d.Data[p.Event] = g.edits[p.Event]
	}
	byTime := func(a, b store.Leaf) int { return cmp.Or(cmp.Compare(a.TS, b.TS), cmp.Compare(a.ID, b.ID)) }
	slices.SortFunc(d.Leaves, byTime)
	if len(genesis) > 0 {
		first := slices.MinFunc(genesis, byTime)
		d.Genesis = first.ID
		d.Participants = append(d.Participants, store.Participant{Server: g.nodes[first.ID].src})
	}
	slices.SortFunc(joins, byTime) // the first join of a server counts
	for _, j := range joins {
		d.Participants = append(d.Participants, store.Participant{Server: g.nodes[j.ID].joins, Join: j.ID})
	}
	return d
}

// isLeafDetail says how a flag disagrees with head version seq.
func isLeafDetail(got bool, seq int64, want bool) string {
	return fmt.Sprintf("isLeaf is %v, the head (version %d) says %v", got, seq, want)
}
