package audit

import (
	"context"
	"slices"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/store"
)

// Repair rebuilds a context's derived data from its events: the graph
// checker derives the leaves, count, genesis, participants and isLeaf
// flags from one scan of the context, and the store writes a new head
// version where the head disagrees (store.Rederive); a d that is not the
// fold of the event's updates is rewritten as that fold. It never touches
// a hashed field.
func (a *Auditor) Repair(ctx context.Context, ct, cid string) (*store.RepairReport, error) {
	if err := eventstore.ValidateContext(ct, cid); err != nil {
		return nil, err
	}
	return a.src.Rederive(ctx, ct, cid, func(ctx context.Context) (*store.Derived, error) {
		graphs, err := a.readGraphs(ctx, ct, cid, false, nil) // a scan: the head log may be what is wrong
		if err != nil {
			return nil, err
		}
		if g := graphs[cid]; g != nil {
			if err := g.checkData(ctx, a.src, a.sigs); err != nil {
				return nil, err
			}
			return g.derive(), nil
		}
		return &store.Derived{}, nil
	})
}

// RepairContexts runs Repair on every context with a problem Repair fixes,
// and returns what it changed.
func (a *Auditor) RepairContexts(ctx context.Context, rep *Report) ([]*store.RepairReport, error) {
	seen := map[string]bool{}
	var out []*store.RepairReport
	for _, p := range rep.Problems {
		key := checkpointID(p.Ct, p.Cid)
		if seen[key] || !slices.Contains(derivedProblems, p.Kind) {
			continue
		}
		seen[key] = true
		r, err := a.Repair(ctx, p.Ct, p.Cid)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}
