package federation

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/internal/database"
	"github.com/eventstore-go/eventstore/internal/httperr"
	"github.com/eventstore-go/eventstore/migrations"
)

// DefaultMaxSkew is how far ahead of the receiver's clock a remote event
// may be dated unless configured otherwise; RetiredKeyGrace is the same.
const DefaultMaxSkew = 5 * time.Minute

// Config is what the federation needs.
type Config struct {
	Server string         // this server's name: the src of its events
	Store  Store          // the events: a *store.Store (store.go)
	DB     *database.Conn // where the federation keeps its cursors, transactions and pending events
	Keys   *Keyring
	Peers  []Peer
	Logger *slog.Logger
	// Client makes the outbound requests; its Transport may be replaced
	// (tests inject faults). A default with timeouts when nil.
	Client *http.Client
	Now    func() time.Time
	// Poll is how often an idle sender wakes (1s when 0); Sweep how often
	// it looks at every context it serves, not only those it knows changed
	// (5s); AntiEntropy how often it compares leaves with its peer (30s).
	Poll, Sweep, AntiEntropy time.Duration
	// MaxBackoff caps the wait between deliveries to a failing peer (30s).
	MaxBackoff time.Duration
	// RateLimit bounds the requests a peer may make per second (burst
	// twice that); 0 means 200.
	RateLimit float64
	// BodyTimeout bounds reading one request's body (30s when 0).
	BodyTimeout time.Duration
	// MaxSkew is how far ahead of this server's clock a remote event may
	// be dated (DefaultMaxSkew when 0); later ones are refused.
	MaxSkew time.Duration
	// MaxPendingPerPeer and MaxPendingPerRoom cap the events kept waiting
	// for their parents (1,000 and 500 when 0): beyond, a peer's event is
	// answered "retry" and sent again later.
	MaxPendingPerPeer, MaxPendingPerRoom int
	// Metrics, when set, is told about what is sent and received.
	Metrics *Metrics
}

// Federation is this server's side of federation: its HTTP endpoints
// (Handler), the senders that push new events to peers, and sharing.
type Federation struct {
	cfg     Config
	st      Store
	dir     *directory
	log     *slog.Logger
	now     func() time.Time
	metrics *Metrics
	errs    httperr.Adapter // answers, logs and counts failed requests

	cursors, txns, pending, leases *database.Collection
	pendingIndex                   *pendingIndex // the pending events by room and by origin (pendingindex.go)

	replays  *replayRecord
	holder   string // this process, in leases
	limits   *rateLimits
	failures *failureLimits

	retryMu    sync.Mutex // one retry of pending events at a time
	retryAgain atomic.Bool
	// mayPend is false only when this process found no pending events (in
	// its pendingIndex) and kept none since: commits then need not look. (The periodic retry
	// always looks, for what other processes keep.)
	mayPend atomic.Bool

	mu      sync.Mutex
	senders map[string]*sender // by peer
	joining map[string]bool    // contexts being fetched from a peer, by contextKey
	// run is the context given to Start, which Close cancels: what the
	// federation does in the background (senders, maintenance, joins)
	// runs on it. Nil before Start.
	run    context.Context
	cancel context.CancelFunc

	wg sync.WaitGroup
}

// New sets the federation up; Start runs its senders.
func New(cfg Config) (*Federation, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = 30 * time.Second
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = DefaultMaxSkew
	}
	if cfg.MaxPendingPerPeer <= 0 {
		cfg.MaxPendingPerPeer = 1000
	}
	if cfg.MaxPendingPerRoom <= 0 {
		cfg.MaxPendingPerRoom = 500
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Keys == nil || cfg.Keys.Current == nil || cfg.Keys.Current.Private == nil {
		return nil, errors.New("federation: no signing key")
	}
	peers := map[string]Peer{}
	for _, p := range cfg.Peers {
		if p.Name == cfg.Server {
			return nil, fmt.Errorf("federation: peer %s is this server", p.Name)
		}
		peers[p.Name] = p
	}
	f := &Federation{
		cfg: cfg, st: cfg.Store, log: cfg.Logger, now: cfg.Now, metrics: cfg.Metrics,
		dir: &directory{self: cfg.Server, ring: cfg.Keys, peers: peers, client: cfg.Client, now: cfg.Now,
			peerKeys: cfg.DB.Collection(migrations.PeerKeysCollection), log: cfg.Logger, cache: map[string]*cachedKeys{}},
		cursors:  cfg.DB.Collection(migrations.CursorsCollection),
		txns:     cfg.DB.Collection(migrations.TransactionsCollection),
		pending:  cfg.DB.Collection(migrations.PendingCollection),
		leases:   cfg.DB.Collection(migrations.LeasesCollection),
		replays:  &replayRecord{c: cfg.DB.Collection(migrations.ReplaysCollection)},
		holder:   processID(),
		limits:   newRateLimits(cfg.RateLimit),
		failures: newFailureLimits(),
		senders:  map[string]*sender{},
		joining:  map[string]bool{},
	}
	f.pendingIndex = newPendingIndex()
	if f.metrics == nil {
		f.metrics = NewMetrics(nil)
	}
	f.errs = httperr.Adapter{Log: f.log, Count: f.metrics.problem}
	f.mayPend.Store(true)
	return f, nil
}

// Start runs a sender for every peer until Close, or until ctx ends; so do
// the joins of contexts shared with this server.
func (f *Federation) Start(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ctx, f.cancel = context.WithCancel(ctx)
	f.run = ctx
	for name := range f.dir.peers {
		s := newSender(f, name)
		f.senders[name] = s
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			s.run(ctx)
		}()
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.maintain(ctx)
	}()
}

// retryPendingEvery is how often pending events are tried again.
const retryPendingEvery = 5 * time.Second

// maintain retries pending events, and now and then forgets old
// transactions, until ctx ends.
func (f *Federation) maintain(ctx context.Context) {
	t := time.NewTicker(retryPendingEvery)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := f.retryPending(ctx, "", ""); err != nil && ctx.Err() == nil {
			f.log.Warn("federation: retrying pending events", "err", err)
		}
		if err := f.replays.prune(ctx, f.now()); err != nil && ctx.Err() == nil {
			f.log.Warn("federation: forgetting old request signatures", "err", err)
		}
		if time.Since(lastPrune) >= pruneEvery {
			lastPrune = time.Now()
			if n, err := f.PruneTransactions(ctx); err != nil && ctx.Err() == nil {
				f.log.Warn("federation: forgetting old transactions", "err", err)
			} else if n > 0 {
				f.log.Debug("federation: forgot old transactions", "count", n)
			}
		}
	}
}

// Close stops the senders and the joins, and waits for them.
func (f *Federation) Close() {
	f.mu.Lock()
	if f.cancel != nil {
		f.cancel() // under mu: no join starts after this
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// Sign is the store's signing hook: this server's signature over an id.
func (f *Federation) Sign(id string) map[string]string { return SignEvent(f.cfg.Keys.Current, id) }

// Committed is the store's commit hook: it makes sure every other
// participant of the context has a cursor and wakes their senders, and
// retries events waiting for these as parents.
func (f *Federation) Committed(ct, cid string, events []*eventstore.Event) {
	if f.isJoining(ct, cid) {
		return // the join tracks the context once the history is in
	}
	f.wg.Add(1)
	go func() { // not on the writer's path
		defer f.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f.track(ctx, ct, cid, events); err != nil {
			f.log.Warn("federation: tracking a commit", "ct", ct, "cid", cid, "err", err)
		}
	}()
}

// Share shares a context with a configured peer: a server.join event in
// the context, then an invitation, which the peer answers by fetching the
// history. It returns the server.join event (existed when the peer already
// took part).
func (f *Federation) Share(ctx context.Context, ct, cid, server string) (*eventstore.Event, bool, error) {
	if server == f.cfg.Server {
		return nil, false, eventstore.Errorf(eventstore.EINVALID, "%s is this server", server)
	}
	if _, ok := f.dir.peer(server); !ok {
		return nil, false, eventstore.Errorf(eventstore.EINVALID, "unknown server %s: configure it as a peer first (--peer)", server)
	}
	sum, err := f.st.Summary(ctx, ct, cid)
	if err != nil {
		return nil, false, err
	}
	if slices.Contains(sum.Servers, server) {
		return nil, true, nil
	}
	e, err := f.st.Share(ctx, ct, cid, server)
	if err != nil {
		return nil, false, err
	}
	// The invitation goes out with the cursor (see track), retried until
	// the peer accepts it.
	return e, false, nil
}

// participant reports whether server takes part in context ct/cid here.
func (f *Federation) participant(ctx context.Context, ct, cid, server string) (bool, error) {
	sum, err := f.st.Summary(ctx, ct, cid)
	if eventstore.ErrorCode(err) == eventstore.ENOTFOUND {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.Contains(sum.Servers, server), nil
}

// processID names this process in leases: host, pid and a random part.
func processID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b)
}
