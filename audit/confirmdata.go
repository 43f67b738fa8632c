package audit

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/eventstore-go/eventstore/edits"
)

// Data written while the audit reads.
//
// An update or delete event is stored with its head version, and its
// target's d (or deletion) is written just after; a scan can read the one
// without the other. So a d_mismatch or deleted_mismatch is confirmed
// before it is reported, as flags are (confirm.go): the event is read
// again, with every edit event naming it (those the audit read, and any
// recorded since, each read and checked), until the mismatch is gone or
// has lasted flagSettle.

// confirmData returns problems without the d and deletion mismatches that
// were only writes in progress.
func (a *Auditor) confirmData(ctx context.Context, g *graph, problems []Problem) ([]Problem, error) {
	wrong := map[string]bool{}
	for _, p := range problems {
		if p.Kind == ProblemDMismatch || p.Kind == ProblemDeletedMismatch {
			wrong[p.Event] = true
		}
	}
	if len(wrong) == 0 {
		return problems, nil
	}
	start, pause := time.Now(), flagConfirmFirst
	for len(wrong) > 0 && time.Since(start) < flagSettle {
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		pause = min(2*pause, flagSettle)
		still, err := a.dataMismatches(ctx, g, slices.Sorted(maps.Keys(wrong)))
		if err != nil {
			return nil, err
		}
		wrong = still
	}
	return slices.DeleteFunc(problems, func(p Problem) bool {
		return (p.Kind == ProblemDMismatch || p.Kind == ProblemDeletedMismatch) && !wrong[p.Event]
	}), nil
}

// dataMismatches reads events ids again, with their edit events, and
// returns those whose d or deletion is still wrong.
func (a *Auditor) dataMismatches(ctx context.Context, g *graph, ids []string) (map[string]bool, error) {
	byTarget := make(map[string][]edits.Event, len(ids))
	for _, id := range ids {
		byTarget[id] = slices.Clone(g.edits[id])
	}
	if err := g.earlierEdits(ctx, a.src, a.sigs, byTarget); err != nil {
		return nil, err
	}
	events, err := a.src.StoredEvents(ctx, g.ct, g.cid, ids)
	if err != nil {
		return nil, err
	}
	still := map[string]bool{}
	for _, id := range ids {
		e := events[id]
		if e == nil || e.Cid != g.cid {
			continue
		}
		st := dataState{deleted: e.Deleted, deletedAt: e.DeletedAt, dDiffers: checkEvent(g.ct, g.cid, e, nil).dDiffers}
		kind, _, needsFold := dataVerdict(st, byTarget[id])
		if kind != "" || e.Deleted && e.Leftover || needsFold && foldDiffers(e, byTarget[id]) {
			still[id] = true
		}
	}
	return still, nil
}
