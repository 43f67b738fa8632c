package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/sync/errgroup"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/store"
)

// handleInvite: a participant shared a context with this server. The
// request carries the server.join event naming this server, signed by the
// inviter; this server then fetches the history from the inviter.
func (f *Federation) handleInvite(w http.ResponseWriter, r *http.Request) error {
	origin, ct, cid := originOf(r.Context()), chi.URLParam(r, "ct"), chi.URLParam(r, "cid")
	var req inviteRequest
	if err := decodeBody(r, "invitation", &req); err != nil {
		return err
	}
	if len(req.Event) == 0 {
		return eventstore.Errorf(eventstore.EINVALID, "invitation: no event")
	}
	var e eventstore.Event
	if err := json.Unmarshal(req.Event, &e); err != nil {
		return eventstore.WrapError(eventstore.EINVALID, fmt.Errorf("invitation: %w", err))
	}
	if err := e.Verify(); err != nil {
		return err
	}
	server := eventstore.JoinedServer(e.O)
	switch {
	case e.T != eventstore.TypeServerJoin || server != f.cfg.Server:
		return eventstore.Errorf(eventstore.EINVALID, "the invitation must carry a %s event naming %s", eventstore.TypeServerJoin, f.cfg.Server)
	case e.Src != origin || e.Ct != ct || e.Cid != cid:
		return eventstore.Errorf(eventstore.EINVALID, "the %s event is not %s's, for %s/%s", e.T, origin, ct, cid)
	}
	if err := f.checkRemote(r.Context(), &e); err != nil {
		return err
	}
	// A room this server has already: only a participant may invite to it
	// (and so be the one its history is fetched from).
	if _, err := f.st.Summary(r.Context(), ct, cid); err == nil {
		if ok, err := f.participant(r.Context(), ct, cid, origin); err != nil {
			return err
		} else if !ok {
			f.metrics.refused(origin, string(eventstore.EFORBIDDEN))
			return eventstore.Errorf(eventstore.EFORBIDDEN, "%s does not take part in %s/%s, so it cannot invite to it", origin, ct, cid)
		}
	} else if eventstore.ErrorCode(err) != eventstore.ENOTFOUND {
		return err
	}
	if err := f.startJoin(origin, ct, cid); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]string{"status": "joining"})
}

func (f *Federation) isJoining(ct, cid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.joining[ct+"/"+cid]
}

// Joins fetch the history up to joinAttempts times, waiting
// joinBackoff, then twice as long after every failure (about 100 s in all).
const (
	joinAttempts = 10
	joinBackoff  = 100 * time.Millisecond
)

// startJoin fetches a context's history from the inviter in the
// background, page by page, parents first; every event is checked (its
// origin's signature, its hashes) before it is stored. The join runs on the
// context given to Start, so Close stops it; before Start, or once closed,
// it is refused as unavailable (the inviter invites again later).
func (f *Federation) startJoin(from, ct, cid string) error {
	key := ct + "/" + cid
	f.mu.Lock()
	defer f.mu.Unlock()
	ctx := f.run
	if ctx == nil || ctx.Err() != nil {
		return eventstore.Errorf(eventstore.EUNAVAILABLE, "%s is not running its federation now; invite it again later", f.cfg.Server)
	}
	if f.joining[key] {
		return nil
	}
	f.joining[key] = true
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer f.endJoin(key)
		f.join(ctx, from, ct, cid)
	}()
	return nil
}

// join fetches the history, trying again after a failure, until it is in,
// the attempts are used up or ctx ends.
func (f *Federation) join(ctx context.Context, from, ct, cid string) {
	wait := joinBackoff
	for attempt := 0; attempt < joinAttempts; attempt++ {
		err := f.backfill(ctx, from, ct, cid)
		if err == nil {
			f.log.Info("federation: joined a context", "ct", ct, "cid", cid, "from", from)
			f.endJoin(ct + "/" + cid)
			if err := f.track(ctx, ct, cid, nil); err != nil {
				f.log.Warn("federation: tracking a joined context", "ct", ct, "cid", cid, "err", err)
			}
			if err := f.retryPending(ctx, ct, cid); err != nil {
				f.log.Warn("federation: retrying pending events", "ct", ct, "cid", cid, "err", err)
			}
			return
		}
		if ctx.Err() != nil {
			return // closing: the join stops where it is, as it would in a crash
		}
		f.log.Warn("federation: fetching a shared context", "ct", ct, "cid", cid, "from", from, "attempt", attempt, "err", err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		wait *= 2
	}
}

// endJoin marks a context as no longer being joined.
func (f *Federation) endJoin(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.joining, key)
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
			select {
			case raws <- batch:
			case <-gctx.Done(): // the checker or the store failed and reads no more
				return gctx.Err()
			}
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
			for _, e := range events {
				if e.Ct != ct || e.Cid != cid {
					return fmt.Errorf("the history of %s/%s from %s holds event %s of %s/%s", ct, cid, from, e.ID, e.Ct, e.Cid)
				}
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
			res, err := f.ingest(gctx, from, ct, cid, events)
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
const historyBatch = store.MaxBatchEvents

// decodeEventsParallel is decodeEvents on two goroutines, each on half of
// raws, order kept; the first error wins.
func (f *Federation) decodeEventsParallel(ctx context.Context, raws []json.RawMessage) ([]*eventstore.Event, error) {
	half := len(raws) / 2
	var first, second []*eventstore.Event
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		first, err = f.decodeEvents(gctx, raws[:half])
		return err
	})
	g.Go(func() (err error) {
		second, err = f.decodeEvents(gctx, raws[half:])
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return append(first, second...), nil
}
