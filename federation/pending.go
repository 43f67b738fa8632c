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
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/eventstore-go/eventstore"
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
	err = f.pending.FindOne(ctx, bson.D{{Key: "_id", Value: e.ID}}).Decode(&known)
	if errors.Is(err, mongo.ErrNoDocuments) {
		if err := f.checkPendingCaps(ctx, origin, e); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	_, err = f.pending.UpdateOne(ctx, bson.D{{Key: "_id", Value: e.ID}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "ct", Value: e.Ct}, {Key: "cid", Value: e.Cid}, {Key: "origin", Value: origin},
			{Key: "event", Value: string(raw)}, {Key: "missing", Value: missing}}},
		{Key: "$setOnInsert", Value: bson.D{{Key: "received", Value: bson.DateTime(f.now().UnixMilli())}}},
	}, options.UpdateOne().SetUpsert(true))
	f.mayPend.Store(true)
	return err
}

// checkPendingCaps refuses a new pending event of origin in e's room when
// either already has its cap.
func (f *Federation) checkPendingCaps(ctx context.Context, origin string, e *eventstore.Event) error {
	for _, c := range []struct {
		filter bson.D
		limit  int
		what   string
	}{
		{bson.D{{Key: "origin", Value: origin}}, f.cfg.MaxPendingPerPeer, "from " + origin},
		{bson.D{{Key: "ct", Value: e.Ct}, {Key: "cid", Value: e.Cid}}, f.cfg.MaxPendingPerRoom, "in " + e.Ct + "/" + e.Cid},
	} {
		n, err := f.pending.CountDocuments(ctx, c.filter, options.Count().SetLimit(int64(c.limit)))
		if err != nil {
			return err
		}
		if n >= int64(c.limit) {
			f.metrics.refused(origin, "too_many_pending")
			return fmt.Errorf("%w %s (at most %d)", errTooManyPending, c.what, c.limit)
		}
	}
	return nil
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
