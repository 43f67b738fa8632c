package federation

import (
	"context"
	"encoding/json"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/internal/database"
)

// keepTransactions is how long the answer to a received transaction is
// remembered. Senders repeat a transaction after a failure or a restart,
// within minutes; one repeated after that is stored again, which is a
// no-op for events already stored.
const keepTransactions = 24 * time.Hour

// pruneEvery is how often old transactions are forgotten.
const pruneEvery = time.Hour

// PruneTransactions forgets the answers to transactions received more
// than a day ago, and says how many it forgot. Its filter reads every
// answer kept on FerretDB (and on MongoDB, without an index on at): a
// day's transactions, once every pruneEvery, in the background.
func (f *Federation) PruneTransactions(ctx context.Context) (int64, error) {
	cutoff := bson.DateTime(f.now().Add(-keepTransactions).UnixMilli())
	return f.txns.DeleteMany(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: cutoff}}}})
}

// seenTransaction returns the answer to a transaction already received.
func (f *Federation) seenTransaction(ctx context.Context, origin, txn string) (*transactionResult, bool, error) {
	var d struct {
		Results string `bson:"results"`
	}
	found, err := f.txns.FindByID(ctx, origin+"/"+txn, &d)
	if !found || err != nil {
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
	err = f.txns.InsertOne(ctx, bson.D{{Key: "_id", Value: origin + "/" + txn}, {Key: "results", Value: string(raw)},
		{Key: "at", Value: bson.DateTime(f.now().UnixMilli())}})
	if database.IsDuplicate(err) {
		return nil
	}
	return err
}
