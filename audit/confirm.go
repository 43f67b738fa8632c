package audit

import (
	"context"
	"slices"
	"time"

	"github.com/eventstore-go/eventstore/store"
)

// Flags written while the audit reads.
//
// The audit reads a context's head and its events without a snapshot, and
// the isLeaf flags a head version names are written just after the version
// is claimed (see package store). So an audit of a live store can read a
// version whose flags are still being written, and see a mismatch that is
// gone a moment later. An isleaf_mismatch is therefore confirmed before it
// is reported: the flags in question are read again beside the latest
// head, until a read during which the head did not move finds them right
// (no problem), or finds the same mismatch for flagSettle (reported).

const (
	flagSettle        = 250 * time.Millisecond // how long a mismatch must last
	flagConfirmFirst  = 25 * time.Millisecond  // the first pause; it doubles up to flagSettle
	flagConfirmRounds = 8                      // then what was read last is reported
)

// confirmFlags returns problems with each isleaf_mismatch replaced by what
// holds now: dropped if the flag is right, restated against the latest
// head if it is still wrong.
func (a *Auditor) confirmFlags(ctx context.Context, g *graph, problems []Problem) ([]Problem, error) {
	var ids []string
	for _, p := range problems {
		if p.Kind == ProblemIsLeafMismatch {
			ids = append(ids, p.Event)
		}
	}
	if len(ids) == 0 || g.head == nil {
		return problems, nil
	}
	var (
		last      map[string]Problem // the last stable read's mismatches
		lastSeq   int64              // and its head version
		lastSince time.Time          // since when that read's answer holds
		pause     = flagConfirmFirst
	)
	for range flagConfirmRounds {
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		pause = min(2*pause, flagSettle)
		before, err := a.src.LatestVersion(ctx, g.ct, g.cid, g.head.Seq)
		if err != nil {
			return nil, err
		}
		if before == nil {
			return problems, nil
		}
		found, err := a.flagMismatches(ctx, g, before, ids)
		if err != nil {
			return nil, err
		}
		after, err := a.src.LatestVersion(ctx, g.ct, g.cid, before.Seq)
		if err != nil {
			return nil, err
		}
		if after == nil || after.Seq != before.Seq { // written meanwhile: read again
			continue
		}
		if len(found) == 0 {
			last = found
			break
		}
		if last == nil || before.Seq != lastSeq || !sameKeys(found, last) {
			lastSince = time.Now()
		} else if time.Since(lastSince) >= flagSettle {
			last = found
			break
		}
		last, lastSeq = found, before.Seq
	}
	if last == nil { // the head moved on every read: report what the audit read
		return problems, nil
	}
	out := make([]Problem, 0, len(problems))
	for _, p := range problems {
		if p.Kind == ProblemIsLeafMismatch {
			var ok bool
			if p, ok = last[p.Event]; !ok {
				continue
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// flagMismatches reads the events ids and returns those whose isLeaf flag
// disagrees with head version h, as problems by event.
func (a *Auditor) flagMismatches(ctx context.Context, g *graph, h *store.HeadVersion, ids []string) (map[string]Problem, error) {
	events, err := a.src.StoredEvents(ctx, g.ct, g.cid, ids)
	if err != nil {
		return nil, err
	}
	found := map[string]Problem{}
	for _, id := range ids {
		want := slices.Contains(h.Flagged, id)
		if e := events[id]; e != nil && e.IsLeaf != want {
			found[id] = Problem{Kind: ProblemIsLeafMismatch, Ct: g.ct, Cid: g.cid, Event: id,
				Detail: isLeafDetail(e.IsLeaf, h.Seq, want)}
		}
	}
	return found, nil
}

func sameKeys(a, b map[string]Problem) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}
