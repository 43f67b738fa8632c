package federation

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/store"
)

// maxFetchRounds bounds how many missing-events answers one received batch
// may need (each up to MaxMissing events): a gap deeper than that is left
// pending and closed by later retries.
const maxFetchRounds = 10

// receive stores the events of a transaction: each checked on its own (one
// bad event does not fail the rest), missing parents fetched from the
// sender, what stays incomplete kept pending.
func (f *Federation) receive(ctx context.Context, origin string, raws []json.RawMessage) []eventResult {
	results := make([]eventResult, len(raws))
	events := make([]*eventstore.Event, len(raws)) // nil: refused
	for i, raw := range raws {
		var e eventstore.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			results[i] = eventResult{Status: StatusRefused, Error: eventstore.ErrorMessage(err)}
			continue
		}
		results[i].ID = e.ID
		if err := f.checkRemote(ctx, &e); err != nil {
			results[i].Status, results[i].Error = StatusRefused, eventstore.ErrorMessage(err)
			continue
		}
		events[i] = &e
	}
	groups := eventstore.GroupByContext(events)
	for _, g := range groups {
		ok, err := f.participant(ctx, g.Ct, g.Cid, origin)
		status := StatusForbidden
		if err != nil || f.isJoining(g.Ct, g.Cid) {
			status = StatusRetry
		}
		if err != nil || !ok {
			for _, i := range g.Index {
				results[i].Status = status
			}
			continue
		}
		for j, r := range f.storeEvents(ctx, origin, g.Ct, g.Cid, g.Events) {
			results[g.Index[j]] = r
		}
	}
	for _, r := range results {
		f.metrics.receivedEvent(origin, r.Status)
	}
	return results
}

// storeEvents ingests events of one context from origin. When parents are
// missing it fetches them from origin, walking back towards this server's
// leaves, and collects until the ancestry is complete (at most
// maxFetchRounds answers deep); then it stores everything parents first.
// What stays incomplete is kept pending.
func (f *Federation) storeEvents(ctx context.Context, origin, ct, cid string, events []*eventstore.Event) []eventResult {
	results := make([]eventResult, len(events))
	index := map[string]int{}
	for i, e := range events {
		results[i] = eventResult{ID: e.ID, Status: StatusRetry}
		index[e.ID] = i
	}
	res, err := f.ingest(ctx, origin, ct, cid, events)
	if err != nil {
		f.log.Warn("federation: storing received events", "ct", ct, "cid", cid, "err", err)
		return results
	}
	collected := map[string]*eventstore.Event{}
	frontier := map[string]bool{}
	for j, r := range res {
		i := index[events[j].ID]
		switch r.Status {
		case store.Stored:
			results[i].Status = StatusStored
		case store.Duplicate:
			results[i].Status = StatusDuplicate
		case store.Refused:
			results[i].Status, results[i].Error = StatusRefused, eventstore.ErrorMessage(r.Err)
		case store.MissingParents:
			results[i].Status, results[i].Missing = StatusPending, r.Missing
			collected[events[j].ID] = events[j]
		}
	}
	if len(collected) == 0 {
		return results
	}
	for _, e := range collected {
		for _, m := range results[index[e.ID]].Missing {
			if collected[m] == nil {
				frontier[m] = true
			}
		}
	}
	for round := 0; round < maxFetchRounds && len(frontier) > 0; round++ {
		fetched, err := f.fetchMissing(ctx, origin, ct, cid, keys(frontier))
		if err != nil || len(fetched) == 0 {
			break
		}
		for _, e := range fetched {
			collected[e.ID] = e
		}
		var parents []string
		for _, e := range fetched {
			for _, p := range e.Pids {
				if collected[p] == nil {
					parents = append(parents, p)
				}
			}
		}
		stored, err := f.st.Has(ctx, ct, cid, parents)
		if err != nil {
			break
		}
		frontier = map[string]bool{}
		for _, p := range parents {
			if !stored[p] {
				frontier[p] = true
			}
		}
	}
	all := make([]*eventstore.Event, 0, len(collected))
	for _, e := range collected {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b *eventstore.Event) int {
		if a.TS != b.TS {
			return cmp.Compare(a.TS, b.TS)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	res, err = f.ingest(ctx, origin, ct, cid, all)
	if err != nil {
		f.log.Warn("federation: storing fetched events", "ct", ct, "cid", cid, "err", err)
		return results
	}
	for j, r := range res {
		i, ours := index[all[j].ID]
		if !ours {
			f.metrics.receivedEvent(origin, "fetched_"+string(r.Status))
			continue
		}
		switch r.Status {
		case store.Stored:
			results[i].Status, results[i].Missing = StatusStored, nil
		case store.Duplicate:
			results[i].Status, results[i].Missing = StatusDuplicate, nil
		case store.Refused:
			results[i].Status, results[i].Error, results[i].Missing = StatusRefused, eventstore.ErrorMessage(r.Err), nil
		case store.MissingParents:
			results[i].Missing = r.Missing
			if err := f.keepPending(ctx, origin, all[j], r.Missing); errors.Is(err, errTooManyPending) {
				results[i].Status, results[i].Error = StatusRetry, err.Error()
			} else if err != nil {
				f.log.Warn("federation: keeping an event pending", "event", all[j].ID, "err", err)
				results[i].Status = StatusRetry
			}
		}
	}
	return results
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ingest stores events of ct/cid received from peer. One that arrives
// deleted from a server other than its origin, without the delete naming
// it (store.IngestFrom: anyone relaying it could have redacted it), is
// asked of its origin instead, and stored as the origin has it; then the
// events are stored again, those that follow it with it.
func (f *Federation) ingest(ctx context.Context, peer, ct, cid string, events []*eventstore.Event) ([]store.IngestResult, error) {
	res, err := f.st.IngestFrom(ctx, peer, events)
	if err != nil {
		return nil, err
	}
	byOrigin := map[string][]string{}
	for j, r := range res {
		if r.NeedsOrigin {
			e := events[j]
			f.metrics.refused(peer, "deleted_in_transit")
			if _, ok := f.dir.peer(e.Src); ok {
				byOrigin[e.Src] = append(byOrigin[e.Src], e.ID)
			}
		}
	}
	if len(byOrigin) == 0 {
		return res, nil
	}
	asked := false
	for _, origin := range slices.Sorted(maps.Keys(byOrigin)) {
		fetched, err := f.fetchMissing(ctx, origin, ct, cid, byOrigin[origin])
		if err != nil {
			f.log.Warn("federation: asking the origin of events that arrived deleted", "origin", origin, "from", peer, "err", err)
			continue
		}
		if _, err := f.st.IngestFrom(ctx, origin, fetched); err != nil {
			return nil, err
		}
		asked = true
	}
	if !asked {
		return res, nil
	}
	return f.st.IngestFrom(ctx, peer, events)
}

// fetchMissing asks peer for the ancestors of want that this server lacks,
// walking back towards this server's leaves.
func (f *Federation) fetchMissing(ctx context.Context, peer, ct, cid string, want []string) ([]*eventstore.Event, error) {
	var have []string
	if sum, err := f.st.Summary(ctx, ct, cid); err == nil {
		have = sum.Leaves[:min(len(sum.Leaves), MaxWanted)]
	}
	want = want[:min(len(want), MaxWanted)]
	var res eventsResponse
	path := fmt.Sprintf("%s/contexts/%s/%s/missing", Prefix, url.PathEscape(ct), url.PathEscape(cid))
	if err := f.call(ctx, peer, http.MethodPost, path, missingRequest{Want: want, Have: have, Limit: MaxMissing}, &res); err != nil {
		return nil, err
	}
	events, err := f.decodeEvents(ctx, res.Events)
	if err != nil {
		return nil, err
	}
	// Only events of the room asked for: another room's (its genesis, say)
	// would be stored as a room this server never joined.
	return slices.DeleteFunc(events, func(e *eventstore.Event) bool {
		if e.Ct == ct && e.Cid == cid {
			return false
		}
		f.metrics.refused(peer, "wrong_context")
		f.log.Warn("federation: a missing-events answer held an event of another room", "peer", peer, "asked", ct+"/"+cid,
			"event", e.ID, "of", e.Ct+"/"+e.Cid)
		return true
	}), nil
}
