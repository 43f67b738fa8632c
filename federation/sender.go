package federation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/eventstore-go/eventstore"
)

// A cursor records, per peer and context, up to which head version this
// server's events were delivered. The head log is the outbox: what a peer
// still needs is what versions after its cursor added, so nothing is
// written per event and nothing is lost when a peer is down for long, or
// this server restarts. Delivery is at least once; receivers are
// idempotent.
type cursorDoc struct {
	ID      string        `bson:"_id"` // peer|ct/cid
	Peer    string        `bson:"peer"`
	Ct      string        `bson:"ct"`
	Cid     string        `bson:"cid"`
	Seq     int64         `bson:"seq"`              // head versions up to this one are delivered
	Invite  string        `bson:"invite,omitempty"` // a server.join event to send first, as an invitation
	Updated bson.DateTime `bson:"updated"`
}

func cursorID(peer, ct, cid string) string { return peer + "|" + ct + "/" + cid }

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
			server, _ := e.O.Lookup("server").StringValueOK()
			invites[server] = e.ID
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
			doc := cursorDoc{ID: id, Peer: peer, Ct: ct, Cid: cid, Seq: sum.Version, Invite: invites[peer],
				Updated: bson.DateTime(f.now().UnixMilli())}
			if _, err := f.cursors.InsertOne(ctx, doc); err != nil && !mongo.IsDuplicateKeyError(err) {
				return err
			}
			s.rememberCursor(id)
		}
		s.wake()
	}
	if len(events) > 0 {
		if err := f.retryPending(ctx, ct, cid); err != nil {
			f.log.Warn("federation: retrying pending events", "ct", ct, "cid", cid, "err", err)
		}
	}
	return nil
}

func (f *Federation) sender(peer string) *sender {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.senders[peer]
}

// sender pushes this server's new events to one peer, one context at a
// time, in order, in transactions of at most MaxTransactionEvents.
type sender struct {
	f    *Federation
	peer string
	kick chan struct{}

	mu    sync.Mutex
	known map[string]bool // cursor ids known to exist
}

func newSender(f *Federation, peer string) *sender {
	return &sender{f: f, peer: peer, kick: make(chan struct{}, 1), known: map[string]bool{}}
}

func (s *sender) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *sender) hasCursor(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.known[id]
}

func (s *sender) rememberCursor(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known[id] = true
}

// Backoff after a failed delivery: exponential with jitter, capped.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 30 * time.Second
)

func (s *sender) run(ctx context.Context) {
	backoff := time.Duration(0)
	for {
		wait := s.f.cfg.Poll
		if backoff > 0 {
			wait = backoff/2 + rand.N(backoff/2+1) // jitter in [backoff/2, backoff]
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-s.kick:
			if backoff > 0 { // a failing peer is not retried faster because of new work
				select {
				case <-ctx.Done():
					timer.Stop()
					return
				case <-timer.C:
				}
			}
		case <-timer.C:
		}
		timer.Stop()
		if err := s.deliver(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, backoffMin), backoffMax)
			s.f.log.Debug("federation: delivery failed", "peer", s.peer, "retry in", backoff, "err", err)
			continue
		}
		backoff = 0
	}
}

// deliver sends everything pending for the peer, context by context.
func (s *sender) deliver(ctx context.Context) error {
	cur, err := s.f.cursors.Find(ctx, bson.D{{Key: "peer", Value: s.peer}})
	if err != nil {
		return err
	}
	var cursors []cursorDoc
	if err := cur.All(ctx, &cursors); err != nil {
		return err
	}
	slices.SortFunc(cursors, func(a, b cursorDoc) int { return strings.Compare(a.ID, b.ID) })
	var firstErr error
	for _, c := range cursors {
		s.rememberCursor(c.ID)
		if err := s.deliverContext(ctx, c); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// deliverContext sends one context's new events to the peer, advancing the
// cursor after every accepted transaction.
func (s *sender) deliverContext(ctx context.Context, c cursorDoc) error {
	f := s.f
	if c.Invite != "" {
		if err := s.invite(ctx, c); err != nil {
			return err
		}
	}
	for {
		events, through, err := f.st.Changes(ctx, c.Ct, c.Cid, c.Seq, MaxTransactionEvents,
			func(e *eventstore.Event) bool { return e.Src == f.cfg.Server })
		if err != nil {
			return err
		}
		if through == c.Seq {
			return nil
		}
		if len(events) > 0 {
			if err := s.send(ctx, c, events, through); err != nil {
				return err
			}
		}
		c.Seq = through
		_, err = f.cursors.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.ID}},
			bson.D{{Key: "$max", Value: bson.D{{Key: "seq", Value: through}}},
				{Key: "$set", Value: bson.D{{Key: "updated", Value: bson.DateTime(f.now().UnixMilli())}}}})
		if err != nil {
			return err
		}
	}
}

// send pushes one transaction. Its id derives from what it carries, so a
// transaction sent again after a restart is recognized by the peer.
func (s *sender) send(ctx context.Context, c cursorDoc, events []*eventstore.Event, through int64) error {
	t := transaction{Origin: s.f.cfg.Server}
	for _, e := range events {
		raw, err := wireEvent(e)
		if err != nil {
			return err
		}
		t.Events = append(t.Events, raw)
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%d|%d", c.Ct, c.Cid, c.Seq, through))
	txn := hex.EncodeToString(sum[:16])
	var res transactionResult
	if err := s.f.call(ctx, s.peer, http.MethodPut, Prefix+"/send/"+txn, t, &res); err != nil {
		s.f.metrics.sentEvents(s.peer, "failed", len(events))
		return err
	}
	for _, r := range res.Results {
		s.f.metrics.sentEvents(s.peer, r.Status, 1)
		if r.Status == StatusRetry || r.Status == StatusForbidden {
			return fmt.Errorf("%s answered %s for event %s: try again later", s.peer, r.Status, r.ID)
		}
	}
	return nil
}

// invite tells the peer about the server.join event that shared the
// context with it; the peer then fetches the history.
func (s *sender) invite(ctx context.Context, c cursorDoc) error {
	e, err := s.f.st.Get(ctx, c.Ct, c.Cid, c.Invite)
	if err != nil {
		return err
	}
	raw, err := wireEvent(e)
	if err != nil {
		return err
	}
	path := fmt.Sprintf("%s/contexts/%s/%s/invite", Prefix, url.PathEscape(c.Ct), url.PathEscape(c.Cid))
	if err := s.f.call(ctx, s.peer, http.MethodPost, path, inviteRequest{Event: json.RawMessage(raw)}, nil); err != nil {
		return err
	}
	_, err = s.f.cursors.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.ID}}, bson.D{{Key: "$unset", Value: bson.D{{Key: "invite", Value: ""}}}})
	return err
}
