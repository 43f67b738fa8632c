package federation

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/internal/database"
)

// A cursor records, per peer and context, up to which head version this
// server's events were delivered. The head log is the outbox: what a peer
// still needs is what versions after its cursor added, so nothing is
// written per event and nothing is lost when a peer is down for long, or
// this server restarts. Delivery is at least once; receivers are
// idempotent.
type cursorDoc struct {
	ID        string        `bson:"_id"` // peer|ct/cid
	Peer      string        `bson:"peer"`
	Ct        string        `bson:"ct"`
	Cid       string        `bson:"cid"`
	Seq       int64         `bson:"seq"`              // head versions up to this one are delivered
	Invite    string        `bson:"invite,omitempty"` // a server.join event to send first, as an invitation
	Updated   bson.DateTime `bson:"updated"`
	Delivered bson.DateTime `bson:"delivered,omitempty"` // last successful delivery
}

func cursorID(peer, ct, cid string) string { return peer + "|" + ct + "/" + cid }

// cursorsOf reads the cursors of peer: the one read of the collection that
// is not by _id, so on FerretDB it reads every cursor (on MongoDB too: no
// index on peer). It stays because a sender must find the cursors other
// processes sharing the database made, and it is bounded: one small
// document per peer and shared context, read in the background by the one
// process sending to the peer, once a sweep (Config.Sweep) and once an
// anti-entropy round, never on a request's path.
func (f *Federation) cursorsOf(ctx context.Context, peer string) ([]cursorDoc, error) {
	var cursors []cursorDoc
	err := f.cursors.FindAll(ctx, bson.D{{Key: "peer", Value: peer}}, nil, &cursors)
	return cursors, err
}

// track makes sure every other participant of a context has a cursor (new
// ones start at the current version: what came before, a new participant
// fetches as history), records invitations for server.join events this
// server wrote, and wakes the senders.
func (f *Federation) track(ctx context.Context, ct, cid string, events []*eventstore.Event) error {
	sum, err := f.st.Summary(ctx, ct, cid)
	if err != nil {
		return err
	}
	invites := map[string]string{}
	for _, e := range events {
		if e.T == eventstore.TypeServerJoin && e.Src == f.cfg.Server {
			invites[eventstore.JoinedServer(e.O)] = e.ID
		}
	}
	for _, peer := range sum.Servers {
		if peer == f.cfg.Server {
			continue
		}
		s := f.sender(peer)
		if s == nil {
			continue // a participant this server has no address for
		}
		id := cursorID(peer, ct, cid)
		if !s.hasCursor(id) {
			if err := f.newCursor(ctx, id, peer, ct, cid, sum.Version, invites[peer]); err != nil {
				return err
			}
			s.rememberCursor(id)
		}
		s.touch(ct, cid)
	}
	if len(events) > 0 {
		f.log.Debug("federation: track retries pending", "ct", ct, "cid", cid)
		if err := f.retryPending(ctx, ct, cid); err != nil {
			f.log.Warn("federation: retrying pending events", "ct", ct, "cid", cid, "err", err)
		}
	}
	return nil
}

// newCursor makes the cursor of a context for a peer, if there is none,
// starting after version seq. Commits are tracked concurrently, so the one
// that makes the cursor need not be the one with the server.join that
// invited the peer: without the join in hand, it is looked up, so that the
// invitation is never lost. (Events up to seq need not be pushed: they are
// stored before the cursor exists, so before the invitation goes out and
// the peer fetches the history.)
func (f *Federation) newCursor(ctx context.Context, id, peer, ct, cid string, seq int64, invite string) error {
	var existing cursorDoc
	if found, err := f.cursors.FindByID(ctx, id, &existing); found || err != nil {
		return err
	}
	if invite == "" {
		join, err := f.st.JoinEvent(ctx, ct, cid, peer)
		switch {
		case eventstore.ErrorCode(err) == eventstore.ENOTFOUND:
		case err != nil:
			return err
		case join.Src == f.cfg.Server: // else the server that shared it invites
			invite = join.ID
		}
	}
	doc := cursorDoc{ID: id, Peer: peer, Ct: ct, Cid: cid, Seq: seq, Invite: invite, Updated: bson.DateTime(f.now().UnixMilli())}
	if err := f.cursors.InsertOne(ctx, doc); err != nil && !database.IsDuplicate(err) {
		return err
	}
	return nil
}
