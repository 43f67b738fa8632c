package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/eventstore-go/eventstore/store"
)

// checkpoint is how far the audit verified a context: its head version,
// event count and leaves then. Incremental runs check what came after, and
// that these leaves are still in the history.
type checkpoint struct {
	ID         string        `bson:"_id"` // ct/cid
	Ct         string        `bson:"ct"`
	Cid        string        `bson:"cid"`
	Seq        int64         `bson:"seq"`
	Count      int64         `bson:"count"`
	Leaves     []string      `bson:"leaves"`
	LeavesHash string        `bson:"leavesHash"` // SHA-256 of the sorted leaves, joined by ","
	At         bson.DateTime `bson:"at"`
}

func checkpointID(ct, cid string) string { return ct + "/" + cid }

func leavesHash(leaves []string) string {
	sum := sha256.Sum256([]byte(strings.Join(leaves, ",")))
	return hex.EncodeToString(sum[:])
}

// checkpoint reads the checkpoint of ct/cid; nil if there is none.
func (a *Auditor) checkpoint(ctx context.Context, ct, cid string) (*checkpoint, error) {
	var cp checkpoint
	err := a.checkpoints.FindOne(ctx, bson.D{{Key: "_id", Value: checkpointID(ct, cid)}}).Decode(&cp)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoint of %s/%s: %w", ct, cid, err)
	}
	return &cp, nil
}

func (a *Auditor) saveCheckpoint(ctx context.Context, ct, cid string, h *store.HeadVersion) error {
	cp := checkpoint{ID: checkpointID(ct, cid), Ct: ct, Cid: cid, Seq: h.Seq, Count: h.Count, Leaves: h.Leaves,
		LeavesHash: leavesHash(h.Leaves), At: bson.DateTime(a.now().UnixMilli())}
	_, err := a.checkpoints.ReplaceOne(ctx, bson.D{{Key: "_id", Value: cp.ID}}, cp, options.Replace().SetUpsert(true))
	return err
}

// checkpointed lists the contexts of type ct in the registry and reports
// whether all of them have a checkpoint.
func (a *Auditor) checkpointed(ctx context.Context, ct string) ([]string, bool, error) {
	cids, err := a.src.Contexts(ctx, ct)
	if err != nil {
		return nil, false, err
	}
	for _, cid := range cids {
		cp, err := a.checkpoint(ctx, ct, cid)
		if err != nil {
			return nil, false, err
		}
		if cp == nil {
			return nil, false, nil
		}
	}
	slices.Sort(cids)
	return cids, true, nil
}
