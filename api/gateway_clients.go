package api

import (
	"fmt"
	"sync"
)

// DefaultGateway is the gateway's configuration where GatewayConfig has zeros.
var DefaultGateway = GatewayConfig{Heartbeat: defaultHeartbeat, MaxPacket: 1 << 20, MaxSubscriptions: 100,
	MaxConnections: 100, DispatchRate: 20}

// withDefaults fills in the zero fields.
func (c GatewayConfig) withDefaults() GatewayConfig {
	d := DefaultGateway
	if c.Heartbeat > 0 {
		d.Heartbeat = c.Heartbeat
	}
	if c.MaxPacket > 0 {
		d.MaxPacket = c.MaxPacket
	}
	if c.MaxSubscriptions > 0 {
		d.MaxSubscriptions = c.MaxSubscriptions
	}
	if c.MaxConnections > 0 {
		d.MaxConnections = c.MaxConnections
	}
	if c.DispatchRate > 0 {
		d.DispatchRate = c.DispatchRate
	}
	d.Closing, d.Closed = c.Closing, c.Closed
	return d
}

// gatewayClients are the identified connections, by who they are and
// their client_id: a second connection of a healthy one is refused.
type gatewayClients struct {
	mu      sync.Mutex
	conns   map[string]*gatewayConn
	all     map[*gatewayConn]bool
	byToken map[string]int // identified connections per token
	closing bool           // the server shuts down
}

func newGatewayClients(closing <-chan struct{}, closed func()) *gatewayClients {
	cs := &gatewayClients{conns: map[string]*gatewayConn{}, all: map[*gatewayConn]bool{}, byToken: map[string]int{}}
	if closing != nil {
		go func() {
			<-closing
			cs.mu.Lock()
			cs.closing = true
			conns := make([]*gatewayConn, 0, len(cs.all))
			for g := range cs.all {
				conns = append(conns, g)
			}
			cs.mu.Unlock()
			var wg sync.WaitGroup
			for _, g := range conns {
				wg.Go(g.goAway) // each waits for its client's close frame (5 s at most)
			}
			wg.Wait()
			if closed != nil {
				closed()
			}
		}()
	}
	return cs
}

// open and close track every connection, for the shutdown.
func (cs *gatewayClients) open(g *gatewayConn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.all[g] = true
	if cs.closing { // upgraded as the server shuts down
		go g.goAway()
	}
}

func (cs *gatewayClients) close(g *gatewayConn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.all, g)
	if g.token != "" {
		if cs.byToken[g.token]--; cs.byToken[g.token] <= 0 {
			delete(cs.byToken, g.token)
		}
	}
	cs.forgetLocked(g)
}

// forget frees g's client_id as soon as the server has decided to close g:
// a client told slow_consumer, say, may resume on a new connection before
// the old one's close handshake ends.
func (cs *gatewayClients) forget(g *gatewayConn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.forgetLocked(g)
}

func (cs *gatewayClients) forgetLocked(g *gatewayConn) {
	for k, c := range cs.conns {
		if c == g {
			delete(cs.conns, k)
		}
	}
}

// claim registers g as client key of token, unless a connection has the
// key or the token has max connections already.
func (cs *gatewayClients) claim(key, token string, max int, g *gatewayConn) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if other := cs.conns[key]; other != nil && other != g {
		return invalid("duplicate_client", "another connection is open with this client_id")
	}
	if max > 0 && cs.byToken[token] >= max {
		return invalid("rate_limited", fmt.Sprintf("this token has %d connections open, the most it may", max))
	}
	cs.conns[key] = g
	cs.byToken[token]++
	g.token = token
	return nil
}
