package federation

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
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
