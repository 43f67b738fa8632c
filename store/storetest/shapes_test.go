package storetest

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/internal/database"
)

// TestCommandShapes: the check passes commands that carry their
// collection's shard key and those of a named scatter operation, and
// records every other one on a collection meant to be sharded.
func TestCommandShapes(t *testing.T) {
	cmd := func(d bson.D) bson.Raw {
		raw, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	id := bson.D{{Key: "_id", Value: "x"}}
	idCid := bson.D{{Key: "_id", Value: "x"}, {Key: "cid", Value: "r1"}}
	scatter := database.Scatter(context.Background(), database.ScatterFullAudit)
	for _, c := range []struct {
		name   string
		ctx    context.Context
		cmd    bson.D
		broken bool
	}{
		{"find", nil, bson.D{{Key: "find", Value: "chat_events"}, {Key: "filter", Value: idCid}}, false},
		{"find", nil, bson.D{{Key: "find", Value: "chat_events"}, {Key: "filter", Value: id}}, true},
		{"find", scatter, bson.D{{Key: "find", Value: "chat_events"}, {Key: "filter", Value: bson.D{}}}, false},
		{"find", nil, bson.D{{Key: "find", Value: "chat_events"}, {Key: "filter", Value: bson.D{{Key: "cid", Value: bson.D{{Key: "$gt", Value: "a"}}}}}}, true},
		{"find", nil, bson.D{{Key: "find", Value: "chat_edits"}, {Key: "filter", Value: id}}, false},
		{"find", nil, bson.D{{Key: "find", Value: "federation_pending"}, {Key: "filter", Value: bson.D{}}}, false}, // not sharded
		{"update", nil, bson.D{{Key: "update", Value: "chat_events"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: idCid}}, bson.D{{Key: "q", Value: id}}}}}, true},
		{"update", nil, bson.D{{Key: "update", Value: "chat_events"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: idCid}}}}}, false},
		{"delete", nil, bson.D{{Key: "delete", Value: "contexts"}, {Key: "deletes", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "ct", Value: "chat"}}}}}}}, true},
		{"insert", nil, bson.D{{Key: "insert", Value: "chat_events"}, {Key: "documents", Value: bson.A{idCid, id}}}, true},
		{"insert", nil, bson.D{{Key: "insert", Value: "chat_events"}, {Key: "documents", Value: bson.A{idCid}}}, false},
		{"aggregate", nil, bson.D{{Key: "aggregate", Value: "chat_events"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "cid", Value: bson.D{{Key: "$in", Value: bson.A{"a", "b"}}}}}}}}}}, false},
	} {
		s := &Shapes{broken: map[string]int{}}
		ctx := c.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		s.Check(ctx, c.name, cmd(c.cmd))
		if got := len(s.broken) > 0; got != c.broken {
			t.Errorf("%v: broken %v, want %v (%v)", c.cmd, got, c.broken, s.broken)
		}
	}
}
