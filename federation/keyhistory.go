package federation

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/internal/database"
	"github.com/eventstore-go/eventstore/migrations"
)

// peerKeyDoc is a key of another server, in migrations.PeerKeysCollection:
// recorded when the directory first fetches it and kept for good, so that
// the events it signed still verify once its server stops publishing it.
type peerKeyDoc struct {
	ID      string         `bson:"_id"` // "<server>/<keyId>"
	Server  string         `bson:"server"`
	KeyID   string         `bson:"keyId"`
	Public  []byte         `bson:"public"`
	Seen    bson.DateTime  `bson:"seen"`              // when first fetched
	Expired *bson.DateTime `bson:"expired,omitempty"` // the earliest retirement the server reported
}

// recordTimeout bounds recording the keys of one fetch.
const recordTimeout = 10 * time.Second

// record keeps the keys just fetched from server in the peer key history.
// A failure is logged: the fetch still counts.
func (d *directory) record(ctx context.Context, server string, keys []*Key, now time.Time) {
	if d.peerKeys == nil {
		return
	}
	// Not cancelled with the request that made the directory fetch.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := recordPeerKeys(ctx, d.peerKeys, server, keys, now); err != nil {
		d.log.Warn("federation: recording the keys of a peer", "peer", server, "err", err)
	}
}

// recordPeerKeys inserts the keys of server not recorded yet, and keeps
// the earliest expiry reported of each ($min sets a missing one, and
// lowers a later one, in one update by _id). It never removes a key.
func recordPeerKeys(ctx context.Context, c *database.Collection, server string, keys []*Key, now time.Time) error {
	for _, k := range keys {
		doc := peerKeyDoc{ID: server + "/" + k.ID, Server: server, KeyID: k.ID, Public: k.Public,
			Seen: bson.DateTime(now.UnixMilli())}
		if !k.Expired.IsZero() {
			at := bson.DateTime(k.Expired.UnixMilli())
			doc.Expired = &at
		}
		err := c.InsertOne(ctx, doc)
		if database.IsDuplicate(err) { // known: at most an earlier expiry
			err = nil
			if doc.Expired != nil {
				_, err = c.UpdateOne(ctx, bson.D{{Key: "_id", Value: doc.ID}},
					bson.D{{Key: "$min", Value: bson.D{{Key: "expired", Value: *doc.Expired}}}}, false)
			}
		}
		if err != nil {
			return fmt.Errorf("key %s of %s: %w", k.ID, server, err)
		}
	}
	return nil
}

// KeyHistory is every key this server knows of every server, its own
// included, with the time each was retired: what verifies the signatures
// of stored events, offline and after rotations.
type KeyHistory struct {
	db    *database.Conn
	self  string
	peers []Peer
	known atomic.Pointer[map[serverKey]knownKey] // replaced whole by Load
}

type serverKey struct{ server, id string }

// knownKey is a public key and the time (ms) from which it verifies no
// event: math.MaxInt64 for a key never retired.
type knownKey struct {
	public ed25519.PublicKey
	until  int64
}

// LoadKeyHistory reads this server's own keys (ServerKeysCollection:
// current, and old with expired) under the name self, the recorded peer
// keys (PeerKeysCollection), and the keys pinned in peers (never retired;
// for a peer with pins, only they count, recorded keys are ignored).
func LoadKeyHistory(ctx context.Context, db *database.Conn, self string, peers []Peer) (*KeyHistory, error) {
	h := &KeyHistory{db: db, self: self, peers: slices.Clone(peers)}
	if err := h.Load(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

// Load re-reads the collections; it is safe while VerifyEvent runs. A key
// known from several places is retired at the latest of its retirements
// (never, if any has it current). It reads both whole: a few keys per
// server, at start and before an audit.
func (h *KeyHistory) Load(ctx context.Context) error {
	known := map[serverKey]knownKey{}
	add := func(server string, k *Key) {
		until := int64(math.MaxInt64)
		if !k.Expired.IsZero() {
			until = k.Expired.UnixMilli()
		}
		sk := serverKey{server, k.ID}
		if prev, ok := known[sk]; !ok || prev.until < until {
			known[sk] = knownKey{public: k.Public, until: until}
		}
	}
	var own []keyDoc
	if err := h.db.Collection(migrations.ServerKeysCollection).FindAll(ctx, bson.D{}, nil, &own); err != nil {
		return fmt.Errorf("this server's keys: %w", err)
	}
	for _, d := range own {
		k, err := d.key()
		if err != nil {
			return err
		}
		add(h.self, k)
	}
	var recorded []peerKeyDoc
	if err := h.db.Collection(migrations.PeerKeysCollection).FindAll(ctx, bson.D{}, nil, &recorded); err != nil {
		return fmt.Errorf("the peers' keys: %w", err)
	}
	pinned := map[string]bool{}
	for _, p := range h.peers {
		pinned[p.Name] = len(p.Pinned) > 0
	}
	for _, d := range recorded {
		if pinned[d.Server] {
			continue // as in federation, a peer's pins are the only keys trusted for it
		}
		k, err := keyDoc{KeyID: d.KeyID, Public: d.Public, Expired: d.Expired}.key()
		if err != nil {
			return fmt.Errorf("%s: %w", d.Server, err)
		}
		add(d.Server, k)
	}
	for _, p := range h.peers {
		for _, pin := range p.Pinned {
			k, err := keyDoc{KeyID: pin.ID, Public: pin.Public}.key() // never retired
			if err != nil {
				return fmt.Errorf("pinned for %s: %w", p.Name, err)
			}
			add(p.Name, k)
		}
	}
	h.known.Store(&known)
	return nil
}

func msTime(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") }

// RetiredKeyGrace is how long after its retirement a key still verifies
// events dated then. An event's ts is not the wall clock of its signing:
// a local event is dated at least 1 ms after its parents, which a peer's
// clock may have put ahead, and processes sharing a database restart onto
// a new key one after the other. Federation refuses events dated more than
// this ahead of the receiver's clock.
const RetiredKeyGrace = 5 * time.Minute

// VerifyEvent checks that sigs hold a valid signature over event id by a
// key that server src had at ts (ms): any known key's, unless retired at
// or before ts - RetiredKeyGrace. The error is ENOTFOUND when no key named in sigs is known
// of src, else EINVALIDDATA (not signed, a bad signature by a known key,
// or only retired keys). It is safe for concurrent use.
func (h *KeyHistory) VerifyEvent(src, id string, ts int64, sigs map[string]string) error {
	if len(sigs) == 0 {
		return eventstore.Errorf(eventstore.EINVALIDDATA, "event %s from %s is not signed", id, src)
	}
	var known map[serverKey]knownKey
	if p := h.known.Load(); p != nil {
		known = *p
	}
	var bad, retired string // the least such key id, for a stable message
	var badErr error
	var retiredAt int64
	for kid, s := range sigs {
		k, ok := known[serverKey{src, kid}]
		switch {
		case !ok:
		case ts-RetiredKeyGrace.Milliseconds() >= k.until:
			if retired == "" || kid < retired {
				retired, retiredAt = kid, k.until
			}
		default:
			err := checkEventSig(k.public, id, s)
			if err == nil {
				return nil
			}
			if bad == "" || kid < bad {
				bad, badErr = kid, err
			}
		}
	}
	switch {
	case bad != "":
		return eventstore.Errorf(eventstore.EINVALIDDATA, "event %s from %s: the signature by key %s %v", id, src, bad, badErr)
	case retired != "":
		return eventstore.Errorf(eventstore.EINVALIDDATA, "event %s from %s at %s: signed by key %s, retired at %s",
			id, src, msTime(ts), retired, msTime(retiredAt))
	}
	ids := make([]string, 0, len(sigs))
	for kid := range sigs {
		ids = append(ids, kid)
	}
	slices.Sort(ids)
	return eventstore.Errorf(eventstore.ENOTFOUND, "event %s from %s: no key of %s is known among %s",
		id, src, src, strings.Join(ids, ", "))
}
