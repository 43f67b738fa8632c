package federation

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/internal/database"
)

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

// errTooManyPending: a peer, or a room, has as many events pending as it
// may; the event is answered "retry", and its sender sends it again later.
var errTooManyPending = errors.New("too many pending events")

// keepPending keeps an event until its ancestry arrives. Its first arrival
// is kept, so that it expires maxPendingAge after that however often it
// is sent again; a new one is refused beyond the caps per peer and per room.
func (f *Federation) keepPending(ctx context.Context, origin string, e *eventstore.Event, missing []string) error {
	raw, err := wireEvent(e)
	if err != nil {
		return err
	}
	var known pendingDoc
	found, err := f.pending.FindByID(ctx, e.ID, &known)
	if err != nil {
		return err
	}
	if !found {
		if err := f.checkPendingCaps(ctx, origin, e); err != nil {
			return err
		}
	}
	_, err = f.pending.UpdateOne(ctx, bson.D{{Key: "_id", Value: e.ID}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "ct", Value: e.Ct}, {Key: "cid", Value: e.Cid}, {Key: "origin", Value: origin},
			{Key: "event", Value: string(raw)}, {Key: "missing", Value: missing}}},
		{Key: "$setOnInsert", Value: bson.D{{Key: "received", Value: bson.DateTime(f.now().UnixMilli())}}},
	}, true)
	if err == nil {
		f.pendingIndex.add(e.ID, pendingKey{origin: origin, room: roomKey{e.Ct, e.Cid}})
	}
	f.mayPend.Store(true)
	return err
}

// checkPendingCaps refuses a new pending event of origin in e's room when
// either already has its cap. It counts in the pendingIndex, not in the
// collection.
func (f *Federation) checkPendingCaps(ctx context.Context, origin string, e *eventstore.Event) error {
	if _, err := f.pendingIndex.load(true, func() ([]pendingDoc, error) { return f.readPending(ctx, true) }); err != nil {
		return err
	}
	ofOrigin, inRoom := f.pendingIndex.counts(origin, roomKey{e.Ct, e.Cid})
	for _, c := range []struct {
		n, limit int
		what     string
	}{
		{ofOrigin, f.cfg.MaxPendingPerPeer, "from " + origin},
		{inRoom, f.cfg.MaxPendingPerRoom, "in " + e.Ct + "/" + e.Cid},
	} {
		if c.n >= c.limit {
			f.metrics.refused(origin, "too_many_pending")
			return fmt.Errorf("%w %s (at most %d)", errTooManyPending, c.what, c.limit)
		}
	}
	return nil
}

// readPending reads every pending event, or with keysOnly what the
// pendingIndex keeps of each. It is the one read of the collection that is
// not by _id: on FerretDB, and on MongoDB too (no index), it reads them
// all, which are at most MaxPendingPerPeer for each peer. It runs once at
// start (pendingIndex) and in the periodic retry, which wants every one.
func (f *Federation) readPending(ctx context.Context, keysOnly bool) ([]pendingDoc, error) {
	var find *database.Find
	if keysOnly {
		find = &database.Find{Projection: bson.D{{Key: "origin", Value: 1}, {Key: "ct", Value: 1}, {Key: "cid", Value: 1}}}
	}
	var docs []pendingDoc
	err := f.pending.FindAll(ctx, bson.D{}, find, &docs)
	return docs, err
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
		f.mayPend.Store(false) // before looking: an event kept meanwhile sets it again
		docs, err := f.pendingOf(ctx, ct, cid)
		if err != nil || f.pendingIndex.size() > 0 {
			f.mayPend.Store(true)
		}
		if err != nil {
			return err
		}
		f.retryPendingNow(ctx, docs)
		if !f.retryAgain.Swap(false) {
			return nil
		}
		ct, cid = "", ""
	}
}

// pendingOf reads the pending events of a context, or all of them when ct
// is empty. Those of a context are read by _id, the ids from the
// pendingIndex: what another process kept there is retried by the
// periodic retry, which reads them all and sets the index to them.
func (f *Federation) pendingOf(ctx context.Context, ct, cid string) ([]pendingDoc, error) {
	if ct == "" {
		return f.pendingIndex.load(false, func() ([]pendingDoc, error) { return f.readPending(ctx, false) })
	}
	if _, err := f.pendingIndex.load(true, func() ([]pendingDoc, error) { return f.readPending(ctx, true) }); err != nil {
		return nil, err
	}
	var docs []pendingDoc
	for _, id := range f.pendingIndex.inRoom(roomKey{ct, cid}) {
		var d pendingDoc
		found, err := f.pending.FindByID(ctx, id, &d)
		if err != nil {
			return nil, err
		}
		if !found { // stored or dropped by another process
			f.pendingIndex.remove(id)
			continue
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// retryPendingNow tries docs again, and drops those stored now, too old
// or unreadable.
func (f *Federation) retryPendingNow(ctx context.Context, docs []pendingDoc) {
	type key struct{ origin, ct, cid string }
	groups := map[key][]*eventstore.Event{}
	for _, d := range docs {
		if f.now().Sub(d.Received.Time()) > maxPendingAge {
			f.dropPending(ctx, d.ID)
			continue
		}
		var e eventstore.Event
		if err := json.Unmarshal([]byte(d.Event), &e); err != nil {
			f.dropPending(ctx, d.ID)
			continue
		}
		k := key{d.Origin, d.Ct, d.Cid}
		groups[k] = append(groups[k], &e)
	}
	for k, events := range groups {
		slices.SortFunc(events, func(a, b *eventstore.Event) int { return cmp.Compare(a.TS, b.TS) })
		for _, r := range f.storeEvents(ctx, k.origin, k.ct, k.cid, events) {
			if r.Status != StatusPending && r.Status != StatusRetry {
				f.dropPending(ctx, r.ID)
			}
		}
	}
}

// dropPending deletes a pending event; a failure leaves it for the next
// retry.
func (f *Federation) dropPending(ctx context.Context, id string) {
	if _, err := f.pending.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err == nil {
		f.pendingIndex.remove(id)
	}
}
