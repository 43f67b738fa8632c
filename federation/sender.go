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

	"github.com/eventstore-go/eventstore"
)

// Timing of senders.
const (
	sweepEvery        = 5 * time.Second  // look at every context of a peer, not only those known to have changed
	antiEntropyEvery  = 30 * time.Second // compare leaves with the peer
	backoffMin        = 100 * time.Millisecond
	backoffMax        = 30 * time.Second
	maxContextsAtOnce = 1000 // contexts one sweep looks at
)

func (f *Federation) sender(peer string) *sender {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.senders[peer]
}

// sender pushes this server's new events to one peer, context by context,
// each in order, in transactions of at most MaxTransactionEvents; and it
// compares leaves with the peer now and then (anti-entropy).
type sender struct {
	f     *Federation
	peer  string
	kick  chan struct{}
	lease lease

	mu    sync.Mutex
	known map[string]bool // cursor ids known to exist
	dirty map[string]bool // contexts ("ct/cid") with new events
	stats PeerStatus
}

func newSender(f *Federation, peer string) *sender {
	return &sender{f: f, peer: peer, kick: make(chan struct{}, 1), known: map[string]bool{}, dirty: map[string]bool{},
		lease: lease{f: f, peer: peer}, stats: PeerStatus{Peer: peer}}
}

func (s *sender) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// touch marks a context as having something new for the peer.
func (s *sender) touch(ct, cid string) {
	s.mu.Lock()
	s.dirty[ct+"/"+cid] = true
	s.mu.Unlock()
	s.wake()
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

func (s *sender) run(ctx context.Context) {
	defer s.lease.release()
	backoff := time.Duration(0)
	lastSweep, lastAntiEntropy := time.Time{}, s.f.now()
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
		mine, err := s.lease.hold(ctx)
		if err != nil {
			s.f.log.Debug("federation: lease", "peer", s.peer, "err", err)
		}
		if err != nil || !mine {
			s.mu.Lock()
			s.stats.Sending = false
			s.mu.Unlock()
			continue // another process sends to this peer, or the database is away
		}
		now := s.f.now()
		sweep := now.Sub(lastSweep) >= s.f.sweepEvery() || backoff > 0
		err = s.deliver(ctx, sweep)
		if sweep && err == nil {
			lastSweep = now
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, backoffMin), s.f.maxBackoff())
			s.failed(err)
			continue
		}
		recovered := backoff > 0
		backoff = 0
		if recovered || now.Sub(lastAntiEntropy) >= s.f.antiEntropyEvery() {
			// The peer is back, or it is time: fetch what either side missed.
			if err := s.f.antiEntropy(ctx, s.peer); err != nil && ctx.Err() == nil {
				s.f.log.Debug("federation: anti-entropy", "peer", s.peer, "err", err)
			}
			lastAntiEntropy = now
		}
	}
}

func (f *Federation) maxBackoff() time.Duration {
	if f.cfg.MaxBackoff > 0 {
		return f.cfg.MaxBackoff
	}
	return backoffMax
}

func (f *Federation) sweepEvery() time.Duration {
	if f.cfg.Sweep > 0 {
		return f.cfg.Sweep
	}
	return sweepEvery
}

func (f *Federation) antiEntropyEvery() time.Duration {
	if f.cfg.AntiEntropy > 0 {
		return f.cfg.AntiEntropy
	}
	return antiEntropyEvery
}

// deliver sends what is pending for the peer: in the contexts marked as
// changed, or in all of them when sweeping.
func (s *sender) deliver(ctx context.Context, sweep bool) error {
	s.mu.Lock()
	dirty := s.dirty
	s.dirty = map[string]bool{}
	s.mu.Unlock()
	var cursors []cursorDoc
	if sweep {
		var err error
		if cursors, err = s.f.cursorsOf(ctx, s.peer); err != nil {
			s.redirty(dirty)
			return err
		}
	} else {
		for key := range dirty {
			ct, cid, _ := strings.Cut(key, "/")
			var c cursorDoc
			found, err := s.f.cursors.FindByID(ctx, cursorID(s.peer, ct, cid), &c)
			if err != nil {
				s.redirty(dirty)
				return err
			}
			if found {
				cursors = append(cursors, c)
			}
		}
	}
	slices.SortFunc(cursors, func(a, b cursorDoc) int { return strings.Compare(a.ID, b.ID) })
	if len(cursors) > maxContextsAtOnce {
		cursors = cursors[:maxContextsAtOnce]
	}
	var pendingVersions int64
	var oldest time.Time
	var firstErr error
	for _, c := range cursors {
		s.rememberCursor(c.ID)
		behind, at, err := s.deliverContext(ctx, c)
		if err != nil && firstErr == nil {
			firstErr = err
			s.redirty(map[string]bool{c.Ct + "/" + c.Cid: true})
		}
		pendingVersions += behind
		if behind > 0 && (oldest.IsZero() || at.Before(oldest)) {
			oldest = at
		}
	}
	if sweep || firstErr != nil {
		s.observeOutbox(pendingVersions, oldest)
	}
	if firstErr == nil {
		s.succeeded()
	}
	return firstErr
}

func (s *sender) redirty(keys map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range keys {
		s.dirty[k] = true
	}
}

// deliverContext sends one context's new events to the peer, advancing the
// cursor after every accepted transaction. It returns how many head
// versions are left undelivered and when the oldest of them was written.
func (s *sender) deliverContext(ctx context.Context, c cursorDoc) (int64, time.Time, error) {
	f := s.f
	if c.Invite != "" {
		if err := s.invite(ctx, c); err != nil {
			return 1, f.now(), err
		}
	}
	for {
		events, through, err := f.st.Changes(ctx, c.Ct, c.Cid, c.Seq, MaxTransactionEvents, true)
		if err != nil {
			return 0, time.Time{}, err
		}
		if through == c.Seq {
			return 0, time.Time{}, nil
		}
		if len(events) > 0 {
			if err := s.send(ctx, c, events, through); err != nil {
				behind, at := s.behind(ctx, c)
				return behind, at, err
			}
		}
		c.Seq = through
		now := bson.DateTime(f.now().UnixMilli())
		_, err = f.cursors.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.ID}},
			bson.D{{Key: "$max", Value: bson.D{{Key: "seq", Value: through}}},
				{Key: "$set", Value: bson.D{{Key: "updated", Value: now}, {Key: "delivered", Value: now}}}}, false)
		if err != nil {
			return 0, time.Time{}, err
		}
	}
}

// behind says how many head versions of a context a cursor lags, and when
// the first of them was written.
func (s *sender) behind(ctx context.Context, c cursorDoc) (int64, time.Time) {
	sum, err := s.f.st.Summary(ctx, c.Ct, c.Cid)
	if err != nil || sum.Version <= c.Seq {
		return 0, time.Time{}
	}
	at, err := s.f.st.VersionTime(ctx, c.Ct, c.Cid, c.Seq+1)
	if err != nil {
		at = s.f.now()
	}
	return sum.Version - c.Seq, at
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
	start := s.f.now()
	defer func() {
		s.f.log.Debug("federation: sent a transaction", "peer", s.peer, "ct", c.Ct, "cid", c.Cid, "events", len(events),
			"through", through, "took", time.Since(start))
	}()
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
	s.mu.Lock()
	s.stats.EventsSent += int64(len(events))
	s.mu.Unlock()
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
	_, err = s.f.cursors.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.ID}}, bson.D{{Key: "$unset", Value: bson.D{{Key: "invite", Value: ""}}}}, false)
	return err
}

// antiEntropy compares the leaves of every context shared with peer and
// fetches from the peer what this server lacks. (The peer does the same
// the other way.) Two servers that missed every push still converge.
func (f *Federation) antiEntropy(ctx context.Context, peer string) error {
	cursors, err := f.cursorsOf(ctx, peer)
	if err != nil {
		return err
	}
	for _, c := range cursors {
		if f.isJoining(c.Ct, c.Cid) {
			continue // the history is still coming
		}
		var theirs leavesResponse
		path := fmt.Sprintf("%s/contexts/%s/%s/leaves", Prefix, url.PathEscape(c.Ct), url.PathEscape(c.Cid))
		if err := f.call(ctx, peer, http.MethodGet, path, nil, &theirs); err != nil {
			return err
		}
		var lacking []string
		for _, id := range theirs.Leaves {
			if _, err := f.st.Get(ctx, c.Ct, c.Cid, id); eventstore.ErrorCode(err) == eventstore.ENOTFOUND {
				lacking = append(lacking, id)
			} else if err != nil {
				return err
			}
		}
		if len(lacking) == 0 {
			continue
		}
		f.metrics.antiEntropyFetch(peer)
		fetched, err := f.fetchMissing(ctx, peer, c.Ct, c.Cid, lacking)
		if err != nil {
			return err
		}
		for _, r := range f.storeEvents(ctx, peer, c.Ct, c.Cid, fetched) {
			f.metrics.receivedEvent(peer, "anti_entropy_"+r.Status)
		}
	}
	return nil
}
