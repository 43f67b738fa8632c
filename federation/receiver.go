package federation

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

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
		if err := f.checkSignature(ctx, &e); err != nil {
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
	res, err := f.st.Ingest(ctx, events)
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
	res, err = f.st.Ingest(ctx, all)
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
			if err := f.keepPending(ctx, origin, all[j], r.Missing); err != nil {
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

// fetchMissing asks peer for the ancestors of want that this server lacks,
// walking back towards this server's leaves.
func (f *Federation) fetchMissing(ctx context.Context, peer, ct, cid string, want []string) ([]*eventstore.Event, error) {
	var have []string
	if sum, err := f.st.Summary(ctx, ct, cid); err == nil {
		have = sum.Leaves
	}
	var res eventsResponse
	path := fmt.Sprintf("%s/contexts/%s/%s/missing", Prefix, url.PathEscape(ct), url.PathEscape(cid))
	if err := f.call(ctx, peer, http.MethodPost, path, missingRequest{Want: want, Have: have, Limit: MaxMissing}, &res); err != nil {
		return nil, err
	}
	return f.decodeEvents(ctx, res.Events)
}

// pendingDoc is an event waiting for its ancestry.
type pendingDoc struct {
	ID       string        `bson:"_id"`
	Ct       string        `bson:"ct"`
	Cid      string        `bson:"cid"`
	Origin   string        `bson:"origin"`
	Event    string        `bson:"event"` // as received
	Missing  []string      `bson:"missing"`
	Received bson.DateTime `bson:"received"`
}

// maxPendingAge is how long an event may wait for its parents before it
// is dropped (its sender, or anti-entropy, sends it again later).
const maxPendingAge = 24 * time.Hour

func (f *Federation) keepPending(ctx context.Context, origin string, e *eventstore.Event, missing []string) error {
	raw, err := wireEvent(e)
	if err != nil {
		return err
	}
	doc := pendingDoc{ID: e.ID, Ct: e.Ct, Cid: e.Cid, Origin: origin, Event: string(raw), Missing: missing,
		Received: bson.DateTime(f.now().UnixMilli())}
	_, err = f.pending.ReplaceOne(ctx, bson.D{{Key: "_id", Value: e.ID}}, doc, options.Replace().SetUpsert(true))
	f.mayPend.Store(true)
	return err
}

// retryPending tries the pending events of a context again (all contexts
// when ct is empty), fetching what is still missing from their senders.
// One retry runs at a time; asked again meanwhile, it runs once more after.
func (f *Federation) retryPending(ctx context.Context, ct, cid string) error {
	if ct != "" && !f.mayPend.Load() {
		return nil
	}
	if !f.retryMu.TryLock() {
		f.retryAgain.Store(true) // the running retry goes once more, over every context
		return nil
	}
	defer f.retryMu.Unlock()
	for {
		var one struct{}
		f.mayPend.Store(false) // before looking: an event kept meanwhile sets it again
		err := f.pending.FindOne(ctx, bson.D{}).Decode(&one)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil
		}
		f.mayPend.Store(true)
		if err == nil {
			err = f.retryPendingNow(ctx, ct, cid)
		}
		if err != nil || !f.retryAgain.Swap(false) {
			return err
		}
		ct, cid = "", ""
	}
}

func (f *Federation) retryPendingNow(ctx context.Context, ct, cid string) error {
	filter := bson.D{}
	if ct != "" {
		filter = bson.D{{Key: "ct", Value: ct}, {Key: "cid", Value: cid}}
	}
	cur, err := f.pending.Find(ctx, filter)
	if err != nil {
		return err
	}
	var docs []pendingDoc
	if err := cur.All(ctx, &docs); err != nil {
		return err
	}
	type key struct{ origin, ct, cid string }
	groups := map[key][]*eventstore.Event{}
	for _, d := range docs {
		if f.now().Sub(d.Received.Time()) > maxPendingAge {
			_, _ = f.pending.DeleteOne(ctx, bson.D{{Key: "_id", Value: d.ID}})
			continue
		}
		var e eventstore.Event
		if err := json.Unmarshal([]byte(d.Event), &e); err != nil {
			_, _ = f.pending.DeleteOne(ctx, bson.D{{Key: "_id", Value: d.ID}})
			continue
		}
		k := key{d.Origin, d.Ct, d.Cid}
		groups[k] = append(groups[k], &e)
	}
	for k, events := range groups {
		slices.SortFunc(events, func(a, b *eventstore.Event) int { return cmp.Compare(a.TS, b.TS) })
		for _, r := range f.storeEvents(ctx, k.origin, k.ct, k.cid, events) {
			if r.Status != StatusPending && r.Status != StatusRetry {
				_, _ = f.pending.DeleteOne(ctx, bson.D{{Key: "_id", Value: r.ID}})
			}
		}
	}
	return nil
}

// retryPendingEvery is how often pending events are tried again.
const retryPendingEvery = 5 * time.Second

// maintain retries pending events, and now and then forgets old
// transactions, until ctx ends.
func (f *Federation) maintain(ctx context.Context) {
	t := time.NewTicker(retryPendingEvery)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := f.retryPending(ctx, "", ""); err != nil && ctx.Err() == nil {
			f.log.Warn("federation: retrying pending events", "err", err)
		}
		if time.Since(lastPrune) >= pruneEvery {
			lastPrune = time.Now()
			if n, err := f.PruneTransactions(ctx); err != nil && ctx.Err() == nil {
				f.log.Warn("federation: forgetting old transactions", "err", err)
			} else if n > 0 {
				f.log.Debug("federation: forgot old transactions", "count", n)
			}
		}
	}
}

// keepTransactions is how long the answer to a received transaction is
// remembered. Senders repeat a transaction after a failure or a restart,
// within minutes; one repeated after that is stored again, which is a
// no-op for events already stored.
const keepTransactions = 24 * time.Hour

// pruneEvery is how often old transactions are forgotten.
const pruneEvery = time.Hour

// PruneTransactions forgets the answers to transactions received more
// than a day ago, and says how many it forgot.
func (f *Federation) PruneTransactions(ctx context.Context) (int64, error) {
	cutoff := bson.DateTime(f.now().Add(-keepTransactions).UnixMilli())
	res, err := f.txns.DeleteMany(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: cutoff}}}})
	if err != nil {
		return 0, err
	}
	return res.DeletedCount, nil
}

// seenTransaction returns the answer to a transaction already received.
func (f *Federation) seenTransaction(ctx context.Context, origin, txn string) (*transactionResult, bool, error) {
	var d struct {
		Results string `bson:"results"`
	}
	err := f.txns.FindOne(ctx, bson.D{{Key: "_id", Value: origin + "/" + txn}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var res transactionResult
	if err := json.Unmarshal([]byte(d.Results), &res); err != nil {
		return nil, false, err
	}
	return &res, true, nil
}

// recordTransaction remembers a transaction's answer, so that a repeat is
// answered the same way without storing anything. Answers with events to
// retry are not remembered: the repeat must try them again.
func (f *Federation) recordTransaction(ctx context.Context, origin, txn string, res transactionResult) error {
	for _, r := range res.Results {
		if r.Status == StatusRetry {
			return nil
		}
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = f.txns.InsertOne(ctx, bson.D{{Key: "_id", Value: origin + "/" + txn}, {Key: "results", Value: string(raw)},
		{Key: "at", Value: bson.DateTime(f.now().UnixMilli())}})
	if mongo.IsDuplicateKeyError(err) {
		return nil
	}
	return err
}

// handleInvite: a participant shared a context with this server. The
// request carries the server.join event naming this server, signed by the
// inviter; this server then fetches the history from the inviter.
func (f *Federation) handleInvite(w http.ResponseWriter, r *http.Request) error {
	origin, ct, cid := originOf(r.Context()), chi.URLParam(r, "ct"), chi.URLParam(r, "cid")
	var req inviteRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return eventstore.Errorf(eventstore.EINVALID, "invitation: %v", err)
	}
	var e eventstore.Event
	if err := json.Unmarshal(req.Event, &e); err != nil {
		return err
	}
	if err := e.Verify(); err != nil {
		return err
	}
	server, _ := e.O.Lookup("server").StringValueOK()
	switch {
	case e.T != eventstore.TypeServerJoin || server != f.cfg.Server:
		return eventstore.Errorf(eventstore.EINVALID, "the invitation must carry a %s event naming %s", eventstore.TypeServerJoin, f.cfg.Server)
	case e.Src != origin || e.Ct != ct || e.Cid != cid:
		return eventstore.Errorf(eventstore.EINVALID, "the %s event is not %s's, for %s/%s", e.T, origin, ct, cid)
	}
	if err := f.checkSignature(r.Context(), &e); err != nil {
		return err
	}
	f.startJoin(origin, ct, cid)
	return writeJSON(w, http.StatusAccepted, map[string]string{"status": "joining"})
}

func (f *Federation) isJoining(ct, cid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.joining[ct+"/"+cid]
}

// startJoin fetches a context's history from the inviter in the
// background, page by page, parents first; every event is checked (its
// origin's signature, its hashes) before it is stored.
func (f *Federation) startJoin(from, ct, cid string) {
	key := ct + "/" + cid
	f.mu.Lock()
	if f.joining[key] {
		f.mu.Unlock()
		return
	}
	f.joining[key] = true
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer func() {
			f.mu.Lock()
			delete(f.joining, key)
			f.mu.Unlock()
		}()
		ctx := context.Background()
		for attempt := 0; attempt < 10; attempt++ {
			err := f.backfill(ctx, from, ct, cid)
			if err == nil {
				f.log.Info("federation: joined a context", "ct", ct, "cid", cid, "from", from)
				f.mu.Lock()
				delete(f.joining, key)
				f.mu.Unlock()
				if err := f.track(ctx, ct, cid, nil); err != nil {
					f.log.Warn("federation: tracking a joined context", "ct", ct, "cid", cid, "err", err)
				}
				if err := f.retryPending(ctx, ct, cid); err != nil {
					f.log.Warn("federation: retrying pending events", "ct", ct, "cid", cid, "err", err)
				}
				return
			}
			f.log.Warn("federation: fetching a shared context", "ct", ct, "cid", cid, "from", from, "attempt", attempt, "err", err)
			time.Sleep(time.Duration(1<<attempt) * 100 * time.Millisecond)
		}
	}()
}

// backfill fetches a context's history from a participant and stores it:
// reading the stream, checking signatures and storing run at once, in
// batches of what one head version holds.
func (f *Federation) backfill(ctx context.Context, from, ct, cid string) error {
	path := fmt.Sprintf("%s/contexts/%s/%s/events", Prefix, url.PathEscape(ct), url.PathEscape(cid))
	g, gctx := errgroup.WithContext(ctx)
	raws := make(chan []json.RawMessage, 4)
	checked := make(chan []*eventstore.Event, 2)
	g.Go(func() error { // read
		defer close(raws)
		batch := make([]json.RawMessage, 0, historyBatch)
		ended := false
		err := f.stream(gctx, from, path, func(line []byte) error {
			if bytes.HasPrefix(line, []byte(`{"end":`)) {
				ended = true
				return nil
			}
			batch = append(batch, bytes.Clone(line))
			if len(batch) == historyBatch {
				select {
				case raws <- batch:
				case <-gctx.Done():
					return gctx.Err()
				}
				batch = make([]json.RawMessage, 0, historyBatch)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !ended {
			return fmt.Errorf("the history from %s ended early", from)
		}
		if len(batch) > 0 {
			raws <- batch
		}
		return nil
	})
	g.Go(func() error { // check signatures, on both halves of a batch at once
		defer close(checked)
		for batch := range raws {
			events, err := f.decodeEventsParallel(gctx, batch)
			if err != nil {
				return err
			}
			select {
			case checked <- events:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	g.Go(func() error { // store
		for events := range checked {
			res, err := f.st.Ingest(gctx, events)
			if err != nil {
				return err
			}
			for _, r := range res {
				if r.Status == store.Refused || r.Status == store.MissingParents {
					return fmt.Errorf("event %s of the history: %s %v %v", r.ID, r.Status, r.Missing, r.Err)
				}
				f.metrics.receivedEvent(from, "history_"+string(r.Status))
			}
		}
		return nil
	})
	return g.Wait()
}

// historyBatch is what one head version holds.
const historyBatch = 99

// decodeEventsParallel is decodeEvents on two goroutines, order kept.
func (f *Federation) decodeEventsParallel(ctx context.Context, raws []json.RawMessage) ([]*eventstore.Event, error) {
	half := len(raws) / 2
	var first []*eventstore.Event
	var firstErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		first, firstErr = f.decodeEvents(ctx, raws[:half])
	}()
	second, err := f.decodeEvents(ctx, raws[half:])
	<-done
	if firstErr != nil {
		return nil, firstErr
	}
	if err != nil {
		return nil, err
	}
	return append(first, second...), nil
}
