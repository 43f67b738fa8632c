package federation

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/internal/database"
)

// Leases keep to one sender per peer when several eventstore processes
// share a database. A lease is a document "<peer>#<epoch>" naming its
// holder and when it expires; only inserts are atomic on every backend, so
// taking an expired lease over means inserting the next epoch, which at
// most one process can. The holder renews its own epoch; before it sends,
// it checks that no later epoch exists. A holder stalled past its expiry
// may overlap with its successor for one delivery (and a holder looks at
// the lease only every leaseCheck), which receivers absorb (transactions
// are idempotent).
const (
	leaseTTL   = 15 * time.Second
	leaseRenew = 5 * time.Second
	leaseCheck = time.Second // a holder looks at the lease documents at most this often
)

type leaseDoc struct {
	ID      string        `bson:"_id"` // leaseID(peer, epoch)
	Peer    string        `bson:"peer"`
	Epoch   int64         `bson:"epoch"`
	Holder  string        `bson:"holder"`
	Expires bson.DateTime `bson:"expires"`
}

func leaseID(peer string, epoch int64) string { return fmt.Sprintf("%s#%d", peer, epoch) }

// lease is one process's view of the lease on a peer.
type lease struct {
	f       *Federation
	peer    string
	epoch   int64     // the newest epoch seen
	renewed time.Time // when it last renewed
	held    time.Time // when it last found that it holds the lease
}

// hold reports whether this process holds the lease now, taking it over
// if it is free or expired and renewing it when due.
func (l *lease) hold(ctx context.Context) (bool, error) {
	f := l.f
	if !l.held.IsZero() && f.now().Sub(l.held) < leaseCheck {
		return true, nil
	}
	l.held = time.Time{}
	latest, err := l.latest(ctx)
	if err != nil {
		return false, err
	}
	now := f.now()
	switch {
	case latest != nil && latest.Holder == f.holder && now.Before(latest.Expires.Time()):
		if now.Sub(l.renewed) >= leaseRenew {
			_, err := f.leases.UpdateOne(ctx, bson.D{{Key: "_id", Value: latest.ID}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "expires", Value: bson.DateTime(now.Add(leaseTTL).UnixMilli())}}}}, false)
			if err != nil {
				return false, err
			}
			l.renewed = now
			// A successor may have taken over while this one was late.
			if next, err := l.read(ctx, l.epoch+1); err != nil || next != nil {
				return false, err
			}
		}
		l.held = now
		return true, nil
	case latest != nil && now.Before(latest.Expires.Time()):
		return false, nil // someone else holds it
	}
	next := int64(1)
	if latest != nil {
		next = latest.Epoch + 1
	}
	doc := leaseDoc{ID: leaseID(l.peer, next), Peer: l.peer, Epoch: next, Holder: f.holder,
		Expires: bson.DateTime(now.Add(leaseTTL).UnixMilli())}
	if err := f.leases.InsertOne(ctx, doc); database.IsDuplicate(err) {
		l.epoch = next
		return false, nil
	} else if err != nil {
		return false, err
	}
	l.epoch, l.renewed, l.held = next, now, now
	f.log.Info("federation: sending to peer from this process", "peer", l.peer, "epoch", next)
	return true, nil
}

// latest finds the newest lease epoch, probing forward from the last seen.
func (l *lease) latest(ctx context.Context) (*leaseDoc, error) {
	var last *leaseDoc
	for e := max(l.epoch, 1); ; e++ {
		d, err := l.read(ctx, e)
		if err != nil {
			return nil, err
		}
		if d == nil {
			if last == nil && l.epoch > 1 {
				l.epoch = 0 // the leases were wiped: start over
				return l.latest(ctx)
			}
			return last, nil
		}
		last, l.epoch = d, e
	}
}

func (l *lease) read(ctx context.Context, epoch int64) (*leaseDoc, error) {
	var d leaseDoc
	found, err := l.f.leases.FindByID(ctx, leaseID(l.peer, epoch), &d)
	if !found || err != nil {
		return nil, err
	}
	return &d, nil
}

// release gives the lease up, if this process holds it, so that another
// process (this one restarted, say) need not wait for it to expire.
func (l *lease) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.held = time.Time{}
	d, err := l.read(ctx, l.epoch)
	if err != nil || d == nil || d.Holder != l.f.holder {
		return
	}
	_, _ = l.f.leases.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "expires", Value: bson.DateTime(l.f.now().UnixMilli())}}}}, false)
}
