package audit

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/store"
)

// The data check. An event's d is what chat clients show, and it may only
// change through the update and delete events that name it, which are in
// the chain. So d is checkable: it must be the store's fold (edits.Fold)
// of those events over o, and an event is deleted exactly when a delete
// names it, at the earliest delete's ts.
//
// The scan keeps only a flag per event (d differs from o) and the edit
// events themselves; the events that edits name are read again by _id at
// the end, which costs one read per edited event.

// dataState is what the data check knows of one event.
type dataState struct {
	deleted   bool
	deletedAt int64
	dDiffers  bool
}

// checkData checks d and deletion for the events of the graph and the
// targets of its edit events. An incremental graph holds only the events
// since its base, so it also finds each target's earlier edits through
// the store's edit records (Source.EditEvents) and reads targets outside
// the graph by _id.
func (g *graph) checkData(ctx context.Context, src Source, sigs Signatures) error {
	byTarget := map[string][]edits.Event{}
	for _, n := range g.nodes {
		if n.edit != nil && n.target != "" {
			byTarget[n.target] = append(byTarget[n.target], *n.edit)
		}
	}
	states := map[string]dataState{}
	for id, n := range g.nodes {
		states[id] = dataState{deleted: n.deleted, deletedAt: n.deletedAt, dDiffers: n.dDiffers}
	}
	var fold, outside []string // targets to fold; targets not in the graph
	for target := range byTarget {
		if _, ok := states[target]; !ok {
			outside = append(outside, target)
		}
	}
	if g.base != nil && len(byTarget) > 0 {
		if err := g.earlierEdits(ctx, src, sigs, byTarget); err != nil {
			return err
		}
	}
	stored := map[string]*store.StoredEvent{}
	if len(outside) > 0 {
		var err error
		if stored, err = src.StoredEvents(ctx, g.ct, g.cid, outside); err != nil {
			return err
		}
		for _, id := range outside {
			if e := stored[id]; e != nil && e.Cid == g.cid {
				c := checkEvent(g.ct, g.cid, e, nil)
				states[id] = dataState{deleted: e.Deleted, deletedAt: e.DeletedAt, dDiffers: c.dDiffers}
			} // else: a missing_target already
		}
	}
	ids := make([]string, 0, len(states))
	for id := range states {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		kind, detail, needsFold := dataVerdict(states[id], byTarget[id])
		switch {
		case needsFold:
			fold = append(fold, id)
		case kind != "":
			g.add(kind, id, "%s", detail)
		}
	}
	g.edits = byTarget
	return g.checkFolds(ctx, src, fold, byTarget, stored)
}

// dataVerdict says what is wrong with an event's d or deletion given the
// edit events that name it (kind "" if nothing), or that its d must be
// compared with their fold.
func dataVerdict(st dataState, named []edits.Event) (kind, detail string, needsFold bool) {
	firstDelete := int64(-1)
	for _, ed := range named {
		if ed.T == eventstore.TypeDelete && (firstDelete < 0 || ed.TS < firstDelete) {
			firstDelete = ed.TS
		}
	}
	switch {
	case st.deleted && firstDelete < 0:
		return ProblemDeletedMismatch, fmt.Sprintf("deleted (deletedAt %d) but no event.delete names it", st.deletedAt), false
	case st.deleted && st.deletedAt != firstDelete:
		return ProblemDeletedMismatch, fmt.Sprintf("deletedAt is %d, the earliest event.delete naming it is at %d", st.deletedAt, firstDelete), false
	case st.deleted:
		return "", "", false
	case firstDelete >= 0:
		return ProblemDeletedMismatch, fmt.Sprintf("an event.delete names it (at %d) but it still has its data", firstDelete), false
	case len(named) > 0:
		return "", "", true
	case st.dDiffers:
		return ProblemDMismatch, "d is not o, and no event.update names it", false
	}
	return "", "", false
}

// foldDiffers reports whether stored event e's d is not the fold of named
// over its o. An event gone, or whose o is not what was hashed (a
// dhash_mismatch already), is not compared.
func foldDiffers(e *store.StoredEvent, named []edits.Event) bool {
	if e == nil || e.O == nil {
		return false
	}
	if hashing.DataHash(e.O) != e.DHash {
		return false
	}
	want, err := edits.Fold(e.O, named)
	if err != nil {
		return false // o does not decode: reported by the event check
	}
	return !bytes.Equal(e.D, want.D)
}

// checkFolds compares the d of each edited event with the fold of its
// edits over its o.
func (g *graph) checkFolds(ctx context.Context, src Source, ids []string, byTarget map[string][]edits.Event, stored map[string]*store.StoredEvent) error {
	var read []string
	for _, id := range ids {
		if stored[id] == nil {
			read = append(read, id)
		}
	}
	if len(read) > 0 {
		more, err := src.StoredEvents(ctx, g.ct, g.cid, read)
		if err != nil {
			return err
		}
		for id, e := range more {
			stored[id] = e
		}
	}
	for _, id := range ids {
		if foldDiffers(stored[id], byTarget[id]) {
			g.add(ProblemDMismatch, id, "d is not the fold of the %d update(s) naming it over o", len(byTarget[id]))
		}
	}
	return nil
}

// earlierEdits adds to byTarget the edit events, stored before the base, of
// the targets that new edit events name: found through the store's edit
// records, each read and checked to be an edit of that target.
func (g *graph) earlierEdits(ctx context.Context, src Source, sigs Signatures, byTarget map[string][]edits.Event) error {
	for target, named := range byTarget {
		ids, err := src.EditEvents(ctx, g.ct, target)
		if err != nil {
			return err
		}
		ids = slices.DeleteFunc(ids, func(id string) bool {
			return g.nodes[id] != nil || slices.ContainsFunc(named, func(e edits.Event) bool { return e.ID == id })
		})
		if len(ids) == 0 {
			continue
		}
		events, err := src.StoredEvents(ctx, g.ct, g.cid, ids)
		if err != nil {
			return err
		}
		for _, id := range ids {
			e := events[id]
			if e == nil || e.Cid != g.cid {
				continue
			}
			c := checkEvent(g.ct, g.cid, e, sigs)
			if c.edit != nil && lookupString(e.O, "target") == target {
				byTarget[target] = append(byTarget[target], *c.edit)
			}
		}
	}
	return nil
}
