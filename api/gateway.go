package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/internal/httperr"
)

// The WebSocket gateway for chat clients (GET /api/v1/gateway): the
// contract is docs/api.md, "Gateway (WebSocket) for chat clients".
// One connection is a reader (the request's goroutine), which also writes
// the answers, and a stream.Follow per subscription, which writes its
// dispatches; the hub queues what a subscription has yet to write and
// never waits for it. A subscription that falls behind by the hub's
// buffer closes the connection with slow_consumer and the cursors to
// resume from: never a gap, never a blocked writer.

// Gateway opcodes.
const (
	opHello        = 0
	opIdentify     = 1
	opReady        = 2
	opInvalid      = 3
	opDispatch     = 4
	opHeartbeat    = 5
	opHeartbeatAck = 6
	opAck          = 7
	opError        = 8
)

// Gateway limits and timings (GatewayConfig overrides them).
const (
	defaultHeartbeat    = 30 * time.Second
	identifyTimeout     = 10 * time.Second
	gatewayWriteTimeout = 10 * time.Second // for one write to the socket
)

// GatewayConfig sets the gateway's timing and limits; zero values take
// the defaults (DefaultGateway).
type GatewayConfig struct {
	Heartbeat time.Duration // the interval announced in hello; two missed close the connection
	// MaxPacket bounds a client packet (bytes), MaxSubscriptions the
	// subscriptions of one connection, MaxConnections the connections one
	// token (one client token's subject, or one service token) may hold
	// (a server without tokens caps none),
	// and DispatchRate the client dispatches per second of a connection
	// (bursts of twice that; beyond, error rate_limited).
	MaxPacket        int64
	MaxSubscriptions int
	MaxConnections   int
	DispatchRate     float64
	// Closing, when it is closed, has every connection closed with a close
	// frame ("going away"): the server is shutting down.
	Closing <-chan struct{}
	// Closed, if set, is called once every connection open when Closing
	// was closed has been closed.
	Closed func()
}

// packet is one gateway frame.
type packet struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d,omitempty"`
	TS int64           `json:"ts,omitempty"`
	T  string          `json:"t,omitempty"`
	S  string          `json:"s,omitempty"`
}

type subscription struct {
	Ct   string `json:"ct"`
	Cid  string `json:"cid"`
	From string `json:"from,omitempty"`
}

type identify struct {
	ClientID  string         `json:"client_id"`
	AppName   string         `json:"application_name"`
	Token     string         `json:"token"`
	Subscribe []subscription `json:"subscribe"`
	T         string         `json:"t"`
}

// gatewayFailure closes a connection with an invalid packet.
type gatewayFailure struct{ code, reason string }

func (f *gatewayFailure) Error() string { return f.code + ": " + f.reason }

func invalid(code, reason string) error { return &gatewayFailure{code: code, reason: reason} }

// handleGateway upgrades the request and serves the connection.
func (s *server) handleGateway(w http.ResponseWriter, r *http.Request) {
	if s.hub == nil {
		s.errs.Fail(w, r, eventstore.Errorf(eventstore.EUNAVAILABLE, "the gateway needs live streams, which are not enabled on this server"))
		return
	}
	// Pages of the allowed origins may open the gateway (CORS); others
	// are refused here, with a problem that says why, rather than by the
	// WebSocket library's same-origin check.
	var accept *websocket.AcceptOptions
	if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(r, origin) {
		if !s.origins.Allows(origin) {
			s.errs.Fail(w, r, eventstore.Errorf(eventstore.EFORBIDDEN,
				"pages of origin %s may not open the gateway; its operator allows origins with --cors-origins", origin))
			return
		}
		accept = &websocket.AcceptOptions{InsecureSkipVerify: true} // checked above
	}
	hw := &holdingWriter{ResponseWriter: w}
	c, err := websocket.Accept(hw, r, accept)
	if err != nil {
		return // Accept answered the request
	}
	cfg := s.gateway.withDefaults()
	c.SetReadLimit(cfg.MaxPacket)
	g := &gatewayConn{s: s, c: c, conn: hw.conn, authorization: r.Header.Get("Authorization"), cfg: cfg,
		rate:    rate.NewLimiter(rate.Limit(cfg.DispatchRate), int(2*cfg.DispatchRate)),
		cursors: map[string]string{}, subs: map[string]*dispatcher{}}
	// The connection goes on in a goroutine of its own, and the request's
	// ends here: what net/http keeps for a request (its buffers, its
	// goroutine's deep stack, the request itself) is let go, which is most
	// of what an idle connection would hold. The request's context ends
	// with it, so the connection's does not derive from it.
	go g.serve(context.Background())
}

// gatewayConn is one client connection.
type gatewayConn struct {
	s     *server
	c     *websocket.Conn
	conn  *heldConn // under c
	p     principal
	cfg   GatewayConfig
	token string // what counts its connections (set once identified)
	// authorization is the upgrade request's Authorization header.
	authorization string
	rate          *rate.Limiter // the client's dispatches

	wg     sync.WaitGroup // the subscriptions
	filter eventstore.TypeFilter

	// writing is held (shared) by a dispatch's write and its cursor, and
	// (alone) by the close, which sets closing: nothing is written after
	// the invalid packet, whose cursors are those of what came before.
	writing sync.RWMutex
	closing atomic.Bool

	mu      sync.Mutex
	cursors map[string]string      // subscription → the cursor after its last dispatch
	subs    map[string]*dispatcher // subscription → its stream's writer
	failed  error                  // the first reason to close
	cancel  context.CancelFunc
}

func (g *gatewayConn) heartbeat() time.Duration { return g.cfg.Heartbeat }

// serve runs the connection until it fails, the client goes, or ctx ends.
func (g *gatewayConn) serve(ctx context.Context) {
	ctx, g.cancel = context.WithCancel(ctx)
	// The connection's end closes the socket, which ends a read: one hook
	// for the connection rather than one per read (a read given ctx).
	stop := context.AfterFunc(ctx, func() { _ = g.c.CloseNow() })
	g.s.clients.open(g)
	g.s.metrics.gatewayOpen(1)
	end := func(err error) {
		g.fail(err)
		g.cancel()
		g.wg.Wait()
		g.s.metrics.gatewayOpen(-1)
		g.s.clients.close(g)
		stop()
	}
	g.send(opHello, map[string]int64{"heartbeat_interval": g.heartbeat().Milliseconds()})
	clientID, stopExpiry, err := g.identify(ctx)
	if err != nil {
		end(err)
		return
	}
	// The reading goes on in a goroutine of its own, started small: an
	// idle connection's stack is what waiting for a packet needs, not what
	// identify needed.
	go func() {
		defer stopExpiry()
		end(g.readLoop(ctx, clientID))
	}()
}

// identify reads identify and starts the subscriptions. stop ends the
// client token's expiry timer.
func (g *gatewayConn) identify(ctx context.Context) (clientID string, stop func() bool, err error) {
	stop = func() bool { return false }
	first, err := g.read(identifyTimeout, "invalid_request")
	if err != nil {
		return "", stop, err
	}
	if first.Op != opIdentify {
		return "", stop, invalid("invalid_request", "the first packet must be identify (op 1)")
	}
	var id identify
	if err := json.Unmarshal(first.D, &id); err != nil || id.ClientID == "" {
		return "", stop, invalid("invalid_request", "identify needs d with client_id (and subscribe, token)")
	}
	if err := g.authenticate(id.Token); err != nil {
		return "", stop, invalid(string(eventstore.ErrorCode(err)), eventstore.ErrorMessage(err))
	}
	who, most := "service:"+g.serviceToken(id.Token), g.cfg.MaxConnections
	switch {
	case g.p.client != nil:
		who = "client:" + g.p.client.Subject
	case g.s.auth.open():
		// No tokens: every connection is the same principal, and the
		// server listens on loopback only, so every client is on this
		// machine. A cap per token would cap the whole server.
		who, most = "open", 0
	}
	if err := g.s.clients.claim(who+"\x00"+id.ClientID, who, most, g); err != nil {
		return "", stop, err
	}
	if len(id.Subscribe) > g.cfg.MaxSubscriptions {
		return "", stop, invalid("invalid_request", fmt.Sprintf("at most %d subscriptions on one connection", g.cfg.MaxSubscriptions))
	}
	if g.filter, err = eventstore.ParseTypeFilter(id.T); err != nil {
		return "", stop, invalid("invalid_request", eventstore.ErrorMessage(err))
	}
	ready := make(chan struct{})
	defer func() {
		select {
		case <-ready:
		default: // refused: the started subscriptions end, unsent
			g.unsubscribeAll()
			close(ready)
		}
	}()
	for _, sub := range id.Subscribe {
		if err := g.subscribe(ctx, sub, ready); err != nil {
			var f *gatewayFailure
			if errors.As(err, &f) {
				return "", stop, err
			}
			return "", stop, invalid(string(eventstore.ErrorCode(err)), eventstore.ErrorMessage(err))
		}
	}
	g.send(opReady, map[string]string{"client_id": id.ClientID, "session_id": sessionID()})
	close(ready)
	if g.p.client != nil {
		expiry := time.AfterFunc(time.Until(g.p.client.ExpiresAt.Time), func() {
			g.fail(invalid("token_expired", "the client token has expired; connect again with a fresh one"))
		})
		stop = expiry.Stop
	}
	return id.ClientID, stop, nil
}

// readLoop reads the client's packets until the connection ends.
func (g *gatewayConn) readLoop(ctx context.Context, clientID string) error {
	for {
		p, err := g.read(2*g.heartbeat(), "heartbeat_timeout")
		if err != nil {
			return err
		}
		switch p.Op {
		case opHeartbeat:
			g.send(opHeartbeatAck, map[string]string{"client_id": clientID})
		case opDispatch:
			if !g.rate.Allow() {
				g.sendError(nonceOf(p), eventstore.Errorf(eventstore.ERATELIMITED, "more than %g dispatches a second; slow down", g.cfg.DispatchRate))
				continue
			}
			g.dispatch(ctx, p)
		default:
			g.sendError("", eventstore.Errorf(eventstore.EINVALID, "op %d is not one a client sends after identify", p.Op))
		}
	}
}

// read reads one packet within timeout, else fails the connection with
// code. (Not by Read's context: the library closes a connection whose read
// is cancelled, and the client is owed an invalid packet first; so a timer
// fails the connection.)
func (g *gatewayConn) read(timeout time.Duration, code string) (packet, error) {
	timer := time.AfterFunc(timeout, func() { g.fail(invalid(code, "nothing from the client within "+timeout.String())) })
	defer timer.Stop()
	typ, raw, err := g.c.Read(context.Background()) // ended by the connection's end, which closes it
	switch {
	case err != nil:
		return packet{}, err
	case typ != websocket.MessageText:
		return packet{}, invalid("invalid_request", "packets are JSON text frames")
	}
	var p packet
	if err := json.Unmarshal(raw, &p); err != nil {
		p.Op = -1 // answered as a bad packet by the caller
	}
	g.s.metrics.gatewayPackets("in", p.Op, 1)
	return p, nil
}

// authenticate takes the token from identify, or else from the upgrade's
// Authorization header.
func (g *gatewayConn) authenticate(token string) error {
	h := g.authorization
	if token != "" {
		h = "Bearer " + token
	}
	p, err := g.s.auth.principalOfHeader(h)
	g.p = p
	return err
}

// dispatch runs a client's append, update or delete and answers it.
func (g *gatewayConn) dispatch(ctx context.Context, p packet) {
	var d struct {
		Nonce string `json:"nonce"`
		Ct    string `json:"ct"`
		Cid   string `json:"cid"`
		ID    string `json:"id"`
		From  string `json:"from"`
		appendRequest
		updateRequest
	}
	if err := json.Unmarshal(p.D, &d); err != nil {
		g.sendError("", eventstore.Errorf(eventstore.EINVALID, "dispatch d: %v", err))
		return
	}
	if err := eventstore.ValidateContext(d.Ct, d.Cid); err != nil {
		g.sendError(d.Nonce, err)
		return
	}
	switch p.T {
	case "subscribe":
		acked := make(chan struct{})
		defer close(acked)
		if err := g.subscribe(ctx, subscription{Ct: d.Ct, Cid: d.Cid, From: d.From}, acked); err != nil {
			var f *gatewayFailure
			if errors.As(err, &f) { // forbidden: an error answer here, the connection stays
				err = eventstore.Errorf(eventstore.Code(f.code), "%s", f.reason)
			}
			g.sendError(d.Nonce, err)
			return
		}
		g.send(opAck, map[string]any{"nonce": d.Nonce})
		return
	case "unsubscribe":
		if !g.unsubscribe(d.Ct + "/" + d.Cid) {
			g.sendError(d.Nonce, eventstore.Errorf(eventstore.ENOTFOUND, "not subscribed to %s/%s", d.Ct, d.Cid))
			return
		}
		g.send(opAck, map[string]any{"nonce": d.Nonce})
		return
	}
	if !g.p.mayWrite(d.Ct, d.Cid) {
		g.sendError(d.Nonce, eventstore.Errorf(eventstore.EFORBIDDEN, "the token does not let you write to %s/%s", d.Ct, d.Cid))
		return
	}
	var e *eventstore.Event
	var err error
	switch p.T {
	case "append":
		e, _, err = appendEvent(ctx, g.s.store, d.Ct, d.Cid, d.appendRequest)
	case "delete":
		e, err = g.s.store.Delete(ctx, d.Ct, d.Cid, d.ID)
	case "update":
		var ed edits.Edit
		if ed, err = editOf(d.updateRequest); err == nil {
			e, err = g.s.store.Update(ctx, d.Ct, d.Cid, d.ID, ed)
		}
	default:
		err = eventstore.Errorf(eventstore.EINVALID, "dispatch t %q: want append, update, delete, subscribe or unsubscribe", p.T)
	}
	if err != nil {
		g.sendError(d.Nonce, err)
		return
	}
	event, _ := json.Marshal(e)
	g.s.metrics.gatewayAnswer("ack")
	g.send(opAck, map[string]any{"nonce": d.Nonce, "event": json.RawMessage(event)})
}

func (g *gatewayConn) sendError(nonce string, err error) {
	code := eventstore.ErrorCode(err)
	g.s.metrics.gatewayAnswer(string(code))
	g.send(opError, map[string]any{"nonce": nonce, "code": string(code), "status": httperr.Status(code),
		"detail": eventstore.ErrorMessage(err)})
}

// send writes a packet; a connection that cannot take it is ended.
func (g *gatewayConn) send(op int, d any) {
	raw, _ := json.Marshal(d)
	frame, _ := json.Marshal(packet{Op: op, D: raw, TS: time.Now().UnixMilli()})
	g.conn.hold()
	err := g.c.Write(context.Background(), websocket.MessageText, frame) // bounded by the socket's write deadline
	if rerr := g.conn.release(); err == nil {
		err = rerr
	}
	if err != nil {
		g.cancel()
		return
	}
	g.s.metrics.gatewayPackets("out", op, 1)
}

// fail closes the connection for err (the first reason wins): an invalid
// packet with its code, then a close frame.
func (g *gatewayConn) fail(err error) {
	if err == nil {
		return
	}
	g.writing.Lock()
	g.mu.Lock()
	if g.failed != nil {
		g.mu.Unlock()
		g.writing.Unlock()
		return
	}
	g.failed = err
	cursors := maps.Clone(g.cursors)
	g.mu.Unlock()
	g.s.clients.forget(g)
	g.closing.Store(true)
	g.conn.unhold() // what is gathered goes out, and the close after it, not held behind a stream
	defer g.cancel()
	var f *gatewayFailure
	var ee *eventstore.Error
	if !errors.As(err, &f) && errors.As(err, &ee) { // refused by the store: say why
		f = &gatewayFailure{code: string(ee.Code), reason: ee.Message}
	}
	if f != nil {
		g.s.metrics.gatewayClosed(f.code)
		d := map[string]any{"code": f.code, "reason": f.reason}
		if f.code == "slow_consumer" {
			d["cursors"] = cursors
		}
		raw, _ := json.Marshal(d)
		ctx, cancel := context.WithTimeout(context.Background(), gatewayWriteTimeout)
		msg, _ := json.Marshal(packet{Op: opInvalid, D: raw, TS: time.Now().UnixMilli()})
		_ = g.c.Write(ctx, websocket.MessageText, msg)
		cancel()
		g.writing.Unlock()
		_ = g.c.Close(websocket.StatusPolicyViolation, f.code)
		return
	}
	g.writing.Unlock()
}

// goAway closes the connection because the server is shutting down.
func (g *gatewayConn) goAway() {
	g.writing.Lock()
	g.mu.Lock()
	if g.failed != nil {
		g.mu.Unlock()
		g.writing.Unlock()
		return
	}
	g.failed = errors.New("shutting down")
	g.mu.Unlock()
	g.closing.Store(true)
	g.conn.unhold()
	g.writing.Unlock()
	g.s.metrics.gatewayClosed("going_away")
	_ = g.c.Close(websocket.StatusGoingAway, "the server is shutting down")
	g.cancel()
}

// nonceOf is the nonce of a dispatch, if it has one.
func nonceOf(p packet) string {
	var d struct {
		Nonce string `json:"nonce"`
	}
	_ = json.Unmarshal(p.D, &d)
	return d.Nonce
}

// serviceToken names the service token a connection used (a digest, not
// the secret), for counting its connections.
func (g *gatewayConn) serviceToken(token string) string {
	if token == "" {
		_, token, _ = strings.Cut(g.authorization, " ")
	}
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

func sessionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
